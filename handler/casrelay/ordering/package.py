"""Ordering on V1.0 certificate packages: CreateCertificateForPackageRequest and its neighbours.

Reconciliation's search is ListUserCertificateOrder with ``OrderType=CPACK`` and the first domain
as ``Keyword`` (CAS matches it fuzzily, and offers no tag filter). A listing counts as complete
only when every row CAS counted was seen, or a page past the end came back empty: a missing
``TotalCount`` proves nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..cas.client import CasClient
from ..cas.credentials import Credentials
from ..cas.preview import signed_preview
from ..errors import RelayError, cas_outcome_unknown, missing_credentials
from ..order import Order
from .base import Attempt, ListedOrder, Listing, OrderingBackend, PackageState, PlacedOrder, Tags
from .progress import Progress

CREATE = "CreateCertificateForPackageRequest"
LIST = "ListUserCertificateOrder"
PACKAGE = "DescribePackageState"
CANCEL = "CancelCertificateForPackageRequest"
STATE = "DescribeCertificateState"
DELETE = "DeleteCertificateRequest"
#: CAS takes at most 20 tags per order.
MAX_TAGS = 20
MAX_PAGES = 5
PAGE_SIZE = 50


def all_tags(order: Order, extra: Tags) -> list[tuple[str, str]]:
    """The order's own tags, then casrelay's (unless the order already uses that key), at most 20."""
    own = {k for k, _ in order.tags}
    return (list(order.tags) + [t for t in extra if t[0] not in own])[:MAX_TAGS]


def search_keyword(domains: Sequence[str]) -> str:
    return str(domains[0]).removeprefix("*.")


class PackageBackend(OrderingBackend):
    action = CREATE

    def __init__(self, client: CasClient) -> None:
        self.client = client

    def warm(self, creds: Credentials | None = None) -> None:
        self.client.warm(creds)

    def warm_connection(self, creds: Credentials | None, product_code: str) -> bool:
        """One read-only call (DescribePackageState) so that the HTTP session, its TLS context and a
        kept-alive connection exist before the first paid call."""
        try:
            self.quota(product_code, creds)
        except RelayError:
            return False
        return True

    def place(self, order: Order, creds: Credentials | None, tags: Tags = (),
              attempt: Attempt | None = None) -> PlacedOrder:
        if creds is None:
            raise missing_credentials()
        from alibabacloud_cas20200407 import models

        p = order.cas_parameters()
        request = models.CreateCertificateForPackageRequestRequest(
            product_code=p.get("ProductCode"), domain=p.get("Domain"), csr=p.get("Csr"),
            validate_type=p.get("ValidateType"), username=p.get("Username"), email=p.get("Email"),
            phone=p.get("Phone"), company_name=p.get("CompanyName"),
            tags=[models.CreateCertificateForPackageRequestRequestTags(key=k, value=v)
                  for k, v in all_tags(order, tags)] or None,
        )
        body = self.client.call(CREATE, "create_certificate_for_package_request_with_options", request, creds).body
        if body is None or body.order_id is None:
            raise cas_outcome_unknown("CAS answered without an OrderId; the order may or may not exist",
                                      getattr(body, "request_id", None))
        return PlacedOrder(order_id=int(body.order_id), request_id=str(body.request_id or ""))

    def find(self, domains: Sequence[str], creds: Credentials | None) -> Listing:
        from alibabacloud_cas20200407 import models

        out: list[ListedOrder] = []
        seen: set[object] = set()
        for page in range(1, MAX_PAGES + 1):
            request = models.ListUserCertificateOrderRequest(order_type="CPACK", keyword=search_keyword(domains),
                                                             current_page=page, show_size=PAGE_SIZE)
            body = self.client.call(LIST, "list_user_certificate_order_with_options", request, creds).body
            items = (body.certificate_order_list or []) if body else []
            for item in items:
                seen.add(item.order_id if item.order_id is not None else id(item))
                if item.order_id is not None:
                    out.append(_listed(item))
            total = body.total_count if body is not None else None
            if not items or (total is not None and len(seen) >= int(total)):
                return Listing(tuple(out), complete=True)
        return Listing(tuple(out), complete=False)

    def quota(self, product_code: str, creds: Credentials | None) -> PackageState:
        from alibabacloud_cas20200407 import models

        request = models.DescribePackageStateRequest(product_code=product_code)
        body = self.client.call(PACKAGE, "describe_package_state_with_options", request, creds).body
        return PackageState(product_code, int(body.total_count or 0), int(body.used_count or 0))

    def cancel(self, order_id: int, creds: Credentials | None) -> None:
        from alibabacloud_cas20200407 import models

        request = models.CancelCertificateForPackageRequestRequest(order_id=order_id)
        self.client.call(CANCEL, "cancel_certificate_for_package_request_with_options", request, creds)

    def progress(self, order_id: int | None, instance_id: str | None, creds: Credentials | None,
                 include_certificate: bool = False) -> Progress:
        """DescribeCertificateState, read through ``state_fields`` so that the answer's ``PrivateKey`` is never
        touched and the SDK object does not outlive this call."""
        from alibabacloud_cas20200407 import models

        from .package_progress import progress_from_state, state_fields  # the follower's only: not at a cold start

        request = models.DescribeCertificateStateRequest(order_id=_order_id(order_id))
        fields = state_fields(self.client.call(STATE, "describe_certificate_state_with_options", request, creds).body)
        return progress_from_state(fields, include_certificate)

    def release(self, order_id: int | None, instance_id: str | None, creds: Credentials | None) -> bool:
        """DeleteCertificateRequest: CAS deletes an order that failed review, and a deleted order does not consume
        quota. CAS refuses it for any other order (OrderStateError), raised as the mapped ``RelayError``."""
        from alibabacloud_cas20200407 import models

        request = models.DeleteCertificateRequestRequest(order_id=_order_id(order_id))
        self.client.call(DELETE, "delete_certificate_request_with_options", request, creds)
        return True

    def preview(self, order: Order, creds: Credentials | None, tags: Tags = ()) -> dict[str, Any]:
        if creds is None:
            raise missing_credentials()
        params = order.cas_parameters()
        chosen = all_tags(order, tags)
        if chosen:
            params["Tags"] = [{"Key": k, "Value": v} for k, v in chosen]
        preview = signed_preview(self.client.settings, CREATE, params, creds)
        preview.update(Domains=list(order.domains), ProductCode=order.product_code)
        return preview


def _order_id(order_id: int | None) -> int:
    """V1.0 orders are named by their OrderId; a record without one was not placed here (a wiring bug)."""
    if order_id is None:
        raise ValueError("a V1.0 package order is followed by its OrderId, and none was given")
    return int(order_id)


def _listed(item: Any) -> ListedOrder:
    return ListedOrder(int(item.order_id), str(item.domain or ""), str(item.product_code or ""),
                       str(item.status or ""), int(item.buy_date) if item.buy_date else None)
