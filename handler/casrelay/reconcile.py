"""Reconciliation: find the order an ambiguous call may have placed, and adopt it.

CAS offers no idempotency token and no tag filter on ListUserCertificateOrder, so an order is found
by what it binds: ``Keyword`` = the first domain (CAS matches it fuzzily), then an exact match on the
domain set and the ProductCode, a ``BuyDate`` no earlier than the attempt (less a clock margin), not
cancelled, and not already owned by another ledger key. Exactly one candidate is adopted. None
leaves the key ``unknown`` (the call may not have arrived, or CAS may not list it yet); several
leave it ``unknown`` too, unless ``CANCEL_DUPLICATE_ORDERS`` is on, in which case the earliest is
kept and the others are cancelled, which returns their quota.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from . import log
from .cas.credentials import Credentials
from .cas.gateway import CasGateway, ListedOrder
from .errors import RelayError
from .ledger import Ledger, LedgerRecord

CLOCK_MARGIN_SECONDS = 120
INACTIVE_STATUSES = {"CANCELLED", "CANCELED", "REVOKED", "CHECKED_FAIL", "EXPIRED"}


@dataclass(frozen=True)
class Reconciled:
    record: LedgerRecord
    adopted: bool
    candidates: int
    cancelled: tuple[int, ...] = ()


def _domains(text: str) -> set[str]:
    return {d.strip().lower() for d in text.split(",") if d.strip()}


class Reconciler:
    def __init__(self, ledger: Ledger, gateway: CasGateway, cancel_duplicates: bool) -> None:
        self.ledger = ledger
        self.gateway = gateway
        self.cancel_duplicates = cancel_duplicates

    def candidates(self, record: LedgerRecord, listed: list[ListedOrder]) -> list[ListedOrder]:
        want = {d.lower() for d in record.order.get("domains", [])}
        product = record.order.get("product")
        since_ms = ((record.attempted_at or record.created_at) - CLOCK_MARGIN_SECONDS) * 1000
        out = []
        for item in listed:
            if _domains(item.domain) != want or item.product_code != product:
                continue
            if item.status.upper() in INACTIVE_STATUSES:
                continue
            if item.buy_date_ms is not None and item.buy_date_ms < since_ms:
                continue
            owner = self.ledger.owner_of(item.order_id)
            if owner is not None and owner != record.key:
                continue
            out.append(item)
        return sorted(out, key=lambda o: (o.buy_date_ms or 0, o.order_id))

    def run(self, record: LedgerRecord, creds: Credentials | None) -> Reconciled:
        """Try once; never raises for CAS trouble (the key simply stays unknown)."""
        domains = record.order.get("domains") or []
        if not domains:
            return Reconciled(record, False, 0)
        try:
            listed = self.gateway.list_orders(str(domains[0]).removeprefix("*."), creds)
        except RelayError as err:
            log.emit("reconcile.skipped", logging.WARNING, key=record.key, reason=err.code)
            return Reconciled(record, False, 0)
        found = self.candidates(record, listed)
        cancelled: list[int] = []
        if len(found) > 1 and self.cancel_duplicates:
            keep, extra = found[0], found[1:]
            for dup in extra:
                try:
                    self.gateway.cancel_order(dup.order_id, creds)
                    cancelled.append(dup.order_id)
                except RelayError as err:
                    log.emit("reconcile.cancel_failed", logging.ERROR, key=record.key, order_id=str(dup.order_id),
                             reason=err.code)
            if len(cancelled) == len(extra):
                found = [keep]
        if len(found) != 1:
            log.emit("reconcile.unresolved", logging.WARNING, key=record.key, candidates=len(found),
                     domains=list(domains))
            return Reconciled(record, False, len(found), tuple(cancelled))
        adopted = self.ledger.ordered(record, found[0].order_id, record.cas_request_id or "",
                                      note="adopted by reconciliation")
        log.emit("reconcile.adopted", key=record.key, order_id=str(found[0].order_id), cancelled=cancelled or None)
        return Reconciled(adopted, adopted.order_id == found[0].order_id, 1, tuple(cancelled))
