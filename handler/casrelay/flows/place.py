"""Place one order exactly once: validated order -> ledger claim -> (new order | the key's earlier outcome).

This is where the two failures that matter are prevented:

- a second paid order: the ledger claim comes first; only the owner of a fresh claim orders
  (``new_order``), and an arrival that finds the key taken is answered from the ledger: the
  recorded order, the recorded refusal, "in progress", or, for an outcome nobody knows yet,
  reconciliation against CAS's own list;
- a lost OrderId: the recorded order is pushed again wherever it is missing (``delivery``).

Every trigger places through here, so the one log line per order (``order.placed``,
``order.duplicate``, ``order.failed``), which is also its metric, comes from this flow, whichever
trigger brought the order.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from .. import log
from ..cas.credentials import Credentials
from ..cas.credentials import resolve as resolve_credentials
from ..config import Settings
from ..errors import (
    NOT_ORDERED_CODE,
    CasOutcomeUnknown,
    OrderInProgress,
    OutcomePending,
    RelayError,
    idempotency_conflict,
    order_in_progress,
    outcome_pending,
)
from ..errors.values import from_value
from ..ledger import CLAIMED, DELIVERED, FAILED, ORDERED, UNKNOWN, Ledger, LedgerConfig, LedgerRecord, guard
from ..ledger.key import order_key, payload_hash
from ..order import Order
from ..records import OrderRecord
from ..response import status_of
from ..validation import validate_order
from ..validation.base import KNOWN_PARAMETERS
from .delivery import Delivered, Delivery
from .instance_order import OrderReader
from .new_order import NewOrder, OrderAgain, forget
from .reconcile import ABSENT, Reconciler

#: Input names a log line may carry as they are; any other name is the client's own text (an e-mail, say).
_NAMED_INPUTS = KNOWN_PARAMETERS | {"Idempotency-Key", "InstanceId", "ContactIdList", "CompanyId"}


def loggable_fields(err: RelayError) -> list[str]:
    """The fields an error names, as a log line may show them: known parameter names, ``(other)`` for the rest."""
    return [e.field if e.field in _NAMED_INPUTS or e.field.startswith("Tags.") else "(other)" for e in err.errors]


def claim_seconds(context: Any, default: float) -> float:
    """How long the claim is held: past the invocation's own end, so it never lapses under a live call."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        try:
            return max(5.0, float(remaining()) / 1000 + 5)
        except (TypeError, ValueError):
            pass
    timeout = getattr(getattr(context, "function", None), "timeout", None)
    if isinstance(timeout, (int, float)) and timeout > 0:
        return float(timeout) + 5
    return default


def summary(order: Order, api: str = "package") -> dict[str, Any]:
    """What the ledger keeps of the order. Contacts are kept masked: the ledger needs them only to say
    whose order it was in a log line. ``api`` (the generation the order is placed with) decides how the
    key is reconciled and announced for as long as the record lives (``LedgerRecord.api``)."""
    return {"api": api, "domains": list(order.domains), "product": order.product_code, "validate": order.validate_type,
            "email": log.mask_email(order.email), "phone": log.mask_phone(order.phone)}


