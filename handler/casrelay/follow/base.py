"""The lifecycle follower: on the sweep, poll each placed order until its certificate is issued or it failed.

After the paid call the order's life is the CA's: CAS asks for a domain validation, reviews, and issues or
fails the order (DV fails by itself two days after it was placed, OV/EV after thirty). Every downstream
consumer used to write that polling loop itself, against the same 10 QPS that casrelay paces; the follower
does it once, on the sweep's timer, through the same client and pacer as the orders, and:

- announces each new phase once, to every sink, under a stable message id (``follow.messages``):
  ``certificate.validation.required`` with the record or file CAS needs, ``certificate.issued`` with the
  certificate's public data, ``certificate.order.failed`` when the CA failed the order or its deadline passed;
- with ``DNS_AUTOVALIDATE`` creates the DNS record a validation needs (found before added, so never twice),
  and removes it once the order is final;
- with ``DELETE_FAILED_ORDERS`` deletes a failed V1.0 order (DeleteCertificateRequest), which gives its quota
  back, and says so in the failure message.

The ledger is the schedule: ``next_poll_at`` (set with the OrderId, in the same write) names the orders due,
and each poll takes its order with a conditional write that moves the next poll on, so two sweeps never poll
one order at once and a poll that dies is retried after the lease. Nothing here ever changes an order's
state, OrderId or deliveries: the follower only reads CAS, and a failure of any part of it costs a later poll,
never an order or a message.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict
from functools import partial

from .. import log
from ..cas.credentials import Credentials
from ..errors import RelayError
from ..flows.delivery import Delivery
from ..ledger import DELIVERED, Ledger, LedgerRecord, guard
from ..ledger.exceptions import LostRace
from ..ledger.schedule import FollowSchedule
from ..ordering import OrderingBackend
from ..ordering.progress import FAILED, ISSUED, VALIDATION, WAITING, Progress, Validation
from .config import (
    LEASE_SECONDS,
    MAX_FINAL_VISITS,
    MAX_UNFINISHED,
    MAX_VALIDATIONS,
    RELEASE_TRIES,
    FollowConfig,
)
from .dns.base import DnsAutomation
from .messages import lifecycle_message
from .records import ValidationRecords
from .state import FollowState

#: What CAS's "verify_fail" becomes for a reader of the failure message when the CA gave no reason.
DEADLINE_REASON = "the certificate was not issued before the CA's deadline ({days:g} days after the order)"


def _validation_key(v: Validation) -> tuple[str, ...]:
    return (v.method, v.record_domain.lower(), v.record_type.upper(), v.record_value, v.uri, v.domain)


#: CAS's words for an order the CA is reviewing (V1.0 ``process``; V2.0 ``processing``, which is all V2.0 says
#: until the task ends): such an order is given the long review limit past its deadline, never the grace day.
REVIEW_STATUSES = frozenset({"process", "processing"})


class Follower:
    def __init__(self, ledger: Ledger, backends: Mapping[str, OrderingBackend], delivery: Delivery,
                 config: FollowConfig, dns: DnsAutomation | None = None, clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic, enabled: bool = True) -> None:
        """``backends``: one per API generation (``package``, ``instance``): a record is followed with the API
        it was placed with, whatever ``CAS_ORDER_API`` says now. ``enabled`` False (``FOLLOW_ORDERS=false``) ends
        the schedule of the orders still on it, without polling them, so that their retention starts."""
        self.enabled = enabled
        self.ledger = ledger
        self.schedule = FollowSchedule(ledger)
        self.backends = dict(backends)
        self.delivery = delivery
        self.config = config
        self.dns = dns
        self.records = ValidationRecords(dns, self._out_of_time) if dns is not None else None
        self._clock = clock
        self._monotonic = monotonic
        #: When this sweep's time is up (``run``): DNS work left then waits for the order's next poll.
        self._stop_at = float("inf")

    def run(self, creds: Credentials | None, stop_at: float) -> dict[str, int]:
        """Poll the orders due, soonest first, until ``stop_at`` (``time.monotonic()``); return the counts."""
        counts: Counter[str] = Counter()
        self._stop_at = stop_at
        due, error = guard.observe(lambda: self.schedule.due(self.config.batch))
        records, damaged = due or ([], [])
        for key in damaged:
            log.emit("ledger.damaged", logging.ERROR, key=key)
        if error is not None:
            counts["ledger_error"] += 1
        for index, record in enumerate(records):
            if self._monotonic() >= stop_at:
                counts["not_reached"] += len(records) - index
                break
            try:
                outcome, failed = guard.observe(partial(self.follow_one, record, creds))
            except Exception as exc:  # one broken record must not stop the others
                log.emit("internal.error", logging.ERROR, key=record.key, where=type(exc).__name__)
                outcome, failed = "error", None
            counts["ledger_error" if failed else (outcome or "error")] += 1
        return {k: v for k, v in sorted(counts.items()) if v}

    # ------------------------------------------------------------------ one order

    def follow_one(self, record: LedgerRecord, creds: Credentials | None) -> str:
        """Poll one due order, act on what changed, and schedule the next poll; return a summary count's name."""
        if not record.placed or not self.enabled:
            # Not an order CAS holds (a record re-claimed after its retention, say), or following was turned off
            # (``FOLLOW_ORDERS=false``) after it was scheduled: end the schedule, so that its retention starts.
            self._save(record, FollowState.from_dict(record.follow, record.updated_at), None)
            if record.placed:
                log.emit("follow.stopped", logging.INFO, key=record.key, reason="FOLLOW_ORDERS=false",
                         dns_records_left=len((record.follow or {}).get("dns") or []))
            return "not_placed" if not record.placed else "stopped"
        unfinished = (record.follow or {}).get("unfinished")
        if isinstance(unfinished, int) and unfinished >= MAX_UNFINISHED:
            # Every recent poll of this order died half-way (a bug, or an answer nothing here can read): stop
            # rather than poll it for ever, and say so loudly. The order itself is untouched.
            state = FollowState.from_dict(record.follow, record.updated_at)
            try:
                self.schedule.save(record, {**state.to_dict(), "abandoned": True}, None, keep=True)
            except LostRace:
                return "raced"
            log.emit("follow.abandoned", logging.ERROR, key=record.key, unfinished=unfinished, phase=state.phase,
                     dns_records_left=[r.name for r in state.dns if not state.dns_removed])
            return "abandoned"
        taken = self.schedule.take(record, LEASE_SECONDS)
        if taken is None:
            return "skipped"
        state = FollowState.from_dict(taken.follow, taken.updated_at)
        if state.final:
            state = state.evolve(polls=state.polls + 1)  # finishing what is left (a message, a record): backs off
        else:
            polled = self._poll(taken, state, creds)
            if polled is None:
                state = state.evolve(polls=state.polls + 1)
                self._save(taken, state, self._clock() + self.ledger.config.follow_wait(state.polls))
                return "poll_failed"
            if self.dns is not None and polled.phase == VALIDATION and polled.validations != state.validations:
                # Save what CAS asks for before the DNS record is created: a sweep that dies after creating it
                # leaves the validation in the ledger, so the record is still found and removed in the end.
                checkpoint = self._checkpoint(taken, polled)
                if checkpoint is None:
                    return "raced"
                taken = checkpoint
            state = polled
        if self.records is not None:
            state = self.records.apply(taken.key, state, creds, taken.order.get("domains") or ())
        state = self._release(taken, state, creds)
        state, pending = self._announce(taken, state)
        self._save(taken, state, self._next_poll(taken.key, state, pending))
        if state.final and not pending and self._done(state):
            log.emit("follow.finished", logging.INFO, key=taken.key, phase=state.phase, status=state.status,
                     released=state.released, dns_records=len(state.dns))
            return state.phase
        return state.phase if state.phase != WAITING else "waiting"

    def _poll(self, record: LedgerRecord, state: FollowState, creds: Credentials | None) -> FollowState | None:
        """Ask CAS; ``None`` when it could not be asked (the next poll tries again), unless the CA's deadline is
        long past: an order CAS cannot tell about for a day after its deadline is reported failed."""
        deadline = state.since + self.config.deadline_seconds(record.order.get("product"))
        now = self._clock()
        backend = self.backends.get(record.api)
        try:
            if backend is None:
                raise LookupError(record.api)
            progress = backend.progress(record.order_id, record.instance_id, creds, self.config.include_certificate)
        except (RelayError, LookupError) as err:
            code = err.code if isinstance(err, RelayError) else "NoBackend"
            log.emit("follow.poll_failed", logging.WARNING, key=record.key, code=code,
                     cas_code=getattr(err, "cas_code", None), transient=getattr(err, "transient", False))
            if now < deadline + self.config.deadline_grace_seconds:
                return None
            # Decided on what CAS said last: one failed poll must not turn an order under review into a failure.
            progress = Progress(WAITING, status=state.status if state.status in REVIEW_STATUSES else "unreadable")
        if not progress.final and self._past_deadline(progress, state, deadline, now):
            days = (deadline - state.since) / 86400
            progress = Progress(FAILED, reason=DEADLINE_REASON.format(days=days), status="deadline")
        return self._learn(record, state, progress)

    def _past_deadline(self, progress: Progress, state: FollowState, deadline: float, now: float) -> bool:
        """The CA fails an unvalidated order by itself at its deadline and CAS then says ``verify_fail``; the
        follower gives up only a grace period later, and on an order the CA is still reviewing (``process``)
        only after a much longer limit: reporting a live order as failed could make its owner buy another."""
        if progress.status in REVIEW_STATUSES:
            return now >= deadline + self.config.review_limit_seconds
        return now >= deadline + self.config.deadline_grace_seconds

    def _learn(self, record: LedgerRecord, state: FollowState, progress: Progress) -> FollowState:
        """Fold a poll's answer into the state: a new phase (or a validation asking for something else) starts
        over, with no sink confirmed for its message and the backoff at its first step. Validations are kept in
        one order, so that CAS listing the same ones in another order is not news."""
        validations = tuple(sorted(progress.validations, key=_validation_key))[:MAX_VALIDATIONS]
        changed = progress.phase != state.phase or (progress.phase == VALIDATION and validations != state.validations)
        if not changed:
            return state.evolve(polls=state.polls + 1, status=progress.status[:40] or state.status)
        certificate = None
        if progress.certificate is not None:
            certificate = {k: v for k, v in asdict(progress.certificate).items() if v not in (None, ())}
            certificate["domains"] = list(progress.certificate.domains)[:100]
        log.emit("follow.phase", logging.INFO, key=record.key, phase=progress.phase, previous=state.phase,
                 status=progress.status, validations=len(validations))
        return state.evolve(phase=progress.phase, polls=0, status=progress.status[:40], deliveries={},
                            validations=validations if progress.phase == VALIDATION
                            else state.validations,
                            certificate=certificate, reason=log.mask_contacts_in(progress.reason)[:500])

    # ------------------------------------------------------------------ DNS, quota, messages

    def _release(self, record: LedgerRecord, state: FollowState, creds: Credentials | None) -> FollowState:
        """``DELETE_FAILED_ORDERS``: delete a failed order once, so that its quota comes back. Done before the
        failure is announced, so the message can say what was done."""
        if not (self.config.delete_failed and state.phase == FAILED and state.released is None):
            return state
        if state.status == "deadline":
            # Only an order CAS itself failed can be deleted; one the follower gave up on may still be live.
            return state.evolve(released=False)
        backend = self.backends.get(record.api)
        try:
            done = backend is not None and backend.release(record.order_id, record.instance_id, creds)
        except RelayError as err:
            tries = state.release_tries + 1
            gave_up = not err.transient or tries >= RELEASE_TRIES
            log.emit("follow.release_failed", logging.WARNING, key=record.key, code=err.code, cas_code=err.cas_code,
                     gave_up=gave_up)
            return state.evolve(release_tries=tries, released=False if gave_up else None)
        log.emit("follow.released" if done else "follow.release_unsupported", logging.INFO, key=record.key,
                 order_id=record.order_id, api=record.api)
        return state.evolve(released=bool(done), release_tries=state.release_tries + 1)

    def _announce(self, record: LedgerRecord, state: FollowState) -> tuple[FollowState, bool]:
        """Push this phase's message to the sinks that lack it; ``True`` while some sink still lacks it."""
        if state.phase == FAILED and self.config.delete_failed and state.released is None:
            return state, True  # the release is still being tried: announce what it did, once it is done
        message = lifecycle_message(self.delivery, record, state, self.dns.name if self.dns else None)
        if message is None:
            return state, False
        # A sink hears of the order's phases only after it has the order itself: one still lacking the created
        # message (the sweep re-pushes it) is owed this one too, and gets it at a later poll.
        # A sink added after every sink had the order (DELIVERED) will never get it: it gets no phase either, and
        # is not waited for.
        behind = set(self.delivery.sink_names) - set(record.deliveries)
        confirmed, failed = self.delivery.push(message, set(state.deliveries) | behind)
        if record.state != DELIVERED:
            failed = [*failed, *sorted(behind - set(state.deliveries))]
        if confirmed:
            now = self._clock()
            state = state.evolve(deliveries={**state.deliveries, **{name: now for name in confirmed}})
        return state, bool(failed)

    # ------------------------------------------------------------------ scheduling

    def _out_of_time(self) -> bool:
        return self._monotonic() >= self._stop_at

    def _done(self, state: FollowState) -> bool:
        """Nothing is left: the order is final, its DNS records are gone (or no automation is configured any
        more to remove them: they are logged), and a release asked for was tried."""
        dns_left = self.dns is not None and not state.dns_removed and (
            bool(state.dns) or any(v.method == "DNS" for v in state.validations))
        return state.final and not dns_left and (
            not (self.config.delete_failed and state.phase == FAILED) or state.released is not None)

    def _next_poll(self, key: str, state: FollowState, pending: bool) -> float | None:
        """None once nothing is left; else after the backoff's current step. A message a sink still lacks, a DNS
        record or a release still to finish are tried again on the same backoff: a sink that stays down costs
        one attempt per step, not one per sweep for as long as it is down."""
        if not pending and self._done(state):
            return None
        if state.final and state.polls >= MAX_FINAL_VISITS:
            # A sink that refuses this message for good, or a record that cannot be removed: a day of tries on
            # the backoff is enough; what is left is logged, and the record's retention can start.
            log.emit("follow.gave_up", logging.ERROR, key=key, phase=state.phase, pending_message=pending,
                     dns_records_left=[r.name for r in state.dns if not state.dns_removed])
            return None
        return self._clock() + self.ledger.config.follow_wait(state.polls)

    def _checkpoint(self, record: LedgerRecord, state: FollowState) -> LedgerRecord | None:
        """Save ``state`` mid-poll, keeping the lease and the unfinished count; None when another writer won."""
        follow = {**state.to_dict(), "unfinished": (record.follow or {}).get("unfinished", 1)}
        try:
            return self.schedule.save(record, follow, record.next_poll_at)
        except LostRace:
            log.emit("follow.raced", logging.INFO, key=record.key)
            return None

    def _save(self, record: LedgerRecord, state: FollowState, next_poll_at: float | None) -> None:
        try:
            self.schedule.save(record, state.to_dict(), next_poll_at)
        except LostRace:
            # Another writer moved the record (a redelivery noting a sink): this poll's news is found again at
            # the next one. Messages keep their ids and DNS records are found before they are added.
            log.emit("follow.raced", logging.INFO, key=record.key)


__all__ = ["ISSUED", "Follower"]
