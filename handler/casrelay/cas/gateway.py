"""The signed CreateCertificateForPackageRequest, through ``alibabacloud-cas20200407``.

The SDK signs with its default ACS3-HMAC-SHA256. Its automatic retry stays off (no
``retry_options``): a retried paid call can place a second order, so retrying is a decision made
above this layer with the outcome in hand. The SDK is imported on first use (``warm()`` does it
from ``initialize``), and one client is kept per credential set because FC rotates STS tokens.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from ..config import Settings
from ..errors import missing_credentials
from ..order import Order
from .credentials import Credentials
from .errors import map_exception


@dataclass(frozen=True)
class PlacedOrder:
    order_id: int
    request_id: str


class CasGateway:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._clients: dict[tuple[str, str | None], Any] = {}
        self._lock = threading.Lock()

    def warm(self) -> None:
        """Import the SDK now, in the initializer, instead of during the first order."""
        import alibabacloud_cas20200407.client
        import alibabacloud_cas20200407.models  # noqa: F401

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
                              autoretry=False, max_attempts=1)

    def create_order(self, order: Order, creds: Credentials | None) -> PlacedOrder:
        """Place one paid order; raise a mapped ``RelayError`` (never an SDK exception)."""
        if creds is None:
            raise missing_credentials()
        from alibabacloud_cas20200407 import models

        p = order.cas_parameters()
        request = models.CreateCertificateForPackageRequestRequest(
            product_code=p.get("ProductCode"),
            domain=p.get("Domain"),
            csr=p.get("Csr"),
            validate_type=p.get("ValidateType"),
            username=p.get("Username"),
            email=p.get("Email"),
            phone=p.get("Phone"),
            company_name=p.get("CompanyName"),
            tags=[models.CreateCertificateForPackageRequestRequestTags(key=k, value=v) for k, v in order.tags]
            or None,
        )
        try:
            response = self._client(creds).create_certificate_for_package_request_with_options(
                request, self._runtime()
            )
        except Exception as exc:
            raise map_exception(exc) from None
        body = response.body
        if body is None or body.order_id is None:
            from ..errors import cas_outcome_unknown

            raise cas_outcome_unknown("CAS answered without an OrderId; the order may or may not exist",
                                      getattr(body, "request_id", None))
        return PlacedOrder(order_id=int(body.order_id), request_id=str(body.request_id or ""))
