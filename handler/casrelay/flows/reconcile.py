"""Reconciliation: find out what an ambiguous paid call did, from CAS's own order list.

CAS offers no idempotency token and no tag filter on ListUserCertificateOrder, so an order is found
by what it binds: ``Keyword`` = the first domain (CAS matches it fuzzily). Two questions are asked
of the listing, with two different strictnesses:

- **Is exactly one order ours?** It must bind exactly our domain set, with our ProductCode, be
  bought no earlier than the attempt (less a clock margin), still be live, and belong to no other
  ledger key. Then it is adopted.
- **Could any order be ours?** Any listed order that shares a name with ours, has our ProductCode,
  was bought after the attempt (less the margin) in any status, and belongs to no other key. When
  there is none, the listing was complete, and the latest moment the call could have reached CAS
  (``call_ended_at``) is older than ``RECONCILE_LIST_LAG_SECONDS`` (CAS lists a new order within
  that time), the order was not placed:
  the key may be ordered again. This looser test is what keeps a listing that shows our order in an
  unexpected shape (another domain order, only the CSR's CN) from reading as "absent".

Everything else (several candidates, a listing that is too early, truncated, or failed) leaves the
record ``unknown``. With ``CANCEL_DUPLICATE_ORDERS`` several exact candidates are reduced to the
earliest, the others cancelled, which returns their quota.

A backend that can be asked directly what it did for one record (``OrderingBackend.look_up``: V2.0
reads the leased instance's detail and our tag) answers instead of the listing. The record's instance
counts only while its lease is the record's own (``ledger/lease.py``): an order that lost the lease
never applied on that instance. "Not applied" proves absence only once the last try is older than
``RECONCILE_LIST_LAG_SECONDS``, like an empty listing, so a request still on its way cannot land after
the key was given back; with no lease at all, no ApplyCertificate was ever sent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from .. import log
from ..cas.credentials import Credentials
from ..errors import RelayError
from ..ledger import Ledger, LedgerRecord, guard
from ..ledger.key import short_tag_value
from ..ledger.lease import InstanceLeases
from ..ordering import APPLIED, NOT_APPLIED, Finding, ListedOrder, OrderingBackend

CLOCK_MARGIN_SECONDS = 120
#: Statuses in which a listed order no longer counts as a live order to adopt (CAS's documented set).
INACTIVE_STATUSES = frozenset({"REVOKED", "CHECKED_FAIL", "EXPIRED"})

ADOPTED = "adopted"
ABSENT = "absent"
UNRESOLVED = "unresolved"


@dataclass(frozen=True)
class Reconciled:
    record: LedgerRecord
    #: ``adopted``: the record now holds the OrderId; ``absent``: CAS placed no order for it;
    #: ``unresolved``: nothing can be said yet.
    verdict: str
    candidates: int
    cancelled: tuple[int, ...] = ()
    reason: str = ""

    @property
    def adopted(self) -> bool:
        return self.verdict == ADOPTED


def _domains(text: str) -> set[str]:
    return {d.strip().lower() for d in text.split(",") if d.strip()}


class Reconciler:
    def __init__(self, ledger: Ledger, backend: OrderingBackend, cancel_duplicates: bool,
                 list_lag_seconds: float, clock: Callable[[], float] = time.time,
                 order_tag_key: str | None = None, backends: Mapping[str, OrderingBackend] | None = None) -> None:
        """``backends``: one per API generation (``package``, ``instance``); a record is reconciled by the one
        it was placed with (``LedgerRecord.api``), whatever ``backend`` (this deployment's) is."""
        self.ledger = ledger
        self.backend = backend
        self.backends = dict(backends or {})
        self.leases = InstanceLeases(ledger)
        self.order_tag_key = order_tag_key
        self.cancel_duplicates = cancel_duplicates
        self.list_lag_seconds = list_lag_seconds
        self._clock = clock

    @staticmethod
    def _since_ms(record: LedgerRecord) -> float:
        return ((record.attempted_at or record.created_at) - CLOCK_MARGIN_SECONDS) * 1000

    def _foreign(self, record: LedgerRecord, item: ListedOrder) -> bool:
        owner = self.ledger.owner_of(item.order_id)
        return owner is not None and owner != record.key

    def candidates(self, record: LedgerRecord, listed: Iterable[ListedOrder]) -> list[ListedOrder]:
        """The listed orders that are exactly ours, earliest first."""
        want = {d.lower() for d in record.order.get("domains", [])}
        product = record.order.get("product")
        since_ms = self._since_ms(record)
        out = []
        for item in listed:
            if _domains(item.domain) != want or item.product_code != product:
                continue
            if item.status.upper() in INACTIVE_STATUSES:
                continue
            if item.buy_date_ms is None or item.buy_date_ms < since_ms:
                continue
            if self._foreign(record, item):
                continue
            out.append(item)
        return sorted(out, key=lambda o: (o.buy_date_ms or 0, o.order_id))

    def _contested(self, record: LedgerRecord, item: ListedOrder) -> bool:
        """Another key with the same names and product had a paid call out when ``item`` was bought (its
        OrderId not recorded yet, say, because its ledger write failed): ``item`` may be that key's."""
        if item.buy_date_ms is None:
            return True
        for rival in self.ledger.rivals(record):
            start = ((rival.attempted_at or rival.created_at) - CLOCK_MARGIN_SECONDS) * 1000
            end = ((rival.call_ended_at or rival.claim_expires_at or self._clock()) + CLOCK_MARGIN_SECONDS) * 1000
            if start <= item.buy_date_ms <= end:
                return True
        return False

    def maybe_ours(self, record: LedgerRecord, listed: Iterable[ListedOrder]) -> list[ListedOrder]:
        """Every listed order that could be ours, however CAS shows it; none means none was placed."""
        want = {d.lower() for d in record.order.get("domains", [])}
        product = record.order.get("product")
        since_ms = self._since_ms(record)
        return [item for item in listed
                if _domains(item.domain) & want and item.product_code == product
                and (item.buy_date_ms is None or item.buy_date_ms >= since_ms)
                and not self._foreign(record, item)]

    def run(self, record: LedgerRecord, creds: Credentials | None) -> Reconciled:
        """Ask CAS once; never raises for CAS or ledger trouble (the record simply stays unknown)."""
        return guard.settle(lambda: self._run(record, creds), record.key,
                            fallback=Reconciled(record, UNRESOLVED, 0, reason="the ledger failed while reconciling"))

    def _run(self, record: LedgerRecord, creds: Credentials | None) -> Reconciled:
        domains = record.order.get("domains") or []
        if not domains:
            return Reconciled(record, UNRESOLVED, 0, reason="the record names no domain")
        asked_at = self._clock()
        backend = self._backend(record)
        found_directly = self._look_up(record, backend, creds)
        if found_directly is not None:
            return self._settle(record, found_directly, asked_at)
        try:
            listing = backend.find([str(d) for d in domains], creds)
        except RelayError as err:
            log.emit("reconcile.skipped", logging.WARNING, key=record.key, reason=err.code)
            return Reconciled(record, UNRESOLVED, 0, reason=f"ListUserCertificateOrder failed ({err.code})")
        found = self.candidates(record, listing.orders)
        contested = [item for item in found if self._contested(record, item)]
        if contested:
            log.emit("reconcile.unresolved", logging.WARNING, key=record.key, candidates=len(found),
                     domains=list(domains), reason="another key's paid call for the same names may have placed it")
            return Reconciled(record, UNRESOLVED, len(found), reason="another key may own the order")
        cancelled = self._cancel_extras(record, found, creds) if len(found) > 1 and self.cancel_duplicates else ()
        if cancelled and len(cancelled) == len(found) - 1:
            found = found[:1]
        if len(found) == 1:
            return self._adopt(record, found[0], cancelled)
        if not found:
            # From the latest moment the call could have reached CAS, not from the attempt mark: the pacer's
            # wait and the retries can send the last try seconds after the mark.
            settled_for = asked_at - (record.call_ended_at or record.attempted_at or record.created_at)
            if listing.complete and settled_for >= self.list_lag_seconds and not self.maybe_ours(record,
                                                                                              listing.orders):
                log.emit("reconcile.absent", key=record.key, domains=list(domains), waited_s=round(settled_for, 1))
                return Reconciled(record, ABSENT, 0, cancelled)
            reason = ("the listing is too early to prove anything" if settled_for < self.list_lag_seconds
                      else "the listing was truncated" if not listing.complete
                      else "an order that may be ours is listed in another shape")
        else:
            reason = f"{len(found)} orders match"
        log.emit("reconcile.unresolved", logging.WARNING, key=record.key, candidates=len(found),
                 domains=list(domains), reason=reason)
        return Reconciled(record, UNRESOLVED, len(found), cancelled, reason)

    def _backend(self, record: LedgerRecord) -> OrderingBackend:
        return self.backends.get(record.api, self.backend)

    def _look_up(self, record: LedgerRecord, backend: OrderingBackend, creds: Credentials | None) -> Finding | None:
        instance_id = record.instance_id if self.leases.holds(record) else None
        tags = ((self.order_tag_key, short_tag_value(record.key)),) if self.order_tag_key else ()
        return backend.look_up(record.key, tags, instance_id, creds)

    def _settle(self, record: LedgerRecord, finding: Finding, asked_at: float) -> Reconciled:
        """A backend's direct answer, as a verdict: adopt what it applied, or prove absence, or wait."""
        if finding.verdict == APPLIED:
            adopted = self.ledger.ordered(record, None, record.cas_request_id or "", note="adopted by reconciliation",
                                          instance_id=finding.instance_id, certificate_id=finding.certificate_id)
            log.emit("reconcile.adopted", key=record.key, instance_id=finding.instance_id, reason=finding.reason)
            return Reconciled(adopted, ADOPTED if adopted.placed else UNRESOLVED, 1)
        settled_for = asked_at - (record.call_ended_at or record.attempted_at or record.created_at)
        if finding.verdict == NOT_APPLIED and (finding.instance_id is None or settled_for >= self.list_lag_seconds):
            log.emit("reconcile.absent", key=record.key, instance_id=finding.instance_id, reason=finding.reason)
            return Reconciled(record, ABSENT, 0)
        reason = finding.reason if finding.verdict != NOT_APPLIED else "too early to prove nothing was applied"
        log.emit("reconcile.unresolved", logging.WARNING, key=record.key, instance_id=finding.instance_id,
                 reason=reason)
        return Reconciled(record, UNRESOLVED, 0, reason=reason)

    def _cancel_extras(self, record: LedgerRecord, found: list[ListedOrder], creds: Credentials | None
                       ) -> tuple[int, ...]:
        cancelled: list[int] = []
        for dup in found[1:]:
            try:
                self._backend(record).cancel(dup.order_id, creds)
                cancelled.append(dup.order_id)
            except RelayError as err:
                log.emit("reconcile.cancel_failed", logging.ERROR, key=record.key, order_id=str(dup.order_id),
                         reason=err.code)
        return tuple(cancelled)

    def _adopt(self, record: LedgerRecord, found: ListedOrder, cancelled: tuple[int, ...]) -> Reconciled:
        adopted = self.ledger.ordered(record, found.order_id, record.cas_request_id or "",
                                      note="adopted by reconciliation")
        log.emit("reconcile.adopted", key=record.key, order_id=str(found.order_id), cancelled=list(cancelled) or None)
        verdict = ADOPTED if adopted.order_id is not None else UNRESOLVED
        return Reconciled(adopted, verdict, 1, cancelled)
