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
from typing import Any

from ..cas.credentials import Credentials
from ..order import Order

Tags = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class PlacedOrder:
    order_id: int
    request_id: str


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
    def place(self, order: Order, creds: Credentials | None, tags: Tags = ()) -> PlacedOrder:
        """The paid call: one order, one package spent. Never retried here."""

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

    def warm(self, creds: Credentials | None = None) -> None:  # noqa: B027 - optional, nothing to do by default
        """Import what the first order would import, in the initializer instead (optional)."""

    def warm_connection(self, creds: Credentials | None, product_code: str) -> bool:
        """Open the connection with one read-only call; ``False`` when that failed (harmless)."""
        return True
