"""Place one order exactly once and get its outcome to every sink: validated order -> ledger -> CAS -> push.

This is where the two failures that matter are prevented:

- a second paid order: the ledger claim comes first, the paid call is retried only after errors
  that prove CAS did not act, and an ambiguous failure is recorded as ``unknown`` and reconciled,
  never retried blindly;
- a lost OrderId: the OrderId is written to the ledger before any push, a push that fails leaves
  the record ``ordered`` with the sink missing from ``deliveries``, and the next arrival of the same
  order re-pushes without calling CAS. If even the ledger write fails, the OrderId still goes to the
  sinks, the caller and the log, and the lapsed claim is reconciled later.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from . import log
from .cas.credentials import Credentials
from .cas.credentials import resolve as resolve_credentials
from .cas.gateway import CasGateway, PlacedOrder
from .config import Settings
from .errors import (
    CasFailed,
    CasOutcomeUnknown,
    CasThrottled,
    CasUnavailable,
    RelayError,
    cas_outcome_unknown,
    idempotency_conflict,
    ledger_unavailable,
    no_package_left,
    order_in_progress,
    outcome_pending,
    stored_failure,
)
from .ledger import CLAIMED, DELIVERED, FAILED, ORDERED, UNKNOWN, Ledger, LedgerConfig, LedgerRecord
from .ledger.exceptions import LedgerError
from .ledger.key import derived_key, explicit_key, payload_hash, short_tag_value
from .order import Order
from .push import message as downstream
from .push.base import Sink
from .push.exceptions import SinkError
from .reconcile import Reconciler
from .records import OrderRecord
from .response import error_document, success_document
from .validation import validate_order

MAX_ATTEMPTS = 3
MAX_BACKOFF_SECONDS = 2.0
#: CAS codes that prove the request was refused before it was looked at, and may succeed if resent.
RETRYABLE_NOT_ACTED = ("SignatureNonceUsed", "InvalidTimeStamp")


@dataclass(frozen=True)
class Delivered:
    """An order that exists, with the sinks that still lack its message."""

    document: dict[str, Any]
    record: LedgerRecord | None
    duplicate: bool
    pending_sinks: tuple[str, ...] = ()


def _error_doc(err: RelayError) -> dict[str, Any]:
    doc = error_document(err, None)
    doc["Status"] = err.status
    return doc


class Placement:
    def __init__(self, settings: Settings, ledger_config: LedgerConfig, ledger: Ledger, gateway: CasGateway,
                 sinks: Sequence[Sink], sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self.config = ledger_config
        self.ledger = ledger
        self.gateway = gateway
        self.sinks = list(sinks)
        self.reconciler = Reconciler(ledger, gateway, ledger_config.cancel_duplicates)
        self._sleep = sleep

    # --- helpers -----------------------------------------------------------------------------

    def _claim_seconds(self, context: Any) -> float:
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        if callable(remaining):
            try:
                return max(5.0, float(remaining()) / 1000 + 5)
            except (TypeError, ValueError):
                pass
        timeout = getattr(getattr(context, "function", None), "timeout", None)
        if isinstance(timeout, (int, float)) and timeout > 0:
            return float(timeout) + 5
        return float(self.config.claim_seconds)

    @staticmethod
    def _summary(order: Order) -> dict[str, Any]:
        # Contacts are kept masked: the ledger needs them only to say whose order it was in a log line.
        return {"domains": list(order.domains), "product": order.product_code, "validate": order.validate_type,
                "email": log.mask_email(order.email), "phone": log.mask_phone(order.phone)}

    def _message(self, kind: str, record: LedgerRecord, error: dict[str, Any] | None = None) -> dict[str, Any]:
        return downstream.build(
            kind, key=record.key, id_basis=record.key, trigger=str(record.source.get("trigger", "http")),
            source_message_id=record.source.get("message_id"), domains=record.order.get("domains", []),
            product_code=record.order.get("product"), validate_type=record.order.get("validate"),
            order_id=record.order_id, request_id=record.cas_request_id,
            ordered_at=record.updated_at if record.order_id is not None else None, error=error,
        )

    def push(self, message: dict[str, Any], skip: set[str] | frozenset[str] = frozenset()) -> tuple[list[str],
                                                                                                    list[str]]:
        """Push to every sink not in ``skip``; return (confirmed, failed) sink names."""
        confirmed, failed = [], []
        for sink in self.sinks:
            if sink.name in skip:
                continue
            try:
                sink.push(message, message["Id"])
                confirmed.append(sink.name)
            except SinkError as err:
                failed.append(sink.name)
                log.metric("sink.failures", 1, sink=sink.name, transient=err.transient)
                log.emit("sink.failed", logging.WARNING, sink=sink.name, message_id=message["Id"],
                         type=message["Type"], reason=str(err)[:200], transient=err.transient)
            except Exception as exc:  # a broken sink must not lose the order; it stays pending
                failed.append(sink.name)
                log.metric("sink.failures", 1, sink=sink.name, transient=True)
                log.emit("sink.failed", logging.ERROR, sink=sink.name, message_id=message["Id"],
                         type=message["Type"], reason=type(exc).__name__)
        return confirmed, failed

    def _push_tracked(self, kind: str, record: LedgerRecord, error: dict[str, Any] | None = None
                      ) -> tuple[LedgerRecord, tuple[str, ...]]:
        message = self._message(kind, record, error)
        confirmed, failed = self.push(message, set(record.deliveries))
        if confirmed:
            try:
                record = self.ledger.delivered(record, confirmed, [s.name for s in self.sinks])
            except LedgerError as exc:
                log.emit("ledger.delivery_unrecorded", logging.WARNING, key=record.key, reason=type(exc).__name__)
        return record, tuple(failed)

    def push_failure(self, record: OrderRecord, err: RelayError, order: Order | None) -> tuple[str, ...]:
        """Report a record that will never be ordered (invalid, or refused before the ledger) downstream."""
        basis = f"{record.trigger}:{record.message_id}" if record.message_id else f"{record.trigger}:{record.params!r}"
        message = downstream.build(
            downstream.FAILED, key=None, id_basis=basis, trigger=record.trigger, source_message_id=record.message_id,
            domains=list(order.domains) if order else [], product_code=order.product_code if order else None,
            validate_type=order.validate_type if order else None, error=_error_doc(err),
        )
        return tuple(self.push(message)[1])

    def deliver(self, record: LedgerRecord, duplicate: bool) -> Delivered:
        pending: tuple[str, ...] = ()
        if record.state != DELIVERED:
            record, pending = self._push_tracked(downstream.CREATED, record)
        assert record.order_id is not None
        doc = success_document(record.order_id, record.cas_request_id or "", tuple(record.order.get("domains", [])),
                               str(record.order.get("product", "")))
        return Delivered(doc, record, duplicate, pending)

    # --- the paid call -----------------------------------------------------------------------

    def _call(self, order: Order, creds: Credentials | None, key: str) -> PlacedOrder:
        tags = self._tags(order, key)
        attempt = 0
        while True:
            attempt += 1
            try:
                return self.gateway.create_order(order, creds, extra_tags=tags)
            except (CasThrottled, CasUnavailable, CasFailed) as err:
                retryable = not isinstance(err, CasFailed) or (err.cas_code or "").startswith(RETRYABLE_NOT_ACTED)
                if not retryable or attempt >= MAX_ATTEMPTS:
                    raise
                wait = min(float(err.retry_after or 0) or 0.2 * 2**attempt, MAX_BACKOFF_SECONDS)
                log.emit("cas.retry", key=key, attempt=attempt, code=err.cas_code or err.code, wait_s=wait)
                self._sleep(wait)

    # --- the flow ----------------------------------------------------------------------------

    def _tags(self, order: Order, key: str) -> tuple[tuple[str, str], ...]:
        if self.config.order_tag_key and len(order.tags) < 20:
            return ((self.config.order_tag_key, short_tag_value(key)),)
        return ()

    def is_dry_run(self, record: OrderRecord) -> bool:
        flag = record.params.get("DryRun")
        return self.settings.dry_run or flag is True or str(flag).lower() == "true"

    @staticmethod
    def _key(record: OrderRecord, order: Order) -> str:
        raw = record.idempotency_key or record.params.get("IdempotencyKey")
        return explicit_key(str(raw)) if raw else derived_key(order)

    def dry_run(self, record: OrderRecord, context: Any) -> dict[str, Any]:
        """Validate and sign, touch neither the ledger nor CAS, and say what would have been sent."""
        order = validate_order(record.params, self.settings)
        key = self._key(record, order)
        preview = self.gateway.preview(order, resolve_credentials(context), self._tags(order, key))
        preview["IdempotencyKey"] = key
        return preview

    def place(self, record: OrderRecord, context: Any) -> Delivered:
        order = validate_order(record.params, self.settings)
        key = self._key(record, order)
        try:
            return self._place(record, context, order, key)
        except RelayError as err:
            err.log_fields.update(key=key, domains=list(order.domains), product=order.product_code)
            raise

    def _place(self, record: OrderRecord, context: Any, order: Order, key: str) -> Delivered:
        creds = resolve_credentials(context)
        source = {"trigger": record.trigger, "message_id": record.message_id}
        try:
            claim = self.ledger.claim(key, payload_hash(order), self._summary(order), source,
                                      self._claim_seconds(context))
        except LedgerError as exc:
            raise ledger_unavailable(type(exc).__name__) from None
        if claim.conflict:
            raise idempotency_conflict()
        current = claim.record
        if not claim.owned:
            return self._existing(current, creds)
        return self._order(order, current, creds, key)

    def _existing(self, current: LedgerRecord, creds: Credentials | None) -> Delivered:
        if current.state == CLAIMED:
            remaining = (current.claim_expires_at or time.time()) - time.time()
            raise order_in_progress(max(1, min(30, math.ceil(remaining))))
        if current.state in (ORDERED, DELIVERED):
            return self.deliver(current, duplicate=True)
        if current.state == FAILED:
            self._push_tracked(downstream.FAILED, current, current.error)
            raise stored_failure(current.error or {})
        assert current.state == UNKNOWN
        result = self.reconciler.run(current, creds)
        if result.adopted:
            return self.deliver(result.record, duplicate=True)
        self._push_tracked(downstream.UNKNOWN, result.record, current.error or {"Code": "CasOutcomeUnknown",
                                                                                  "Message": current.note or ""})
        raise outcome_pending(current.key)

    def _release(self, record: LedgerRecord) -> None:
        """Give the key back after CAS certainly did not act. If even that fails, the claim lapses on its
        own; because the call may have been attempted, the key then goes through reconciliation."""
        try:
            self.ledger.release(record)
        except LedgerError as exc:
            log.emit("ledger.release_failed", logging.WARNING, key=record.key, reason=type(exc).__name__)

    def _settle(self, write: Callable[[], LedgerRecord], fallback: LedgerRecord) -> LedgerRecord:
        """A ledger write after CAS answered; if the store fails, the caller still gets CAS's answer."""
        try:
            return write()
        except LedgerError as exc:
            log.emit("ledger.write_failed", logging.ERROR, key=fallback.key, reason=type(exc).__name__)
            return fallback

    def _order(self, order: Order, current: LedgerRecord, creds: Credentials | None, key: str) -> Delivered:
        if self.config.precheck_quota:
            try:
                remaining = self.gateway.package_state(order.product_code, creds).remaining
            except RelayError:
                self._release(current)  # a read-only call failed: nothing was ordered
                raise
            if remaining <= 0:
                err = no_package_left(order.product_code)
                current = self._settle(lambda: self.ledger.failed(current, _error_doc(err)), current)
                self._push_tracked(downstream.FAILED, current, _error_doc(err))
                raise err
        try:
            current = self.ledger.attempting(current)
        except LedgerError as exc:
            self._release(current)
            raise ledger_unavailable(type(exc).__name__) from None

        try:
            placed = self._call(order, creds, key)
        except (CasThrottled, CasUnavailable, CasFailed):
            self._release(current)  # CAS certainly did not act: a later arrival may order
            raise
        except CasOutcomeUnknown as err:
            return self._unknown(current, creds, err)
        except RelayError as err:
            # CAS looked at the order and refused it: permanent, and answered the same way next time.
            current = self._settle(lambda: self.ledger.failed(current, _error_doc(err)), current)
            self._push_tracked(downstream.FAILED, current, _error_doc(err))
            raise
        except Exception as exc:  # a bug after the call left: the order may exist, so never retry blindly
            log.emit("internal.error", logging.ERROR, key=key, where=type(exc).__name__)
            return self._unknown(current, creds, cas_outcome_unknown("casrelay failed while placing the order"))

        try:
            current = self.ledger.ordered(current, placed.order_id, placed.request_id)
        except LedgerError as exc:
            # The order exists and the ledger cannot say so: push it and tell the caller anyway. The
            # lapsed claim becomes ``unknown`` and reconciliation adopts this very order.
            log.emit("ledger.order_unrecorded", logging.ERROR, key=key, order_id=str(placed.order_id),
                     cas_request_id=placed.request_id, reason=type(exc).__name__)
            orphan = current.evolve(state=ORDERED, order_id=placed.order_id, cas_request_id=placed.request_id)
            _confirmed, failed = self.push(self._message(downstream.CREATED, orphan))
            doc = success_document(placed.order_id, placed.request_id, order.domains, order.product_code)
            return Delivered(doc, None, False, tuple(failed))
        return self.deliver(current, duplicate=False)

    def _unknown(self, current: LedgerRecord, creds: Credentials | None, err: RelayError) -> Delivered:
        try:
            current = self.ledger.unknown(current, _error_doc(err), note=err.message)
        except LedgerError as exc:
            # The claim (with its attempt mark) lapses into ``unknown`` by itself; reconcile it then.
            log.emit("ledger.write_failed", logging.ERROR, key=current.key, reason=type(exc).__name__)
            raise err from None
        result = self.reconciler.run(current, creds)
        if result.adopted:
            return self.deliver(result.record, duplicate=False)
        self._push_tracked(downstream.UNKNOWN, result.record, _error_doc(err))
        raise err
