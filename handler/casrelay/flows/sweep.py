"""The sweep: finish, on a timer, what nobody re-sends.

An order's own invocation finishes almost everything. What it cannot finish waits in the ledger as
an *open* record, and a timer trigger's invocation (any timer event) works through them:

- an ``ordered`` record whose sinks have not all confirmed: pushed again, same message id;
- a ``failed`` record whose refusal some sink lacks: pushed again;
- an ``unknown`` record, or a claim whose attempt mark lapsed (the function died after the paid call
  may have left): reconciled against CAS's order list. The order CAS lists is adopted and delivered;
  a search that proves none was placed turns the record into a ``CasNotOrdered`` refusal (pushed, so
  downstream knows; the next arrival of the order places it); after ``SWEEP_MAX_TRIES`` sweeps that
  could not tell, the record is parked, ``certificate.order.unknown`` goes out once, and
  ``ledger_admin list`` shows it to an operator;
- a claim that lapsed before its paid call left: given back, nothing was ordered;
- records past their retention: purged (this used to run inline on an order's claim);
- placed orders whose next poll is due: followed (``casrelay.follow``), after the open records, which are
  the money's business and come first.

A record is looked at only when its last write is older than ``SWEEP_MIN_AGE_SECONDS``, so the sweep
never races an invocation still working on it; and each record is taken with a conditional write
first, so two sweeps running at once (several instances on one Redis) never work on the same record.
Every CAS call goes through the same gateway and pacer as the orders. The sweep stops before the
invocation's time runs out; what it did not reach is the oldest work of the next sweep.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

from .. import log
from ..cas.credentials import Credentials
from ..cas.credentials import resolve as resolve_credentials
from ..errors import not_ordered
from ..ledger import CLAIMED, FAILED, ORDERED, UNKNOWN, Ledger, LedgerConfig, LedgerRecord, guard
from ..response import stored_error
from .delivery import Delivery
from .reconcile import ABSENT, Reconciler

#: Records read per sweep; the rest wait for the next one, oldest first.
SWEEP_BATCH = 500
PURGE_BATCH = 2000
#: Time kept back at the end of the invocation for the summary and the purge.
RESERVE_SECONDS = 2.0


class FollowStep(Protocol):
    """The lifecycle follower, as the sweep sees it (``casrelay.follow.base.Follower``)."""

    def run(self, creds: Credentials | None, stop_at: float) -> dict[str, int]: ...


def remaining_seconds(context: Any, default: float = 60.0) -> float:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        try:
            return float(remaining()) / 1000
        except (TypeError, ValueError):
            pass
    timeout = getattr(getattr(context, "function", None), "timeout", None)
    if isinstance(timeout, int | float) and not isinstance(timeout, bool) and timeout > 0:
        return float(timeout)
    return default


class Sweeper:
    def __init__(self, ledger: Ledger, config: LedgerConfig, delivery: Delivery, reconciler: Reconciler,
                 cas_read_timeout_ms: int, clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic, follower: FollowStep | None = None) -> None:
        self.follower = follower
        self.ledger = ledger
        self.config = config
        self.delivery = delivery
        self.reconciler = reconciler
        self.cas_read_timeout_ms = cas_read_timeout_ms
        self._clock = clock
        self._monotonic = monotonic

    def _reserve(self) -> float:
        # One CAS call may take up to its read timeout; never start one that the invocation cannot finish.
        return RESERVE_SECONDS + self.cas_read_timeout_ms / 1000

    def run(self, context: Any, trigger: str = "timer") -> dict[str, Any]:
        started = self._monotonic()
        deadline = started + remaining_seconds(context) - self._reserve()
        creds = resolve_credentials(context)
        counts: Counter[str] = Counter()
        stopped_early = False
        opened, error = guard.observe(lambda: self.ledger.open_records(self.config.sweep_min_age_seconds, SWEEP_BATCH))
        records, damaged = opened or ([], [])
        for key in damaged:
            log.emit("ledger.damaged", logging.ERROR, key=key)
        counts["damaged"] = len(damaged)
        for record in records:
            if self._monotonic() >= deadline:
                stopped_early = True
                break
            counts[self._sweep_counted(record, creds, lease_seconds=max(1.0, deadline - self._monotonic()))] += 1
        followed: dict[str, int] = {}
        if self.follower is not None and not stopped_early:
            try:
                followed = self.follower.run(creds, deadline)
            except Exception as exc:  # a timer answers, whatever breaks: the orders' work above is done
                log.emit("internal.error", logging.ERROR, where=type(exc).__name__, step="follow")
                followed = {"error": 1}
        remaining = -1
        if error is None and self._monotonic() < deadline + self._reserve() / 2:
            purged, error = guard.observe(lambda: self.ledger.purge_expired(PURGE_BATCH))
            if purged is not None:
                counts["purged"] = purged
                _compacted, error = guard.observe(self.ledger.compact)  # off the order path: see the store
                left, error = guard.observe(lambda: self.ledger.open_records(self.config.sweep_min_age_seconds,
                                                                              SWEEP_BATCH)[0])
                remaining = -1 if left is None else len(left)
        summary: dict[str, Any] = {
            "Trigger": trigger,
            "Seen": len(records),
            "Counts": {k: v for k, v in sorted(counts.items()) if v},
            "Remaining": remaining,
            "StoppedEarly": stopped_early,
            "Followed": followed,
            "Seconds": round(self._monotonic() - started, 3),
        }
        if error is not None:
            summary["Error"] = f"the ledger is unavailable ({error})"
        log.emit("sweep.summary", logging.WARNING if error else logging.INFO, trigger=trigger, seen=len(records),
                 counts=summary["Counts"], followed=followed, remaining=remaining, stopped_early=stopped_early,
                 error=error,
                 latency_ms=round((self._monotonic() - started) * 1000, 1))
        return summary

    def _sweep_counted(self, record: LedgerRecord, creds: Credentials | None, lease_seconds: float) -> str:
        """``sweep_one``, with a store failure or a bug on one record counted instead of stopping the others."""
        try:
            outcome, failed = guard.observe(lambda: self.sweep_one(record, creds, lease_seconds))
        except Exception as exc:
            log.emit("internal.error", logging.ERROR, key=record.key, where=type(exc).__name__)
            return "error"
        if failed is not None:
            log.emit("sweep.ledger_failed", logging.WARNING, key=record.key, reason=failed)
            return "ledger_error"
        return outcome or "error"

    def sweep_one(self, record: LedgerRecord, creds: Credentials | None, lease_seconds: float = 60.0) -> str:
        """Finish one open record as far as possible; return what happened (a summary count's name)."""
        if record.state == CLAIMED and not record.claim_lapsed(self._clock()):
            return "in_progress"
        taken = self.ledger.take_for_sweep(record, lease_seconds)
        if taken is None:
            return "skipped"  # another sweep holds it, or an arrival of the order moved it first
        try:
            return self._finish(taken, creds)
        finally:
            self.ledger.end_sweep(taken)

    def _finish(self, record: LedgerRecord, creds: Credentials | None) -> str:
        if record.state == CLAIMED:
            if record.attempted_at is None:
                self.ledger.release(record)  # died before the paid call left: nothing was ordered
                return "released"
            record = self.ledger.lapse(record)
        if record.state == ORDERED:
            return "delivered" if not self.delivery.deliver(record, duplicate=True).pending_sinks else "pending"
        if record.state == FAILED:
            return "failure_delivered" if not self.delivery.push_failed(record)[1] else "pending"
        if record.state != UNKNOWN:
            return "settled"  # nothing left to do (another writer finished it, or it was never open)
        if record.parked_at is not None:
            return "parked" if not self.delivery.push_unknown(record)[1] else "pending"
        return self._reconcile(record, creds)

    def reconcile_now(self, record: LedgerRecord, creds: Credentials | None) -> str:
        """The operator's ``ledger_admin reconcile``: the sweep's own flow, parked records included."""
        if record.state == UNKNOWN and record.parked_at is not None:
            taken = self.ledger.take_for_sweep(record, 60.0)
            if taken is None:
                return "skipped"
            try:
                return self._reconcile(taken, creds)
            finally:
                self.ledger.end_sweep(taken)  # as sweep_one does: the lease must not outlive this try
        return self.sweep_one(record, creds)

    def _reconcile(self, record: LedgerRecord, creds: Credentials | None) -> str:
        result = self.reconciler.run(record, creds)
        if result.adopted:
            self.delivery.deliver(result.record, duplicate=True)
            return "adopted"
        if result.verdict == ABSENT:
            waited = self._clock() - (record.attempted_at or record.created_at)
            refused = self.ledger.failed(result.record, stored_error(not_ordered(waited)),
                                         note="reconciliation found no order: nothing was spent")
            self.delivery.push_failed(refused)
            return "not_ordered"
        if record.parked_at is not None:
            return "still_parked"
        if result.record.sweeps >= self.config.sweep_max_tries:
            parked = self.ledger.park(result.record)
            log.emit("sweep.parked", logging.ERROR, key=record.key, sweeps=parked.sweeps, reason=result.reason,
                     domains=record.order.get("domains"))
            self.delivery.push_unknown(parked)
            return "parked"
        return "unresolved"
