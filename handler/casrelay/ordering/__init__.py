"""Ways of placing an order, behind one interface (``OrderingBackend``), as the ledger has stores."""

from ..cas.client import CasClient
from ..cas.ratelimit import CallPacer
from ..config import Settings
from .base import ListedOrder, Listing, OrderingBackend, PackageState, PlacedOrder, Tags
from .package import PackageBackend


def open_backend(settings: Settings, client: CasClient | None = None,
                 pacer: CallPacer | None = None) -> OrderingBackend:
    """The backend this deployment orders with (V1.0 packages today). ``pacer`` paces every CAS call the
    new client makes (the local ``Pacer`` when None); it is ignored when ``client`` is given."""
    return PackageBackend(client or CasClient(settings, pacer))


__all__ = ["ListedOrder", "Listing", "OrderingBackend", "PackageBackend", "PackageState", "PlacedOrder", "Tags",
           "open_backend"]
