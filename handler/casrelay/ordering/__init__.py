"""Ways of placing an order, behind one interface (``OrderingBackend``), as the ledger has stores."""

from ..cas.client import CasClient
from ..config import Settings
from .base import ListedOrder, Listing, OrderingBackend, PackageState, PlacedOrder, Tags
from .package import PackageBackend


def open_backend(settings: Settings, client: CasClient | None = None) -> OrderingBackend:
    """The backend this deployment orders with (V1.0 packages today)."""
    return PackageBackend(client or CasClient(settings))


__all__ = ["ListedOrder", "Listing", "OrderingBackend", "PackageBackend", "PackageState", "PlacedOrder", "Tags",
           "open_backend"]
