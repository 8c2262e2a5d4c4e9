"""The follower's side of the ledger: which placed orders are due for a poll, and its writes.

The lifecycle follower (``casrelay.follow``) keeps its schedule and what it learnt in the order's own record
(``next_poll_at``, ``follow``), so it needs no store of its own and a record never outlives its order. Its
writes are conditional like every other, but they leave ``updated_at`` alone: they are not the order's news,
and ``updated_at`` is what the sweep's work list and its minimum age read (a follower writing at every sweep
would otherwise keep the sweep from re-pushing a created message a sink still lacks). The first poll is
scheduled by ``Ledger.ordered``, in the write that saves the OrderId.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import Ledger
from .exceptions import LostRace
from .record import DELIVERED, ORDERED, UNKNOWN, LedgerRecord


class FollowSchedule:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def due(self, limit: int) -> tuple[list[LedgerRecord], list[str]]:
        """Placed orders whose next poll is due, soonest first, and damaged keys met on the way."""
        return self.ledger.store.due_follow(self.ledger.now(), limit)

    def _write_aside(self, record: LedgerRecord, **changes: Any) -> LedgerRecord:
        successor = record.evolve(**changes)
        if not self.ledger.store.replace(successor, record.version):
            raise LostRace(record.key)
        return successor

    def take(self, record: LedgerRecord, lease_seconds: float) -> LedgerRecord | None:
        """Move ``record``'s next poll ``lease_seconds`` on before polling it, with a conditional write: a second
        sweep does not see it as due meanwhile, and if this one dies, the order is polled again after the lease.
        The write also counts the poll as unfinished until ``save`` saves it, so a record on which every poll
        dies half-way is noticed. ``None`` when another writer moved the record first (looked at when next due)."""
        follow = dict(record.follow or {})
        unfinished = follow.get("unfinished")
        follow["unfinished"] = (unfinished if isinstance(unfinished, int) else 0) + 1
        try:
            return self._write_aside(record, next_poll_at=self.ledger.now() + lease_seconds, follow=follow)
        except LostRace:
            return None

    def save(self, record: LedgerRecord, follow: Mapping[str, Any], next_poll_at: float | None,
             keep: bool = False) -> LedgerRecord:
        """Save what the follower learnt and when to poll next; ``None`` ends the following, and a record whose
        created message every sink has then starts its retention, unless ``keep`` (the follower gave up on it:
        it stays for an operator, as a parked record does). Raises ``LostRace``."""
        changes: dict[str, Any] = {"follow": dict(follow), "next_poll_at": next_poll_at}
        if next_poll_at is None and record.settled and record.state != UNKNOWN and not keep:
            changes["expires_at"] = self.ledger.now() + self.ledger.config.retention_seconds
        return self._write_aside(record, **changes)

    def waiting_on_validation(self) -> list[LedgerRecord]:
        """Placed orders the follower last saw waiting for their domain validation (the operator's ``waiting``):
        a record CAS asked for and nobody has published yet is the one thing between them and a certificate."""
        return [r for r in self.ledger.store.scan([ORDERED, DELIVERED])
                if r.following and (r.follow or {}).get("phase") == "validation"]
