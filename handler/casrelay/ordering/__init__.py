"""Ways of placing an order, behind one interface (``OrderingBackend``), as the ledger has stores."""

from ..cas.client import CasClient
from ..cas.ratelimit import CallPacer
from ..config import Settings
from .base import (
    APPLIED,
    NOT_APPLIED,
    UNRESOLVED,
    Attempt,
    Finding,
    ListedOrder,
    Listing,
    OrderingBackend,
    PackageState,
    PlacedOrder,
    Reservation,
    Tags,
)
from .instance import InstanceBackend
from .package import PackageBackend


def open_backends(settings: Settings, client: CasClient) -> dict[str, OrderingBackend]:
    """A backend per API generation over one client (one pacer): a deployment orders with one, but must
    still reconcile the records the other placed before ``CAS_ORDER_API`` was switched."""
    return {"package": PackageBackend(client), "instance": InstanceBackend(client, settings.task_wait_seconds)}


def open_backend(settings: Settings, client: CasClient | None = None,
                 pacer: CallPacer | None = None) -> OrderingBackend:
    """The backend this deployment orders with: ``CAS_ORDER_API`` picks V1.0 packages or V2.0 instances.
    ``pacer`` paces every CAS call the new client makes (the local ``Pacer`` when None); it is ignored when
    ``client`` is given."""
    client = client or CasClient(settings, pacer)
    if settings.order_api == "instance":
        return InstanceBackend(client, settings.task_wait_seconds)
    return PackageBackend(client)


__all__ = ["APPLIED", "NOT_APPLIED", "UNRESOLVED", "Attempt", "Finding", "InstanceBackend", "ListedOrder", "Listing",
           "OrderingBackend", "PackageBackend", "PackageState", "PlacedOrder", "Reservation", "Tags",
           "open_backend", "open_backends"]