class PlaceOnce:
    def __init__(self, settings: Settings, config: LedgerConfig, ledger: Ledger, delivery: Delivery,
                 reconciler: Reconciler, new_order: NewOrder, read_order: OrderReader | None = None) -> None:
        """``read_order`` validates an order's parameters when the shared validation is not all of it
        (``flows/instance_order``: V2.0 adds three)."""
        self.read_order = read_order
        self.settings = settings
        self.config = config
        self.ledger = ledger
        self.delivery = delivery
        self.reconciler = reconciler
        self.new_order = new_order

    def place(self, record: OrderRecord, context: Any, will_retry_in_progress: bool = False) -> Delivered:
        """Place ``record``'s order (or answer it from the ledger), and log the one line it gets.

        ``will_retry_in_progress``: the caller (a queue batch waiting for a twin record) will try again on
        ``OrderInProgress``, so that answer is not the order's outcome and gets no line of its own."""
        started = time.monotonic()
        order: Order | None = None
        key: str | None = None
        with log.tallied() as tally:
            try:
                order = (self.read_order or validate_order)(record.params, self.settings)
                key = order_key(record, order)
                with log.bound(key=key):
                    done = self._place(record, context, order, key)
            except RelayError as err:
                if not (will_retry_in_progress and isinstance(err, OrderInProgress)):
                    _log_failed(record, err, order, key, started, tally)
                raise
            _log_placed(record, done, key, started, tally)
        return done

    def _place(self, record: OrderRecord, context: Any, order: Order, key: str) -> Delivered:
        creds = resolve_credentials(context)
        source = {"trigger": record.trigger, "message_id": record.message_id}
        kept = summary(order, self.settings.order_api)
        for _ in range(2):  # a second round only after the first proved nothing was ordered
            # Without a pre-check nothing runs between the claim and the paid call: the claim is the attempt mark.
            claim = guard.must(lambda: self.ledger.claim(key, payload_hash(order), kept, source,
                                                         claim_seconds(context, self.config.claim_seconds),
                                                         attempt=not self.config.precheck_quota), key)
            if claim.conflict:
                raise idempotency_conflict()
            try:
                if not claim.owned:
                    return self._existing(claim.record, creds)
                return self.new_order.run(order, claim.record, creds, key)
            except OrderAgain:
                continue
        raise outcome_pending(key)

    def _existing(self, current: LedgerRecord, creds: Credentials | None) -> Delivered:
        """Answer an arrival whose key is already taken, from what the ledger holds."""
        if current.state == CLAIMED:
            remaining = (current.claim_expires_at or time.time()) - time.time()
            raise order_in_progress(max(1, min(30, math.ceil(remaining))))
        if current.state in (ORDERED, DELIVERED):
            return self.delivery.deliver(current, duplicate=True)
        if current.state == FAILED:
            if (current.error or {}).get("Code") == NOT_ORDERED_CODE:
                forget(self.ledger, current)  # CAS placed nothing for it: this arrival orders (raises OrderAgain)
            self.delivery.push_failed(current)
            raise from_value(current.error or {})
        assert current.state == UNKNOWN
        result = self.reconciler.run(current, creds)
        if result.adopted:
            return self.delivery.deliver(result.record, duplicate=True)
        if result.verdict == ABSENT:
            forget(self.ledger, result.record)
        raise outcome_pending(current.key)


def _log_failed(record: OrderRecord, err: RelayError, order: Order | None, key: str | None, started: float,
                tally: dict[str, float]) -> None:
    outcome = "unknown" if isinstance(err, CasOutcomeUnknown | OutcomePending) else (
        "transient" if err.transient else "failed")
    log.emit(
        "order.failed", logging.WARNING, trigger=record.trigger, message_id=record.message_id, key=key,
        domains=list(order.domains) if order else None, product=order.product_code if order else None,
        outcome=outcome, code=err.code, status=status_of(err), cas_request_id=err.cas_request_id,
        fields=loggable_fields(err) or None, latency_ms=round((time.monotonic() - started) * 1000, 1), **tally,
    )


def _log_placed(record: OrderRecord, done: Delivered, key: str | None, started: float,
                tally: dict[str, float]) -> None:
    """``key`` is the order's own: an order the ledger could not save (``done.record`` is None) is logged
    under it too. The line is also the order's metric: its event and outcome count orders, and the tally
    (CAS time, calls, throttles) rides on it instead of lines of its own."""
    rec = done.record
    outcome = "duplicate" if done.duplicate else "placed"
    log.emit(
        f"order.{outcome}", logging.INFO, trigger=record.trigger, message_id=record.message_id,
        key=rec.key if rec else key,
        domains=done.document["Domains"], product=done.document["ProductCode"], outcome=outcome,
        order_id=done.document.get("OrderIdString"), instance_id=done.document.get("InstanceId"),
        cas_request_id=done.document["RequestId"],
        pending_sinks=list(done.pending_sinks) or None, email=rec.order.get("email") if rec else None,
        phone=rec.order.get("phone") if rec else None, latency_ms=round((time.monotonic() - started) * 1000, 1),
        **tally,
    )
