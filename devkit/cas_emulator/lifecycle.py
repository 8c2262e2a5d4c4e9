"""The V1.0 order lifecycle, opt-in: an order moves by itself from validation to its certificate or failure.

Without a ``Lifecycle`` the emulator's orders stay in the status they were given (``set_order_status`` moves
them), as before. With one, every order placed follows what the DescribeCertificateState documentation and
the SDK model (``alibabacloud_cas20200407`` 3.9.4, models/_describe_certificate_state_response_body.py) describe:

- ``domain_verify`` (status PAYED) until its validation is seen: for DNS, the TXT record ``RecordDomain`` =
  ``RecordValue`` exists in the DNS the lifecycle was given (an ``AlidnsEmulator``, or any callable answering
  "does this TXT record exist"); for FILE, a test has published ``Content`` at ``Uri`` (``publish_file``).
- ``process`` (CHECKING) for ``review_seconds`` (DV is typically issued 1-15 minutes after validation,
  alibabacloud.com "application review results processing"), then ``certificate`` (ISSUED), with a PEM from
  the emulator's throwaway CA whose SANs are the order's names, and ``PrivateKey`` only when CAS made the key
  (no ``Csr``; with a CSR the field is left out, as the key never left the client).
- ``verify_fail`` (CHECKED_FAIL) when the order is not issued by the CA's deadline: DV (and free) orders two
  calendar days after they were placed, OV/EV thirty (same source). DeleteCertificateRequest then deletes it
  and, as the documentation says a deleted order does not consume quota, gives its unit back to the package.

The CA's time is the emulator's ``clock`` plus ``advance_ca_clock`` offsets: moving the CA two days on must
not move the gateway's x-acs-date check, or every signed call would be refused as stale. Transitions are
worked out lazily, under the lock, whenever a call or a test looks at an order, as the CA's own checks are
periodic: a record must exist at some look before the deadline to count (UNCONFIRMED how often CAS checks).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .actions import Call, CasActions, _cert_type, _domain_verify_fields
from .protocol import ACTION_DELETE, ApiError
from .state import EmulatedOrder

DV_DEADLINE_SECONDS = 2 * 86400.0
OV_EV_DEADLINE_SECONDS = 30 * 86400.0
DEFAULT_REVIEW_SECONDS = 60.0
DEADLINE_REASON = "domain validation was not completed before the CA's deadline"


class TxtLookup(Protocol):
    def has_txt(self, name: str, value: str) -> bool: ...


@dataclass(frozen=True)
class Lifecycle:
    """The lifecycle's settings. ``dns`` answers whether a TXT record exists: an object with ``has_txt``
    (``AlidnsEmulator``) or a ``(name, value) -> bool`` callable; None means no DNS validation ever succeeds."""

    dns: TxtLookup | Callable[[str, str], bool] | None = None
    review_seconds: float = DEFAULT_REVIEW_SECONDS
    dv_deadline_seconds: float = DV_DEADLINE_SECONDS
    ov_ev_deadline_seconds: float = OV_EV_DEADLINE_SECONDS

    def txt_exists(self, name: str, value: str) -> bool:
        if self.dns is None:
            return False
        if hasattr(self.dns, "has_txt"):
            return bool(self.dns.has_txt(name, value))
        return bool(self.dns(name, value))

    def deadline_seconds(self, product_code: str) -> float:
        return self.ov_ev_deadline_seconds if _cert_type(product_code) in ("OV", "EV") else self.dv_deadline_seconds


@dataclass
class OrderTrack:
    """What the CA knows of one order beyond its status: when (CA time) it was placed and validated, why it failed."""

    placed_s: float
    validated_s: float | None = None
    failure: str | None = None
    deleted: bool = False


@dataclass
class _LifecycleState:
    settings: Lifecycle | None
    offset_s: float = 0.0
    tracks: dict[int, OrderTrack] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)


class OrderLifecycle(CasActions):
    """The V1 actions with the lifecycle laid over them, and DeleteCertificateRequest."""

    _lock: threading.RLock
    _life: _LifecycleState

    def _init_lifecycle(self, settings: Lifecycle | None) -> None:
        self._life = _LifecycleState(settings)

    def _action_handlers(self) -> dict[str, Any]:
        return {**super()._action_handlers(), ACTION_DELETE: self._delete_request}

    # ------------------------------------------------------------------ public controls

    def ca_time(self) -> float:
        """The CA's clock: the emulator's ``clock`` plus every ``advance_ca_clock``."""
        with self._lock:
            return self._clock() + self._life.offset_s

    def advance_ca_clock(self, seconds: float) -> None:
        """Move the CA's clock on (validation deadlines, review time), leaving the signature check's clock alone."""
        with self._lock:
            self._life.offset_s += seconds

    def publish_file(self, uri: str, content: str) -> None:
        """Serve ``content`` at ``uri`` as the CA's FILE validation sees it; ``withdraw_file`` undoes it."""
        with self._lock:
            self._life.files[uri] = content

    def withdraw_file(self, uri: str) -> None:
        with self._lock:
            self._life.files.pop(uri, None)

    def order_track(self, order_id: int) -> OrderTrack | None:
        """The lifecycle's record of an order (None without a lifecycle), after any transition now due."""
        with self._lock:
            order = self._orders.get(order_id)
            if order is not None:
                self._ripen_order(order)
            track = self._life.tracks.get(order_id)
            return copy.copy(track) if track else None

    def orders(self) -> list[EmulatedOrder]:
        with self._lock:
            self._ripen_orders()
            return super().orders()

    def get_order(self, order_id: int) -> EmulatedOrder:
        with self._lock:
            self._ripen_orders()
            return super().get_order(order_id)

    # ------------------------------------------------------------------ transitions

    def _ripen_orders(self) -> None:
        for order in self._orders.values():
            self._ripen_order(order)

    def _validated(self, order: EmulatedOrder) -> bool:
        fields = _domain_verify_fields(order)
        settings = self._life.settings
        if order.validate_type == "FILE":
            return self._life.files.get(fields["Uri"]) == fields["Content"]
        return settings is not None and settings.txt_exists(fields["RecordDomain"], fields["RecordValue"])

    def _ripen_order(self, order: EmulatedOrder) -> None:
        """Apply every transition due by the CA's time now (caller holds the lock)."""
        settings, track = self._life.settings, self._life.tracks.get(order.order_id)
        if settings is None or track is None or order.cancelled:
            return
        now = self.ca_time()
        deadline = track.placed_s + settings.deadline_seconds(order.product_code)
        if order.status == "PAYED" and now < deadline and self._validated(order):
            order.status, track.validated_s = "CHECKING", now
        if order.status == "CHECKING":
            validated = track.validated_s if track.validated_s is not None else now
            track.validated_s = validated
            due = validated + settings.review_seconds
            if due <= now and due < deadline:
                order.status = "ISSUED"
                if order.certificate_pem is None:
                    self._issuer.issue(order, due)
        if order.status in ("PAYED", "CHECKING") and now >= deadline:
            order.status, track.failure = "CHECKED_FAIL", DEADLINE_REASON

    # ------------------------------------------------------------------ actions

    def _create_order(self, params: dict[str, str], call: Call) -> dict[str, Any]:
        result = super()._create_order(params, call)
        with self._lock:
            if self._life.settings is not None:
                self._life.tracks[result["OrderId"]] = OrderTrack(placed_s=self.ca_time())
        return result

    def _describe_certificate_state(self, params: dict[str, str], call: Call) -> dict[str, Any]:
        with self._lock:
            self._ripen_order(self._lookup(params))
            result = super()._describe_certificate_state(params, call)
            if self._life.settings is not None and result["Type"] == "certificate" and self._lookup(params).csr:
                result.pop("PrivateKey", None)  # the client made the key; CAS has none to return
            return result

    def _list_orders(self, params: dict[str, str], call: Call) -> dict[str, Any]:
        with self._lock:
            self._ripen_orders()
            return super()._list_orders(params, call)

    def _delete_request(self, params: dict[str, str], call: Call) -> dict[str, Any]:
        """DeleteCertificateRequest (help.aliyun.com/document_detail/455294): deletes an order that failed review
        (``verify_fail``) and returns its quota unit; any other status is 403 OrderStateError, an unknown or
        deleted order 404 NotFoundOrder. The documented second case, an order withdrawn with CancelOrderRequest,
        is not emulated (that call is not). Answers only ``RequestId``."""
        with self._lock:
            order = self._lookup(params)
            self._ripen_order(order)
            if order.status != "CHECKED_FAIL":
                raise ApiError(403, "OrderStateError", f"The order {order.order_id} is {order.status}; only an "
                                                      "order that failed review can be deleted.")
            order.cancelled = True  # gone for every call, not listed, not a paid order (see EmulatedOrder)
            track = self._life.tracks.setdefault(order.order_id, OrderTrack(placed_s=self.ca_time()))
            track.deleted = True
            pkg = self._packages.get(order.product_code)
            if pkg is not None and pkg.used > 0:
                pkg.used -= 1
        return {}
