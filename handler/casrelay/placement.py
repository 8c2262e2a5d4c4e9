"""Place one order exactly once and get its outcome to every sink: validated order -> ledger -> CAS -> push.

This is where the two failures that matter are prevented:

- a second paid order: the ledger claim comes first, the paid call is retried only after errors
  that prove CAS did not act, and an ambiguous failure is recorded as ``unknown`` and reconciled,
  never retried blindly;
- a lost OrderId: the OrderId is written to the ledger before any push, a push that fails leaves
  the record ``ordered`` with the sink missing from ``deliveries``, and the next arrival of the same
  order, or the sweep, re-pushes without calling CAS. If even the ledger write fails, the OrderId
  still goes to the sinks, the caller and the log, and the lapsed claim is reconciled by the sweep.

Which failures allow the paid call to be sent again is decided in one place,
``cas.errors.resend_is_safe``; everything else is recorded first.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from . import log
from .cas.credentials import Credentials
from .cas.credentials import resolve as resolve_credentials
from .cas.errors import resend_is_safe
from .cas.gateway import CasGateway, PlacedOrder
from .config import Settings
from .delivery import Delivered, Delivery, error_doc
from .errors import (
    NOT_ORDERED_CODE,
    CasFailed,
    CasOutcomeUnknown,
    CasRefused,
    MissingCredentials,
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
from .reconcile import ABSENT, Reconciled, Reconciler
from .records import OrderRecord
from .response import success_document
from .validation import validate_order

MAX_ATTEMPTS = 3
MAX_BACKOFF_SECONDS = 2.0
__all__ = ["Delivered", "Placement"]


class _OrderAgain(Exception):
    """The record proved that nothing was ordered and was given back: claim the key afresh."""


class Placement:
    def __init__(self, settings: Settings, ledger_config: LedgerConfig, ledger: Ledger, gateway: CasGateway,
                 sinks: Sequence[Sink], sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self.config = ledger_config
        self.ledger = ledger
        self.gateway = gateway
        self.delivery = Delivery(ledger, sinks)
        self.reconciler = Reconciler(ledger, gateway, ledger_config.cancel_duplicates,
                                     ledger_config.reconcile_list_lag_seconds)
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

    def deliver(self, record: LedgerRecord, duplicate: bool) -> Delivered:
        return self.delivery.deliver(record, duplicate)

    def push_failure(self, record: OrderRecord, err: RelayError, order: Order | None) -> tuple[str, ...]:
        return self.delivery.push_failure(record, err, order)

    def reconcile(self, record: LedgerRecord, creds: Credentials | None) -> Reconciled:
        """Reconciliation with the ledger guard: a store failure while adopting leaves the record unknown."""
        try:
            return self.reconciler.run(record, creds)
        except LedgerError as exc:
            log.emit("ledger.write_failed", logging.ERROR, key=record.key, reason=type(exc).__name__)
            return Reconciled(record, "unresolved", 0, reason="the ledger failed while adopting")

    # --- the paid call -----------------------------------------------------------------------

    def _call(self, order: Order, creds: Credentials | None, key: str) -> PlacedOrder:
        tags = self._tags(order, key)
        attempt = 0
        while True:
            attempt += 1
            try:
                return self.gateway.create_order(order, creds, extra_tags=tags)
            except RelayError as err:
                if not resend_is_safe(err) or attempt >= MAX_ATTEMPTS:
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
        for _ in range(2):  # a second round only after the first proved nothing was ordered
            try:
                claim = self.ledger.claim(key, payload_hash(order), self._summary(order), source,
                                          self._claim_seconds(context))
            except LedgerError as exc:
                log.emit("ledger.unavailable", logging.ERROR, key=key, reason=type(exc).__name__)
                raise ledger_unavailable(type(exc).__name__) from None
            if claim.conflict:
                raise idempotency_conflict()
            try:
                if not claim.owned:
                    return self._existing(claim.record, creds)
                return self._order(order, claim.record, creds, key)
            except _OrderAgain:
                continue
        raise outcome_pending(key)

    def _existing(self, current: LedgerRecord, creds: Credentials | None) -> Delivered:
        if current.state == CLAIMED:
            remaining = (current.claim_expires_at or time.time()) - time.time()
            raise order_in_progress(max(1, min(30, math.ceil(remaining))))
        if current.state in (ORDERED, DELIVERED):
            return self.deliver(current, duplicate=True)
        if current.state == FAILED:
            if (current.error or {}).get("Code") == NOT_ORDERED_CODE:
                self._forget(current)  # CAS placed nothing for it: this arrival orders (raises _OrderAgain)
            self.delivery.push_failed(current)
            raise stored_failure(current.error or {})
        assert current.state == UNKNOWN
        result = self.reconcile(current, creds)
        if result.adopted:
            return self.deliver(result.record, duplicate=True)
        if result.verdict == ABSENT:
            self._forget(result.record)
        raise outcome_pending(current.key)

    def _forget(self, record: LedgerRecord) -> None:
        """Give back a key whose order proved not to exist, then order it afresh (``_OrderAgain``)."""
        try:
            self.ledger.release(record)
        except LedgerError as exc:
            log.emit("ledger.release_failed", logging.WARNING, key=record.key, reason=type(exc).__name__)
            raise ledger_unavailable(type(exc).__name__) from None
        raise _OrderAgain

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

    def _refused(self, current: LedgerRecord, err: RelayError) -> None:
        current = self._settle(lambda: self.ledger.failed(current, error_doc(err)), current)
        self.delivery.push_failed(current)

    def _order(self, order: Order, current: LedgerRecord, creds: Credentials | None, key: str) -> Delivered:
        if self.config.precheck_quota:
            try:
                remaining = self.gateway.package_state(order.product_code, creds).remaining
            except RelayError:
                self._release(current)  # a read-only call failed: nothing was ordered
                raise
            if remaining <= 0:
                err = no_package_left(order.product_code)
                self._refused(current, err)
                raise err
        try:
            current = self.ledger.attempting(current)
        except LedgerError as exc:
            self._release(current)
            log.emit("ledger.unavailable", logging.ERROR, key=key, reason=type(exc).__name__)
            raise ledger_unavailable(type(exc).__name__) from None

        try:
            placed = self._call(order, creds, key)
        except CasOutcomeUnknown as err:
            return self._unknown(current, creds, err)
        except CasRefused as err:
            # CAS looked at the order and refused it: permanent, and answered the same way next time.
            self._refused(current, err)
            raise
        except RelayError as err:
            if resend_is_safe(err) or isinstance(err, CasFailed | MissingCredentials):
                # Refused before acting, or never sent: a later arrival may order.
                self._release(current)
                raise
            return self._unknown(current, creds, err)  # anything else proves nothing
        except Exception as exc:  # a bug after the call left: the order may exist, so never retry blindly
            log.emit("internal.error", logging.ERROR, key=key, where=type(exc).__name__)
            return self._unknown(current, creds, cas_outcome_unknown("casrelay failed while placing the order"))

        try:
            current = self.ledger.ordered(current, placed.order_id, placed.request_id)
        except LedgerError as exc:
            # The order exists and the ledger cannot say so: push it and tell the caller anyway. The
            # lapsed claim becomes ``unknown`` and reconciliation (the sweep) adopts this very order.
            log.emit("ledger.order_unrecorded", logging.ERROR, key=key, order_id=str(placed.order_id),
                     cas_request_id=placed.request_id, reason=type(exc).__name__)
            return self._orphan(current, placed, order)
        if current.order_id != placed.order_id:
            # The claim lapsed while the call was out and the key was settled with another order: this one
            # exists too, and must not vanish. Announce it downstream and log both.
            log.emit("order.second_order", logging.ERROR, key=key, order_id=str(placed.order_id),
                     recorded_order_id=str(current.order_id), cas_request_id=placed.request_id)
            return self._orphan(current, placed, order)
        return self.deliver(current, duplicate=False)

    def _orphan(self, current: LedgerRecord, placed: PlacedOrder, order: Order) -> Delivered:
        """Push and answer an order the ledger does not hold, so that its OrderId is not lost."""
        orphan = current.evolve(state=ORDERED, order_id=placed.order_id, cas_request_id=placed.request_id)
        _confirmed, failed = self.delivery.push(self.delivery.message(downstream.CREATED, orphan))
        doc = success_document(placed.order_id, placed.request_id, order.domains, order.product_code)
        return Delivered(doc, None, False, tuple(failed))

    def _unknown(self, current: LedgerRecord, creds: Credentials | None, err: RelayError) -> Delivered:
        try:
            current = self.ledger.unknown(current, error_doc(err), note=err.message)
        except LedgerError as exc:
            # The claim (with its attempt mark) lapses into ``unknown`` by itself; the sweep reconciles it.
            log.emit("ledger.write_failed", logging.ERROR, key=current.key, reason=type(exc).__name__)
            raise err from None
        result = self.reconcile(current, creds)
        if result.adopted:
            return self.deliver(result.record, duplicate=False)
        if result.verdict == ABSENT:
            self._forget(result.record)
        raise err
