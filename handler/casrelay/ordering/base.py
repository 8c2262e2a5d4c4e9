"""The one small interface every way of placing an order stands behind.

casrelay orders the same validated order either on a V1.0 certificate package
(``CreateCertificateForPackageRequest``) or, for accounts on CAS V2.0, on a certificate instance.
The flows (placing once, reconciliation, the sweep, the dry run) speak only this interface, the
way the ledger's flows speak only ``LedgerStore``, so a backend is one module and the rules that
keep money safe are written once.

Every method raises a ``RelayError`` that says what CAS proved (``casrelay.cas.errors``), never an
SDK exception.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..cas.credentials import Credentials
from ..order import Order
from .progress import Progress

Tags = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class PlacedOrder:
    """What the paid call placed: a V1.0 OrderId, or the V2.0 instance applied on (``order_id`` None)."""

    order_id: int | None
    request_id: str
    instance_id: str | None = None
    #: V2.0: the issued certificate's ID, when the application finished within the invocation.
    certificate_id: int | None = None


class Reservation(Protocol):
    """The ledger's side of choosing what to spend, which the flows provide (``flows/lease.py``): a backend
    that chooses among several things to spend (V2.0 instances) leases one here before touching it."""

    def held(self) -> str | None:
        """The instance this order already holds (a redelivery, a retry), if any."""

    def take(self, instance_id: str) -> bool:
        """Lease ``instance_id`` to this order with conditional writes; ``False``: another order holds it."""

    def give_back(self) -> None:
        """Free the held instance: nothing was applied on it."""


@dataclass(frozen=True)
class Attempt:
    """One paid call's circumstances: the key's tag value, the lease, when the invocation must stop."""

    key: str
    reservation: Reservation | None = None
    #: ``time.monotonic()`` by which the call must return (the invocation's end, less a margin).
    deadline: float | None = None


@dataclass(frozen=True)
class Finding:
    """What CAS did for one attempt, asked of CAS directly (V2.0: the leased instance's detail)."""

    #: ``applied``, ``absent`` (nothing was applied: the key may be placed again) or ``unresolved``.
    verdict: str
    reason: str = ""
    instance_id: str | None = None
    certificate_id: int | None = None


APPLIED, NOT_APPLIED, UNRESOLVED = "applied", "absent", "unresolved"


@dataclass(frozen=True)
class ListedOrder:
    """One order as CAS lists it; what reconciliation compares with the ledger's record."""

    order_id: int
    domain: str
    product_code: str
    status: str
    buy_date_ms: int | None


@dataclass(frozen=True)
class Listing:
    """What CAS listed for one search, and whether that was all of it."""

    orders: tuple[ListedOrder, ...]
    #: Every page was read; only a complete listing can prove that an order is absent.
    complete: bool


@dataclass(frozen=True)
class PackageState:
    """How much of a ProductCode's purchase is left (the quota pre-check reads ``remaining``)."""

    product_code: str
    total: int
    used: int

    @property
    def remaining(self) -> int:
        return self.total - self.used


class OrderingBackend(ABC):
    """Place, find, count, cancel and preview orders of one CAS API generation."""

    #: The paid call's action name, for log lines and the dry run.
    action: str

    @abstractmethod
    def place(self, order: Order, creds: Credentials | None, tags: Tags = (),
              attempt: Attempt | None = None) -> PlacedOrder:
        """The paid call: one order, one package (or instance) spent. Never retried here."""

    def look_up(self, key: str, tags: Tags, instance_id: str | None, creds: Credentials | None) -> Finding | None:
        """What CAS did for the record of ``key``, asked directly; ``None`` when this backend can only be
        searched (V1.0: ``find``, which ``flows/reconcile`` reads). ``instance_id`` is the instance the record
        holds a lease on (None: it leased none, so it applied on none)."""
        return None

    @abstractmethod
    def find(self, domains: Sequence[str], creds: Credentials | None) -> Listing:
        """The orders CAS lists that could bind ``domains``, for reconciliation."""

    @abstractmethod
    def quota(self, product_code: str, creds: Credentials | None) -> PackageState:
        """What is left to order with (read-only)."""

    @abstractmethod
    def cancel(self, order_id: int, creds: Credentials | None) -> None:
        """Cancel a surplus order, which gives its quota back."""

    @abstractmethod
    def preview(self, order: Order, creds: Credentials | None, tags: Tags = ()) -> dict[str, Any]:
        """What ``place`` would send, signed and redacted, and not sent (the dry run)."""

    @abstractmethod
    def progress(self, order_id: int | None, instance_id: str | None, creds: Credentials | None,
                 include_certificate: bool = False) -> Progress:
        """Where the placed order stands now (read-only; the lifecycle follower polls it). ``order_id`` is the
        V1.0 OrderId, ``instance_id`` the V2.0 instance applied on. ``include_certificate`` asks for the public
        certificate's PEM once issued (one more call on V2.0). Never returns a private key."""

    def release(self, order_id: int | None, instance_id: str | None, creds: Credentials | None) -> bool:
        """Delete an order that failed validation so that its quota comes back (V1.0 DeleteCertificateRequest);
        ``False`` when this API generation has no such call (nothing was done)."""
        return False

    def warm(self, creds: Credentials | None = None) -> None:  # noqa: B027 - optional, nothing to do by default
        """Import what the first order would import, in the initializer instead (optional)."""

    def warm_connection(self, creds: Credentials | None, product_code: str) -> bool:
        """Open the connection with one read-only call; ``False`` when that failed (harmless)."""
        return True
