"""The follower's DNS step: the validation records it creates through a ``DnsAutomation``, and removes.

Kept apart from the orchestrator (``follow/base.py``) because it is the one part of following that writes
outside casrelay: records in the account's zones. Every rule here is about never leaving one behind and never
creating one twice: what is created is held in the order's ``FollowState`` (found before it is added, so a
sweep that died after creating one finds it again), a record for a value CAS no longer asks for is removed at
once, and at the end every record a validation asked for is removed, by id or, for one whose id a dead sweep
lost, by name, type and value. A name no zone of the account holds is given up for the order (it is the
receiver's to publish); work left when the sweep's time is up waits for the order's next poll.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from .. import log
from ..cas.credentials import Credentials
from ..ordering.progress import VALIDATION
from .config import DNS_REMOVE_TRIES
from .dns.base import DnsAutomation, DnsRecordRef
from .dns.zones import normalise
from .exceptions import FollowError, ZoneNotFound
from .state import FollowState


def _under(name: str, domains: Sequence[str]) -> bool:
    """Whether the record name lies at or under one of the order's names (a wildcard's base included), on a
    label boundary, compared in A-labels."""
    for domain in domains:
        try:
            base = normalise(str(domain).removeprefix("*."))
        except FollowError:
            continue
        if name == base or name.endswith("." + base):
            return True
    return False


def _record_key(name: str, type_: str, value: str) -> tuple[str, str, str]:
    """A DNS record's identity as the automation sees it: the name in A-labels (CAS may answer in U-labels,
    the automation stores A-labels), the type, the value."""
    try:
        name = normalise(name)
    except FollowError:
        name = name.lower().rstrip(".")
    return name, type_.upper(), value



class ValidationRecords:
    def __init__(self, dns: DnsAutomation, out_of_time: Callable[[], bool]) -> None:
        self.dns = dns
        self._out_of_time = out_of_time

    def apply(self, key: str, state: FollowState, creds: Credentials | None,
              domains: Sequence[str] = ()) -> FollowState:
        """Create what a validation asks for; once the order is final, remove what was created. ``domains`` are
        the order's names: a record is created only under one of them, whatever name CAS's answer gives."""
        if state.phase == VALIDATION:
            return self._create(key, state, creds, domains)
        if state.final and not state.dns_removed:
            lost, unsure = self._lost(key, state, creds)
            refs = state.dns + lost
            left, error = self._remove(key, refs, creds) if refs else ([], "")
            tries = state.dns_remove_tries + 1
            done = not left and not unsure
            if not done and tries >= DNS_REMOVE_TRIES:
                log.emit("follow.dns_left", logging.ERROR, key=key, records=[r.name for r in left])
            return state.evolve(dns=tuple(left) if left else state.dns,
                                dns_removed=done or tries >= DNS_REMOVE_TRIES, dns_remove_tries=tries,
                                dns_error=error)
        return state

    def _create(self, key: str, state: FollowState, creds: Credentials | None,
                domains: Sequence[str]) -> FollowState:
        """Create what the validations ask for, once each; remove what an earlier validation asked for and this
        one does not (CAS issued a new value), so that the records do not pile up. A name the automation can
        never serve (no zone of the account holds it) is not tried again for this order."""
        wanted = {_record_key(v.record_domain, v.record_type, v.record_value): v
                  for v in state.validations if v.method == "DNS"}
        for foreign in [k for k in wanted if not _under(k[0], domains)]:
            # Defence in depth: the account's zones are casrelay's to write in only for the order's own names.
            log.emit("follow.dns_foreign", logging.ERROR, key=key, record=foreign[0][:255])
            del wanted[foreign]
        keep = [r for r in state.dns if _record_key(r.name, r.type, r.value) in wanted]
        stale = [r for r in state.dns if _record_key(r.name, r.type, r.value) not in wanted]
        left, error = self._remove(key, tuple(stale), creds) if stale else ([], "")
        refs, given_up = keep + left, set(state.dns_given_up)
        have = {_record_key(r.name, r.type, r.value) for r in refs}
        for wanted_key, validation in wanted.items():
            if wanted_key in have or wanted_key[0] in given_up:
                continue
            if self._out_of_time():
                break
            try:
                ref = self.dns.ensure(validation, creds)
            except FollowError as err:
                log.emit("follow.dns_failed", logging.WARNING, key=key, action="ensure", code=err.code,
                         reason=err.message, transient=err.transient)
                error = err.code
                if not err.transient:
                    given_up.add(wanted_key[0])
                continue
            refs.append(ref)
            have.add(wanted_key)
            log.emit("follow.dns_created", logging.INFO, key=key, zone=ref.zone, rr=ref.rr, type=ref.type,
                     record_id=ref.record_id)
        if not error and given_up:
            error = ZoneNotFound.code  # what the operator must see for as long as the order waits
        return state.evolve(dns=tuple(refs), dns_error=error, dns_given_up=tuple(sorted(given_up)))

    def _lost(self, key: str, state: FollowState,
              creds: Credentials | None) -> tuple[tuple[DnsRecordRef, ...], bool]:
        """The records a validation asked for that the state holds no reference to: a sweep that created one
        and died before saving its id. Removed by name, type and value (only a record with exactly that value)."""
        held = {_record_key(r.name, r.type, r.value) for r in state.dns}
        lost, unsure = [], False
        for validation in state.validations:
            wanted_key = _record_key(validation.record_domain, validation.record_type, validation.record_value)
            if validation.method != "DNS" or wanted_key in held or wanted_key[0] in state.dns_given_up:
                continue
            try:
                lost.append(self.dns.locate(validation, creds))
            except ZoneNotFound:
                continue  # no zone holds it: the automation never created it
            except FollowError as err:
                log.emit("follow.dns_failed", logging.WARNING, key=key, action="locate", code=err.code,
                         reason=err.message, transient=err.transient)
                unsure = True  # it may be there: look again at the next poll
        return tuple(lost), unsure

    def _remove(self, key: str, refs: tuple[DnsRecordRef, ...],
                creds: Credentials | None) -> tuple[list[DnsRecordRef], str]:
        """Remove ``refs``; return those that could not be removed, and the last failure's code."""
        left, error = [], ""
        for ref in refs:
            if self._out_of_time():
                left.append(ref)
                continue
            try:
                self.dns.remove(ref, creds)
                log.emit("follow.dns_removed", logging.INFO, key=key, zone=ref.zone, rr=ref.rr,
                         record_id=ref.record_id)
            except FollowError as err:
                log.emit("follow.dns_failed", logging.WARNING, key=key, action="remove", code=err.code,
                         reason=err.message, transient=err.transient)
                left.append(ref)
                error = err.code
        return left, error

