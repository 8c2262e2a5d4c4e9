"""The signed CreateCertificateForPackageRequest, through ``alibabacloud-cas20200407``.

The SDK signs with its default ACS3-HMAC-SHA256. Its automatic retry stays off (no
``retry_options``): a retried paid call can place a second order, so retrying is a decision made
above this layer with the outcome in hand. The SDK is imported on first use (``warm()`` does it
from ``initialize``), and one client is kept per credential set because FC rotates STS tokens.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from .. import log
from ..config import Settings
from ..errors import CasThrottled, RelayError, missing_credentials
from ..order import Order
from .credentials import Credentials
from .errors import map_exception
from .ratelimit import Pacer

CREATE = "CreateCertificateForPackageRequest"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
LIST = "ListUserCertificateOrder"
PACKAGE = "DescribePackageState"
CANCEL = "CancelCertificateForPackageRequest"


@dataclass(frozen=True)
class PlacedOrder:
    order_id: int
    request_id: str


@dataclass(frozen=True)
class ListedOrder:
    """One CPACK order as ListUserCertificateOrder shows it; what reconciliation compares."""

    order_id: int
    domain: str
    product_code: str
    status: str
    buy_date_ms: int | None


@dataclass(frozen=True)
class Listing:
    """What ListUserCertificateOrder returned for one keyword, and whether that was all of it."""

    orders: tuple[ListedOrder, ...]
    #: Every page was read; only a complete listing can prove that an order is absent.
    complete: bool


@dataclass(frozen=True)
class PackageState:
    product_code: str
    total: int
    used: int

    @property
    def remaining(self) -> int:
        return self.total - self.used


class CasGateway:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.pacer = Pacer(settings.cas_max_qps)
        self._clients: dict[tuple[str, str | None], Any] = {}
        self._lock = threading.Lock()

    def warm(self, creds: Credentials | None = None) -> None:
        """Import the SDK and build the client now, in the initializer, instead of during the first order:
        a cold first call arrives tens of milliseconds late, which eats into the pacer's margin."""
        import alibabacloud_cas20200407.client
        import alibabacloud_cas20200407.models  # noqa: F401

        if creds is not None:
            self._client(creds)

    def warm_connection(self, creds: Credentials | None, product_code: str) -> bool:
        """One read-only call (DescribePackageState) so that the HTTP session, its TLS context and a
        kept-alive connection exist before the first paid call. Failure is harmless and only logged
        by the caller: the first order then pays the set-up instead."""
        try:
            self.package_state(product_code, creds)
        except RelayError:
            return False
        return True

    def _client(self, creds: Credentials) -> Any:
        key = (creds.access_key_id, creds.security_token)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                from alibabacloud_cas20200407.client import Client
                from alibabacloud_tea_openapi.utils_models import Config

                s = self._settings
                client = Client(Config(
                    access_key_id=creds.access_key_id,
                    access_key_secret=creds.access_key_secret,
                    security_token=creds.security_token,
                    endpoint=s.cas_endpoint,
                    protocol=s.cas_protocol,
                    region_id=s.cas_region,
                    connect_timeout=s.cas_connect_timeout_ms,
                    read_timeout=s.cas_read_timeout_ms,
                ))
                if len(self._clients) >= 8:  # old STS tokens: drop them rather than grow forever
                    self._clients.clear()
                self._clients[key] = client
            return client

    def _runtime(self) -> Any:
        from darabonba.runtime import RuntimeOptions

        s = self._settings
        return RuntimeOptions(connect_timeout=s.cas_connect_timeout_ms, read_timeout=s.cas_read_timeout_ms,
                              autoretry=False, max_attempts=1, ca=s.cas_ca_file)

    def _call(self, action: str, method: str, request: Any, creds: Credentials | None) -> Any:
        if creds is None:
            raise missing_credentials()
        client = self._client(creds)
        self.pacer.wait(action)
        started = time.monotonic()
        try:
            result = getattr(client, method)(request, self._runtime())
        except Exception as exc:
            err = map_exception(exc)
            log.metric("cas.latency", round((time.monotonic() - started) * 1000, 1), "Milliseconds", action=action,
                       result=err.cas_code or err.code)
            if isinstance(err, CasThrottled):
                log.metric("cas.throttles", 1, action=action)
            raise err from None
        log.metric("cas.latency", round((time.monotonic() - started) * 1000, 1), "Milliseconds", action=action,
                   result="ok")
        return result

    def create_order(self, order: Order, creds: Credentials | None,
                     extra_tags: tuple[tuple[str, str], ...] = ()) -> PlacedOrder:
        """Place one paid order; raise a mapped ``RelayError`` (never an SDK exception)."""
        if creds is None:
            raise missing_credentials()
        from alibabacloud_cas20200407 import models

        p = order.cas_parameters()
        tags = list(order.tags) + [t for t in extra_tags if t[0] not in {k for k, _ in order.tags}]
        request = models.CreateCertificateForPackageRequestRequest(
            product_code=p.get("ProductCode"),
            domain=p.get("Domain"),
            csr=p.get("Csr"),
            validate_type=p.get("ValidateType"),
            username=p.get("Username"),
            email=p.get("Email"),
            phone=p.get("Phone"),
            company_name=p.get("CompanyName"),
            tags=[models.CreateCertificateForPackageRequestRequestTags(key=k, value=v) for k, v in tags[:20]]
            or None,
        )
        response = self._call(CREATE, "create_certificate_for_package_request_with_options", request, creds)
        body = response.body
        if body is None or body.order_id is None:
            from ..errors import cas_outcome_unknown

            raise cas_outcome_unknown("CAS answered without an OrderId; the order may or may not exist",
                                      getattr(body, "request_id", None))
        return PlacedOrder(order_id=int(body.order_id), request_id=str(body.request_id or ""))

    def list_orders(self, keyword: str, creds: Credentials | None, max_pages: int = 5) -> Listing:
        """CPACK orders whose domain matches ``keyword`` (CAS matches fuzzily), newest pages first."""
        from alibabacloud_cas20200407 import models

        out: list[ListedOrder] = []
        seen: set[object] = set()
        complete = False
        for page in range(1, max_pages + 1):
            request = models.ListUserCertificateOrderRequest(order_type="CPACK", keyword=keyword, current_page=page,
                                                             show_size=50)
            body = self._call(LIST, "list_user_certificate_order_with_options", request, creds).body
            items = (body.certificate_order_list or []) if body else []
            for item in items:
                seen.add(item.order_id if item.order_id is not None else id(item))
                if item.order_id is None:
                    continue
                out.append(ListedOrder(int(item.order_id), str(item.domain or ""), str(item.product_code or ""),
                                       str(item.status or ""), int(item.buy_date) if item.buy_date else None))
            # Complete only when every row CAS counted was seen (whatever page size it used), or a page past
            # the end came back empty; a missing TotalCount proves nothing.
            total = body.total_count if body is not None else None
            if not items or (total is not None and len(seen) >= int(total)):
                complete = True
                break
        return Listing(tuple(out), complete)

    def package_state(self, product_code: str, creds: Credentials | None) -> PackageState:
        from alibabacloud_cas20200407 import models

        request = models.DescribePackageStateRequest(product_code=product_code)
        body = self._call(PACKAGE, "describe_package_state_with_options", request, creds).body
        return PackageState(product_code, int(body.total_count or 0), int(body.used_count or 0))

    def cancel_order(self, order_id: int, creds: Credentials | None) -> None:
        from alibabacloud_cas20200407 import models

        request = models.CancelCertificateForPackageRequestRequest(order_id=order_id)
        self._call(CANCEL, "cancel_certificate_for_package_request_with_options", request, creds)

    def preview(self, order: Order, creds: Credentials | None,
                extra_tags: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
        """What ``create_order`` would send, signed by the SDK's own ACS3 signer, and not sent.

        The signature itself is redacted: a dry-run answer holding a valid signature and an unused
        nonce could be replayed to CAS within 15 minutes and would place a real, paid order.
        """
        if creds is None:
            raise missing_credentials()
        from urllib.parse import urlencode

        from alibabacloud_tea_openapi.utils import Utils
        from darabonba.request import DaraRequest

        params = order.cas_parameters()
        tags = list(order.tags) + [t for t in extra_tags if t[0] not in {k for k, _ in order.tags}]
        if tags:
            params["Tags"] = [{"Key": k, "Value": v} for k, v in tags[:20]]
        request = DaraRequest()
        request.method = "POST"
        request.pathname = "/"
        request.query = Utils.query(params)
        request.headers = {
            "host": self._settings.cas_endpoint,
            "x-acs-version": "2020-04-07",
            "x-acs-action": CREATE,
            "x-acs-date": Utils.get_timestamp(),
            "x-acs-signature-nonce": Utils.get_nonce(),
            "accept": "application/json",
            "x-acs-content-sha256": EMPTY_SHA256,
        }
        if creds.security_token:
            request.headers["x-acs-security-token"] = creds.security_token
        authorization = Utils.get_authorization(request, "ACS3-HMAC-SHA256", EMPTY_SHA256, creds.access_key_id,
                                                creds.access_key_secret)
        head, _, _signature = authorization.rpartition("Signature=")
        shown_key = creds.access_key_id[:4] + "***"
        headers = dict(request.headers)
        headers["authorization"] = head.replace(creds.access_key_id, shown_key) + "Signature=<redacted>"
        if "x-acs-security-token" in headers:
            headers["x-acs-security-token"] = "<redacted>"
        return {
            "DryRun": True,
            "Action": CREATE,
            "Method": "POST",
            "Url": f"{self._settings.cas_protocol}://{self._settings.cas_endpoint}/?{urlencode(request.query)}",
            "Headers": headers,
            "Parameters": dict(request.query),
            "Domains": list(order.domains),
            "ProductCode": order.product_code,
        }
