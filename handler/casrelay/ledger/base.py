"""The ledger: every state change of an idempotency key, each one a conditional write.

The order of writes is what keeps money safe:

1. ``claim``        before anything else; only one caller can own a key.
2. ``attempting``   just before the paid call leaves; a lapsed claim without it is safe to take over.
                    When nothing runs between the claim and the paid call (no quota pre-check), the
                    claim carries the mark itself: one durable write fewer per order.
3. ``ordered``      the OrderId is saved before any push, so a failing sink can never lose it.
4. ``delivered``    per sink, after each confirms.

A record in ``unknown`` (or a lapsed claim whose call had left) is never ordered again blindly:
reconciliation adopts the order CAS lists, or proves that none was placed, or an operator resolves
the key. The sweep (``casrelay.sweep``) finds such records through ``open_records`` and finishes them.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from .config import LedgerConfig
from .exceptions import LedgerError, LostRace, StoreUnavailable
from .persistence.base import LedgerStore
from .record import CLAIMED, DELIVERED, FAILED, ORDERED, UNKNOWN, LedgerRecord

_MAX_RACES = 8


def _first_version() -> int:
    """Where a new record's versions start: at random, never at 1. A key that was given back (deleted) and
    claimed again must not repeat the versions its old record had, or a writer still holding the old record
    could pass a conditional write on the new one (an ABA race: a stale delete or take-over of a live claim).
    Versions grow by one per write, so a collision needs two starts within a few writes of 2**52."""
    return secrets.randbits(52) + 1


@dataclass(frozen=True)
class Claim:
    record: LedgerRecord
    #: True when this caller owns the key and is the one to call CAS.
    owned: bool
    #: True when the payload differs from the one stored under the key.
    conflict: bool = False


class Ledger:
    def __init__(self, store: LedgerStore, config: LedgerConfig, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.config = config
        self._clock = clock

    # --- reading -----------------------------------------------------------------------------

    def get(self, key: str) -> LedgerRecord | None:
        return self.store.get(key)

    def now(self) -> float:
        return self._clock()

    def owner_of(self, order_id: int) -> str | None:
        return self.store.find_by_order_id(order_id)

    # --- the claim ---------------------------------------------------------------------------

    def claim(self, key: str, payload_hash: str, order: Mapping[str, Any], source: Mapping[str, Any],
              claim_seconds: float, attempt: bool = False) -> Claim:
        """Own ``key``, or learn who does. With ``attempt`` the claim is also the attempt mark (the paid call
        follows with nothing in between that could prove it did not leave), which saves the order path one
        durable write; a claim taken with ``attempt`` that lapses is reconciled, never simply taken over."""
        for _ in range(_MAX_RACES):
            now = self._clock()
            fresh = LedgerRecord(
                key=key, payload_hash=payload_hash, state=CLAIMED, version=_first_version(), created_at=now,
                updated_at=now, claim_token=uuid.uuid4().hex, claim_expires_at=now + claim_seconds,
                attempted_at=now if attempt else None, order=dict(order), source=dict(source),
            )
            # A new key is the common case: insert first, and read only when the key turns out to be taken.
            if self.store.create(fresh):
                return Claim(fresh, owned=True)
            current = self.store.get(key)
            if current is None:
                continue  # deleted between the insert and the read: try the insert again
            if current.expired(now):
                renewed = replace(fresh, version=current.version + 1)
                if self.store.replace(renewed, current.version):
                    return Claim(renewed, owned=True)
                continue
            if current.payload_hash != payload_hash:
                return Claim(current, owned=False, conflict=True)
            if current.claim_lapsed(now):
                if current.attempted_at is None:
                    # The owner died before the paid call left: nothing was ordered, take the key over.
                    taken = current.evolve(claim_token=uuid.uuid4().hex, claim_expires_at=now + claim_seconds,
                                           updated_at=now, source=dict(source),
                                           attempted_at=now if attempt else None)
                    if self.store.replace(taken, current.version):
                        return Claim(taken, owned=True)
                    continue
                # The owner died after the call left: the order may exist.
                lapsed = self._lapsed(current, now)
                if self.store.replace(lapsed, current.version):
                    return Claim(lapsed, owned=False)
                continue
            return Claim(current, owned=False)
        raise StoreUnavailable("the ledger record kept changing under concurrent writers")

    @staticmethod
    def _lapsed(current: LedgerRecord, now: float) -> LedgerRecord:
        return current.evolve(state=UNKNOWN, claim_token=None, claim_expires_at=None, updated_at=now,
                              expires_at=None, note="the claim lapsed after the CAS call was sent",
                              deliveries={}, settled=False, call_ended_at=current.claim_expires_at or now)

    # --- transitions of an owned claim ---------------------------------------------------------

    def _write(self, record: LedgerRecord, **changes: Any) -> LedgerRecord:
        successor = record.evolve(updated_at=self._clock(), **changes)
        if not self.store.replace(successor, record.version):
            raise LostRace(record.key)
        return successor

    def attempting(self, record: LedgerRecord) -> LedgerRecord:
        return self._write(record, attempted_at=self._clock())

    def release(self, record: LedgerRecord) -> None:
        """Forget an owned claim: CAS certainly did not act, so a later arrival may order."""
        self.store.delete(record.key, record.version)

    def ordered(self, record: LedgerRecord, order_id: int | None, cas_request_id: str,
                note: str | None = None, instance_id: str | None = None,
                certificate_id: int | None = None) -> LedgerRecord:
        """Save the OrderId (V1.0), or the applied instance (V2.0: ``instance_id``, ``order_id`` None).
        Retried over races, because this write must not be lost."""
        for _ in range(_MAX_RACES):
            try:
                return self._write(
                    record, state=ORDERED, order_id=order_id, cas_request_id=cas_request_id, claim_token=None,
                    instance_id=instance_id or record.instance_id, certificate_id=certificate_id,
                    claim_expires_at=None, error=None, deliveries={}, settled=False, parked_at=None, note=note,
                    expires_at=None,  # kept until every sink has it (``delivered``)
                    **self._follow_from_now(),
                )
            except LostRace:
                latest = self.store.get(record.key)
                if latest is None:
                    raise StoreUnavailable(f"ledger record {record.key} vanished while saving its OrderId") from None
                if latest.order_id is not None or latest.placed:
                    return latest
                record = latest
        raise StoreUnavailable(f"could not save the OrderId for {record.key}")

    def _follow_from_now(self) -> dict[str, Any]:
        """The follower's start, written with the OrderId in the same write (no write of its own on the order
        path): the order is first polled one backoff step after it was placed."""
        if not self.config.follow_backoff:
            return {}
        now = self._clock()
        return {"follow": {"phase": "waiting", "since": now, "polls": 0},
                "next_poll_at": now + self.config.follow_wait(0)}

    def failed(self, record: LedgerRecord, error: Mapping[str, Any], note: str | None = None) -> LedgerRecord:
        return self._write(record, state=FAILED, error=dict(error), claim_token=None, claim_expires_at=None,
                           deliveries={}, settled=False, parked_at=None, note=note, expires_at=None)

    def unknown(self, record: LedgerRecord, error: Mapping[str, Any], note: str) -> LedgerRecord:
        return self._write(record, state=UNKNOWN, error=dict(error), claim_token=None, claim_expires_at=None,
                           deliveries={}, settled=False, expires_at=None, note=note, call_ended_at=self._clock())

    def delivered(self, record: LedgerRecord, sinks: Iterable[str], all_sinks: Iterable[str]) -> LedgerRecord:
        """Record confirmed sinks, merging with writers that confirmed others meanwhile, but only into the
        same outcome: a confirmation of one message never counts for another (a later order, a refusal).
        Once every sink has the current message the record is settled (an ``ordered`` one becomes
        ``delivered``), and only then does its retention start: an unsettled record never expires."""
        confirmed = list(sinks)
        everything = set(all_sinks)
        outcome = record.outcome
        for _ in range(_MAX_RACES):
            now = self._clock()
            deliveries = dict(record.deliveries)
            for name in confirmed:
                deliveries.setdefault(name, now)
            settled = everything <= set(deliveries)
            state = DELIVERED if record.state == ORDERED and settled else record.state
            if deliveries == record.deliveries and state == record.state and settled == record.settled:
                return record
            # Retention runs only while every sink has the current message; a sink added since (or one that
            # lost it) stops the clock again, so the record cannot expire before that sink has it.
            # An order still followed keeps no retention either: the follower clears ``next_poll_at`` and starts it.
            expires_at = (now + self.config.retention_seconds
                          if settled and record.state != UNKNOWN and not record.following else None)
            try:
                return self._write(record, deliveries=deliveries, state=state, settled=settled,
                                   expires_at=expires_at)
            except LostRace:
                latest = self.store.get(record.key)
                if latest is None or latest.outcome != outcome:
                    return latest or record  # another outcome now: these sinks confirmed a message it does not hold
                record = latest
        raise StoreUnavailable(f"could not record deliveries for {record.key}")

    # --- operator actions ---------------------------------------------------------------------

    def resolve(self, key: str, order_id: int | None, note: str) -> LedgerRecord | None:
        """Settle an ``unknown`` (or ``failed``) key: adopt ``order_id``, or, with ``None``, forget the key
        so that the next arrival orders again."""
        record = self.store.get(key)
        if record is None:
            return None
        if order_id is None:
            self.store.delete(key, record.version)
            return None
        return self.ordered(record, order_id, record.cas_request_id or "", note=note)

    # --- the sweep ---------------------------------------------------------------------------

    def open_records(self, min_age_seconds: float, limit: int) -> tuple[list[LedgerRecord], list[str]]:
        """Open records not written for ``min_age_seconds``, oldest first, and damaged keys met on the way."""
        return self.store.scan_open(self._clock() - min_age_seconds, limit)

    def take_for_sweep(self, record: LedgerRecord, lease_seconds: float) -> LedgerRecord | None:
        """Lease ``record`` to this sweep for ``lease_seconds`` and count one more sweep on it, with a
        conditional write; ``None`` when another sweep holds it, or another writer (a second sweep, a
        redelivery) moved it first. The lease keeps a second sweep off a record the first one is still on."""
        now = self._clock()
        if record.swept_until is not None and record.swept_until > now:
            return None
        try:
            return self._write(record, sweeps=record.sweeps + 1, swept_until=now + lease_seconds)
        except LostRace:
            return None

    def end_sweep(self, taken: LedgerRecord) -> None:
        """Give up the lease ``take_for_sweep`` took, if the record still carries it (best effort: a lease
        left behind only runs out)."""
        try:
            latest = self.store.get(taken.key)
            if latest is not None and latest.swept_until == taken.swept_until and latest.swept_until is not None:
                self.store.replace(latest.evolve(swept_until=None), latest.version)
        except LedgerError:
            pass

    def lapse(self, record: LedgerRecord) -> LedgerRecord:
        """A lapsed claim whose call had left becomes ``unknown`` (the sweep's side of ``claim``)."""
        successor = self._lapsed(record, self._clock())
        if not self.store.replace(successor, record.version):
            raise LostRace(record.key)
        return successor

    def park(self, record: LedgerRecord) -> LedgerRecord:
        """Stop reconciling ``record``: it waits for an operator, and its unknown message goes out once."""
        return self._write(record, parked_at=self._clock(), deliveries={}, settled=False)

    def rivals(self, record: LedgerRecord) -> list[LedgerRecord]:
        """Other keys for the same names and product whose paid call may be out or unaccounted for (an attempt
        marked, no OrderId recorded): an order CAS lists may be theirs as much as ``record``'s. All of them,
        from the store's index: a bounded scan of the open records would miss the newest behind a backlog."""
        return [r for r in self.store.calls_out(record.names_key) if r.key != record.key and r.call_out]

    def purge_expired(self, limit: int) -> int:
        return self.store.purge_expired(self._clock(), limit)

    def compact(self) -> None:
        self.store.compact()

    def needs_person(self, undelivered_after: float | None = None) -> list[LedgerRecord]:
        """What the operator command lists: outcomes nobody could settle (unknown, parked or not), refusals,
        claims that lapsed, orders the follower gave up on, and (with ``undelivered_after``) orders whose
        delivery has been pending longer."""
        now = self._clock()

        def wanted(r: LedgerRecord) -> bool:
            if (r.follow or {}).get("abandoned") is True:
                return True  # the follower gave up on it: its certificate's fate is a person's to check
            if r.state == CLAIMED:
                return r.claim_lapsed(now)
            if r.state == ORDERED:
                return undelivered_after is not None and r.updated_at <= now - undelivered_after
            return r.state != DELIVERED

        return [r for r in self.store.scan([CLAIMED, ORDERED, DELIVERED, FAILED, UNKNOWN]) if wanted(r)]

    def pending(self) -> list[LedgerRecord]:
        return self.needs_person()


__all__ = ["CLAIMED", "DELIVERED", "FAILED", "ORDERED", "UNKNOWN", "Claim", "Ledger"]
