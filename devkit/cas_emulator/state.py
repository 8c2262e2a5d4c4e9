"""The emulated account: certificate packages and their quotas, orders, the list lag, flow control.

This is what a client's retry logic can get wrong (a second order spends a second quota unit), so it
is kept in one place with the methods tests use to set it up and to inspect it afterwards. The
records are deliberately not the handler's: ``EmulatedOrder`` and ``EmulatedPackage`` are what the
emulated service stores, not what casrelay's own ``Order`` and gateway ``PackageState`` hold, and
the names say so.

``AccountState`` is one of the classes ``CasEmulator`` is assembled from; it shares the emulator's
one re-entrant lock (``_lock``) with the others.
"""

from __future__ import annotations

import copy
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .issuing import CertificateIssuer
from .protocol import (
    DEFAULT_PRODUCT_CODE,
    DEFAULT_QUOTA,
    DEMO_ACCESS_KEY_ID,
    DEMO_STS_ACCESS_KEY_ID,
    DOCUMENTED_STATUSES,
    FIRST_ORDER_ID,
    PRODUCT_CODES,
)


@dataclass
class EmulatedOrder:
    """A stored order. ``params`` is every business parameter exactly as decoded from the wire."""

    order_id: int
    instance_id: str
    domain: str
    domains: list[str]
    product_code: str
    validate_type: str
    tags: list[dict[str, str]]
    status: str
    params: dict[str, str]
    access_key_id: str
    request_id: str
    created_ms: int
    key_algorithm: str
    csr: str | None
    validation_token: str
    #: Cancelled while pending (quota returned). Not a status: CAS documents none for it, and the order is
    #: no longer listed; ``orders()`` still returns it so that tests can tell it apart.
    cancelled: bool = False
    cert_id: int | None = None
    cert_start_ms: int | None = None
    cert_end_ms: int | None = None
    certificate_pem: str | None = None
    private_key_pem: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class EmulatedPackage:
    """A snapshot of one certificate package, as DescribePackageState reports it."""

    product_code: str
    total: int
    used: int
    issued: int

    @property
    def remaining(self) -> int:
        return max(self.total - self.used, 0)


@dataclass
class PackageQuota:
    """The mutable counters behind an ``EmulatedPackage``."""

    total: int
    used: int = 0


#: The emulator's two demo keys belong to one account, as an FC role's STS key and its account's own key do.
DEMO_ACCOUNTS: Mapping[str, str] = {DEMO_ACCESS_KEY_ID: "demo-account", DEMO_STS_ACCESS_KEY_ID: "demo-account"}


class RateLimiter:
    """Sliding one-second window per (account, action); only admitted calls use up the window.

    CAS counts its 10 QPS per account and API, not per access key: an STS key and the long-term key of
    one account share one window. ``accounts`` maps an access key id to its account; a key it does not
    name is an account of its own. The default keeps one window per key (``DEMO_ACCOUNTS`` puts the two
    demo keys in one account, as in real CAS): a test that wants the shared window says so.
    """

    def __init__(self, qps: int | None, accounts: Mapping[str, str] | None = None) -> None:
        self.qps = qps
        self.accounts = dict(accounts or {})
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], deque[float]] = {}

    def admit(self, access_key_id: str, action: str, now: float) -> bool:
        if not self.qps:
            return True
        account = self.accounts.get(access_key_id, access_key_id)
        with self._lock:
            window = self._windows.setdefault((account, action), deque())
            while window and now - window[0] >= 1.0:
                window.popleft()
            if len(window) >= self.qps:
                return False
            window.append(now)
            return True

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()


class AccountState:
    """Packages, orders and the list lag of the emulated account, with their public controls."""

    _lock: threading.RLock
    _clock: Callable[[], float]
    _packages: dict[str, PackageQuota]
    _orders: dict[int, EmulatedOrder]
    _next_order_id: int
    _initial_status: str
    _list_lag_s: float
    _issuer: CertificateIssuer

    def _init_account(self, *, quotas: Mapping[str, int] | None, initial_order_status: str,
                      list_lag_seconds: float) -> None:
        if initial_order_status not in DOCUMENTED_STATUSES:
            raise ValueError(f"{initial_order_status!r} is not a documented status: {DOCUMENTED_STATUSES}")
        self._initial_status = initial_order_status
        self._list_lag_s = float(list_lag_seconds)
        initial = {code: DEFAULT_QUOTA for code in PRODUCT_CODES} if quotas is None else dict(quotas)
        self._packages = {code: PackageQuota(total) for code, total in initial.items()}
        self._orders = {}
        self._next_order_id = FIRST_ORDER_ID
        self._issuer = CertificateIssuer()

    # ------------------------------------------------------------------ quotas

    def _known_product(self, product_code: str) -> bool:
        return product_code in PRODUCT_CODES or product_code in self._packages

    def _issued_count(self, product_code: str) -> int:
        return sum(1 for o in self._orders.values() if o.product_code == product_code and o.cert_id is not None)

    def quota(self, product_code: str = DEFAULT_PRODUCT_CODE) -> EmulatedPackage:
        with self._lock:
            pkg = self._packages.get(product_code)
            total, used = (pkg.total, pkg.used) if pkg else (0, 0)
            return EmulatedPackage(product_code, total, used, self._issued_count(product_code))

    def quotas(self) -> dict[str, EmulatedPackage]:
        with self._lock:
            return {code: self.quota(code) for code in self._packages}

    def set_quota(self, product_code: str, total: int | None, *, used: int | None = None) -> None:
        """Set TotalCount (and optionally UsedCount); ``total=None`` removes the package entirely."""
        with self._lock:
            if total is None:
                self._packages.pop(product_code, None)
                return
            pkg = self._packages.setdefault(product_code, PackageQuota(total))
            pkg.total = total
            if used is not None:
                pkg.used = used

    # ------------------------------------------------------------------ orders

    def orders(self) -> list[EmulatedOrder]:
        """Copies of all orders, oldest first, cancelled ones included (see ``EmulatedOrder.cancelled``)."""
        with self._lock:
            return [copy.deepcopy(o) for o in self._orders.values()]

    def paid_orders(self) -> list[EmulatedOrder]:
        """Copies of the orders that spent a package unit: every order not cancelled (revoked ones too)."""
        return [o for o in self.orders() if not o.cancelled]

    def get_order(self, order_id: int) -> EmulatedOrder:
        with self._lock:
            return copy.deepcopy(self._orders[order_id])

    def set_order_status(self, order_id: int, status: str) -> None:
        """Move an order along (e.g. to ISSUED, which also mints a certificate signed by a throwaway CA).

        Only the statuses CAS documents are accepted (``DOCUMENTED_STATUSES``)."""
        if status not in DOCUMENTED_STATUSES:
            raise ValueError(f"{status!r} is not a documented status: {DOCUMENTED_STATUSES}")
        with self._lock:
            order = self._orders[order_id]
            order.status = status
            if status in ("ISSUED", "WILLEXPIRED") and order.certificate_pem is None:
                self._issuer.issue(order, self._clock())

    @property
    def list_lag_seconds(self) -> float:
        with self._lock:
            return self._list_lag_s

    def set_list_lag(self, seconds: float) -> None:
        """How long after its creation (on the emulator's clock) an order shows up in ListUserCertificateOrder."""
        with self._lock:
            self._list_lag_s = float(seconds)
