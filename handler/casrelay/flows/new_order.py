"""An owned claim becomes a paid order: pre-check, attempt mark, the paid call, and its outcome recorded.

Every way the paid call can end is written down before anything else happens:

- an OrderId: saved before any push, so a failing sink can never lose it; if even that write fails,
  the OrderId still goes to the sinks, the caller and the log, and the sweep adopts it later;
- a refusal that proves nothing was spent: the record fails with it (CAS refused the order) or the
  key is given back (the request never left, or the deployment's credentials were refused);
- anything else: the record becomes ``unknown`` and is reconciled against CAS's own list, never
  sent again blindly.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from .. import log
from ..cas.credentials import Credentials
from ..cas.errors import resend_is_safe
from ..errors import (
    CasFailed,
    CasOutcomeUnknown,
    CasRefused,
    InstanceInUse,
    LedgerUnavailable,
    MissingCredentials,
    RelayError,
    cas_outcome_unknown,
    precheck_no_package,
)
from ..ledger import FAILED, ORDERED, Ledger, LedgerConfig, LedgerRecord, guard
from ..ledger.key import key_tags
from ..ledger.lease import InstanceLeases
from ..order import Order
from ..ordering import Attempt, OrderingBackend, PlacedOrder
from ..push import message as downstream
from ..response import stored_error
from .delivery import Delivered, Delivery, document_of
from .lease import OrderReservation
from .reconcile import ABSENT, Reconciler
from .retry import PaidCall


class OrderAgain(Exception):
    """The record proved that nothing was ordered and was given back: claim the key afresh."""


def forget(ledger: Ledger, record: LedgerRecord) -> None:
    """Give back a key whose order proved not to exist, then order it afresh (raises ``OrderAgain``)."""
    guard.must(lambda: ledger.release(record), record.key, event="ledger.release_failed", level=logging.WARNING)
    raise OrderAgain


#: Seconds kept back from the claim's end for recording the outcome after the paid call returns.
_MARGIN_SECONDS = 8.0


def call_deadline(record: LedgerRecord) -> float | None:
    """When the paid call must be done (``time.monotonic()``): the claim runs 5 s past the invocation."""
    if record.claim_expires_at is None:
        return None
    return time.monotonic() + max(0.0, record.claim_expires_at - time.time() - _MARGIN_SECONDS)


class NewOrder:
    def __init__(self, config: LedgerConfig, ledger: Ledger, backend: OrderingBackend, paid_call: PaidCall,
                 delivery: Delivery, reconciler: Reconciler) -> None:
        self.config = config
        self.ledger = ledger
        self.backend = backend
        self.paid_call = paid_call
        self.delivery = delivery
        self.reconciler = reconciler
        self.leases = InstanceLeases(ledger)

    def run(self, order: Order, current: LedgerRecord, creds: Credentials | None, key: str) -> Delivered:
        if current.attempted_at is None:  # the claim did not carry the attempt mark: write it now
            if self.config.precheck_quota:
                self._precheck(order, current, creds)
            owned = current
            try:
                current = guard.must(lambda: self.ledger.attempting(owned), key)
            except LedgerUnavailable:
                self._release(owned)  # the mark was not written, so the paid call does not leave
                raise
        return self._call(order, current, creds, key)

    def _precheck(self, order: Order, current: LedgerRecord, creds: Credentials | None) -> None:
        """``PRECHECK_QUOTA``: a read-only DescribePackageState before the paid call; an empty package is
        a refusal recorded like CAS's own."""
        try:
            remaining = self.backend.quota(order.product_code, creds).remaining
        except RelayError:
            self._release(current)  # a read-only call failed: nothing was ordered
            raise
        if remaining <= 0:
            err = precheck_no_package(order.product_code)
            self._refused(current, err)
            raise err

    def _call(self, order: Order, current: LedgerRecord, creds: Credentials | None, key: str) -> Delivered:
        # A backend that chooses what to spend (V2.0 instances) leases it through ``lease``, which rewrites the
        # record: every write below starts from ``lease.record``.
        lease = OrderReservation(self.leases, current)
        attempt = Attempt(key, lease, call_deadline(current))
        try:
            placed = self.paid_call.send(order, creds, key, key_tags(self.config.order_tag_key, order, key), attempt)
        except CasOutcomeUnknown as err:
            return self._unknown(lease.record, creds, err)
        except CasRefused as err:
            # CAS looked at the order and refused it: permanent, and answered the same way next time.
            self._refused(lease.record, err)
            raise
        except RelayError as err:
            if resend_is_safe(err) or isinstance(err, CasFailed | MissingCredentials | LedgerUnavailable
                                                  | InstanceInUse):
                self._release(lease.record)  # refused before acting, or never sent: a later arrival may order
                raise
            return self._unknown(lease.record, creds, err)  # anything else proves nothing
        except Exception as exc:  # a bug after the call left: the order may exist, so never retry blindly
            log.emit("internal.error", logging.ERROR, key=key, where=type(exc).__name__)
            return self._unknown(lease.record, creds,
                                 cas_outcome_unknown("casrelay failed while placing the order"))
        return self._record(order, lease.record, placed, key)

    def _record(self, order: Order, current: LedgerRecord, placed: PlacedOrder, key: str) -> Delivered:
        saved = guard.settle(lambda: self.ledger.ordered(current, placed.order_id, placed.request_id,
                                                         instance_id=placed.instance_id,
                                                         certificate_id=placed.certificate_id), key,
                             fallback=None, event="ledger.order_unrecorded", order_id=str(placed.order_id),
                             instance_id=placed.instance_id, cas_request_id=placed.request_id)
        if saved is None:
            # The order exists and the ledger cannot say so: push it and tell the caller anyway. The lapsed
            # claim becomes ``unknown`` and reconciliation (the sweep) adopts this very order.
            return self._orphan(current, placed, order)
        if (saved.order_id, saved.instance_id) != (placed.order_id, placed.instance_id):
            # The claim lapsed while the call was out and the key was settled with another order: this one
            # exists too, and must not vanish. Announce it downstream and log both.
            # Both named in the generation's terms: an operator refunds or uses the order (or instance) spent twice.
            log.emit("order.second_order", logging.ERROR, key=key,
                     order_id=None if placed.order_id is None else str(placed.order_id),
                     recorded_order_id=None if saved.order_id is None else str(saved.order_id),
                     instance_id=placed.instance_id, recorded_instance_id=saved.instance_id,
                     cas_request_id=placed.request_id)
            return self._orphan(saved, placed, order)
        return self.delivery.deliver(saved, duplicate=False)

    def _release(self, record: LedgerRecord) -> None:
        """Give the key back after CAS certainly did not act. If even that fails, the claim lapses on its
        own; because the call may have been attempted, the key then goes through reconciliation."""
        guard.attempt(lambda: self.ledger.release(record), record.key, event="ledger.release_failed")

    def _refused(self, current: LedgerRecord, err: RelayError) -> None:
        value = stored_error(err)
        # If the ledger cannot record the refusal, the sinks still get it, with CAS's code: the fallback is the
        # record the write would have made (its later delivery note may still land it in the ledger).
        refused = current.evolve(state=FAILED, error=value, claim_token=None, claim_expires_at=None)
        current = guard.settle(lambda: self.ledger.failed(current, value), current.key, fallback=refused)
        self.delivery.push_failed(current)

    def _orphan(self, current: LedgerRecord, placed: PlacedOrder, order: Order) -> Delivered:
        """Push and answer an order the ledger does not hold, so that its OrderId is not lost."""
        orphan = current.evolve(state=ORDERED, order_id=placed.order_id, cas_request_id=placed.request_id,
                                instance_id=placed.instance_id or current.instance_id,
                                certificate_id=placed.certificate_id)
        _confirmed, failed = self.delivery.push(self.delivery.message(downstream.CREATED, orphan))
        return Delivered(document_of(orphan), None, False, tuple(failed))

    def _unknown(self, current: LedgerRecord, creds: Credentials | None, err: RelayError) -> Delivered:
        # If this write fails, the claim (with its attempt mark) lapses into ``unknown`` by itself, and the
        # sweep reconciles it.
        unknown: Any = guard.settle(lambda: self.ledger.unknown(current, stored_error(err), note=err.message),
                                    current.key, fallback=None)
        if unknown is None:
            raise err from None
        result = self.reconciler.run(unknown, creds)
        if result.adopted:
            return self.delivery.deliver(result.record, duplicate=False)
        if result.verdict == ABSENT:
            forget(self.ledger, result.record)
        raise err
