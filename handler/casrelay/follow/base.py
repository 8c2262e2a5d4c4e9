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
from .config import DNS_REMOVE_TRIES, LEASE_SECONDS, MAX_UNFINISHED, MAX_VALIDATIONS, RELEASE_TRIES, FollowConfig
from .dns.base import DnsAutomation, DnsRecordRef
from .dns.zones import normalise
from .exceptions import FollowError
from .messages import lifecycle_message
from .state import FollowState

#: What CAS's "verify_fail" becomes for a reader of the failure message when the CA gave no reason.
DEADLINE_REASON = "the certificate was not issued before the CA's deadline ({days:g} days after the order)"


def _validation_key(v: Validation) -> tuple[str, ...]:
    return (v.method, v.record_domain.lower(), v.record_type.upper(), v.record_value, v.uri, v.domain)


def _record_key(name: str, type_: str, value: str) -> tuple[str, str, str]:
    """A DNS record's identity as the automation sees it: the name in A-labels (CAS may answer in U-labels,
    the automation stores A-labels), the type, the value."""
    try:
        name = normalise(name)
    except FollowError:
        name = name.lower().rstrip(".")
    return name, type_.upper(), value


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
        self._clock = clock
        self._monotonic = monotonic

    def run(self, creds: Credentials | None, stop_at: float) -> dict[str, int]:
        """Poll the orders due, soonest first, until ``stop_at`` (``time.monotonic()``); return the counts."""
        counts: Counter[str] = Counter()
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
            self._save(record, FollowState.from_dict(record.follow, record.updated_at), None)
            log.emit("follow.abandoned", logging.ERROR, key=record.key, unfinished=unfinished)
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
        state = self._automate_dns(taken, state, creds)
        state = self._release(taken, state, creds)
        state, pending = self._announce(taken, state)
        self._save(taken, state, self._next_poll(state, pending))
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
            progress = Progress(WAITING, status="unreadable")
        if not progress.final and self._past_deadline(progress, state, deadline, now):
            days = (deadline - state.since) / 86400
            progress = Progress(FAILED, reason=DEADLINE_REASON.format(days=days), status="deadline")
        return self._learn(record, state, progress)

    def _past_deadline(self, progress: Progress, state: FollowState, deadline: float, now: float) -> bool:
        """The CA fails an unvalidated order by itself at its deadline and CAS then says ``verify_fail``; the
        follower gives up only a grace period later, and on an order the CA is still reviewing (``process``)
        only after a much longer limit: reporting a live order as failed could make its owner buy another."""
        if progress.status == "process":
            return now >= deadline + self.config.review_limit_seconds
        return now >= deadline + self.config.deadline_grace_seconds

    def _learn(self, record: LedgerRecord, state: FollowState, progress: Progress) -> FollowState:
        """Fold a poll's answer into the state: a new phase (or a validation asking for something else) starts
        over, with no sink confirmed for its message and the backoff at its first step. Validations are kept in
        one order, so that CAS listing the same ones in another order is not news."""
        validations = tuple(sorted(progress.validations, key=_validation_key))
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
                            validations=validations[:MAX_VALIDATIONS] if progress.phase == VALIDATION
                            else state.validations,
                            certificate=certificate, reason=log.mask_contacts_in(progress.reason)[:500])

    # ------------------------------------------------------------------ DNS, quota, messages

    def _automate_dns(self, record: LedgerRecord, state: FollowState, creds: Credentials | None) -> FollowState:
        if self.dns is None:
            return state
        if state.phase == VALIDATION:
            return self._create_records(record, state, creds)
        if state.final and not state.dns_removed:
            refs = state.dns + self._lost_records(record, state, creds)
            if not refs:
                return state.evolve(dns_removed=True) if state.validations else state
            left, error = self._remove_records(record, refs, creds)
            tries = state.dns_remove_tries + 1
            return state.evolve(dns=tuple(left) if left else state.dns,
                                dns_removed=not left or tries >= DNS_REMOVE_TRIES, dns_remove_tries=tries,
                                dns_error=error)
        return state

    def _create_records(self, record: LedgerRecord, state: FollowState, creds: Credentials | None) -> FollowState:
        """Create what the validations ask for, once each; remove what an earlier validation asked for and this
        one does not (CAS issued a new value), so that the records do not pile up. A name the automation can
        never serve (no zone of the account holds it) is not tried again for this order."""
        assert self.dns is not None
        wanted = {_record_key(v.record_domain, v.record_type, v.record_value): v
                  for v in state.validations if v.method == "DNS"}
        keep = [r for r in state.dns if _record_key(r.name, r.type, r.value) in wanted]
        stale = [r for r in state.dns if _record_key(r.name, r.type, r.value) not in wanted]
        left, error = self._remove_records(record, tuple(stale), creds) if stale else ([], "")
        refs, given_up = keep + left, set(state.dns_given_up)
        have = {_record_key(r.name, r.type, r.value) for r in refs}
        for key, validation in wanted.items():
            if key in have or key[0] in given_up:
                continue
            try:
                ref = self.dns.ensure(validation, creds)
            except FollowError as err:
                log.emit("follow.dns_failed", logging.WARNING, key=record.key, action="ensure", code=err.code,
                         reason=err.message, transient=err.transient)
                error = err.code
                if not err.transient:
                    given_up.add(key[0])
                continue
            refs.append(ref)
            have.add(key)
            log.emit("follow.dns_created", logging.INFO, key=record.key, zone=ref.zone, rr=ref.rr, type=ref.type,
                     record_id=ref.record_id)
        return state.evolve(dns=tuple(refs), dns_error=error, dns_given_up=tuple(sorted(given_up)))

    def _lost_records(self, record: LedgerRecord, state: FollowState,
                      creds: Credentials | None) -> tuple[DnsRecordRef, ...]:
        """The records a validation asked for that the state holds no reference to: a sweep that created one
        and died before saving its id. Removed by name, type and value (only a record with exactly that value)."""
        assert self.dns is not None
        held = {_record_key(r.name, r.type, r.value) for r in state.dns}
        lost = []
        for validation in state.validations:
            key = _record_key(validation.record_domain, validation.record_type, validation.record_value)
            if validation.method != "DNS" or key in held or key[0] in state.dns_given_up:
                continue
            try:
                lost.append(self.dns.locate(validation, creds))
            except FollowError:
                continue  # no zone holds it: the automation never created it
        return tuple(lost)

    def _remove_records(self, record: LedgerRecord, refs: tuple[DnsRecordRef, ...],
                        creds: Credentials | None) -> tuple[list[DnsRecordRef], str]:
        """Remove ``refs``; return those that could not be removed, and the last failure's code."""
        assert self.dns is not None
        left, error = [], ""
        for ref in refs:
            try:
                self.dns.remove(ref, creds)
                log.emit("follow.dns_removed", logging.INFO, key=record.key, zone=ref.zone, rr=ref.rr,
                         record_id=ref.record_id)
            except FollowError as err:
                log.emit("follow.dns_failed", logging.WARNING, key=record.key, action="remove", code=err.code,
                         reason=err.message, transient=err.transient)
                left.append(ref)
                error = err.code
        return left, error

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
        behind = set() if record.state == DELIVERED else set(self.delivery.sink_names) - set(record.deliveries)
        confirmed, failed = self.delivery.push(message, set(state.deliveries) | behind)
        failed = [*failed, *sorted(behind - set(state.deliveries))]
        if confirmed:
            now = self._clock()
            state = state.evolve(deliveries={**state.deliveries, **{name: now for name in confirmed}})
        return state, bool(failed)

    # ------------------------------------------------------------------ scheduling

    def _done(self, state: FollowState) -> bool:
        return state.final and (not state.dns or state.dns_removed) and (
            not (self.config.delete_failed and state.phase == FAILED) or state.released is not None)

    def _next_poll(self, state: FollowState, pending: bool) -> float | None:
        """None once nothing is left; else after the backoff's current step. A message a sink still lacks, a DNS
        record or a release still to finish are tried again on the same backoff: a sink that stays down costs
        one attempt per step, not one per sweep for as long as it is down."""
        if not pending and self._done(state):
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
