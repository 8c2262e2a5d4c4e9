"""The five CAS actions the emulator answers, each from decoded parameters to the ``Result`` fields.

They run after the request has been read, authenticated, admitted by flow control and passed by
the fault injection (see ``server.py``), so they deal in business rules only: quota units,
order statuses, what DescribeCertificateState and ListUserCertificateOrder show. Each either
returns the body fields (``RequestId`` is added by the server) or raises ``ApiError``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from .protocol import (
    ACTION_CANCEL,
    ACTION_CERT_STATE,
    ACTION_CREATE,
    ACTION_LIST_ORDERS,
    ACTION_PACKAGE_STATE,
    DEFAULT_PRODUCT_CODE,
    DEFAULT_SHOW_SIZE,
    DOCUMENTED_STATUSES,
    ORDER_TYPES,
    REFUNDABLE_STATUSES,
    REVOCABLE_STATUSES,
    STATE_TYPE_BY_STATUS,
    ApiError,
    invalid,
    missing,
)
from .state import AccountState, EmulatedOrder
from .validation import check_product_rules, inspect_csr, int_param, parse_domains, parse_tags


@dataclass(frozen=True)
class Call:
    """Who made an authenticated call, and when (on the emulator's clock)."""

    access_key_id: str
    request_id: str
    now_ms: int


ActionHandler = Callable[[dict[str, str], Call], dict[str, Any]]


def _cert_type(product_code: str) -> str:
    if "free" in product_code:
        return "FREE"
    for kind in ("ev", "ov", "dv"):
        if f"-{kind}-" in product_code:
            return kind.upper()
    return "DV"


def _root_brand(product_code: str) -> str:
    brands = {"digicert": "DigiCert", "symantec": "DigiCert", "geotrust": "GeoTrust",
              "globalsign": "GlobalSign", "cfca": "CFCA"}
    return brands.get(product_code.split("-", 1)[0], product_code.split("-", 1)[0])


def _domain_type(domains: list[str]) -> str:
    wildcard = domains[0].startswith("*.")
    if len(domains) == 1:
        return "WILDCARD" if wildcard else "ONE"
    return "M_WILDCARD" if wildcard else "MULTIPLE"


def _order_item(order: EmulatedOrder) -> dict[str, Any]:
    """One entry of ListUserCertificateOrder's ``CertificateOrderList``."""
    item: dict[str, Any] = {
        "OrderId": order.order_id,
        "InstanceId": order.instance_id,
        "Domain": order.domain,
        "Status": order.status,
        "ProductCode": order.product_code,
        "ProductName": order.product_code,
        "CertType": _cert_type(order.product_code),
        "SourceType": "cpack",
        "BuyDate": order.created_ms,
        "DomainType": _domain_type(order.domains),
        "DomainCount": sum(1 for d in order.domains if not d.startswith("*.")),
        "WildDomainCount": sum(1 for d in order.domains if d.startswith("*.")),
        "Algorithm": order.key_algorithm,
        "RootBrand": _root_brand(order.product_code),
        "TrusteeStatus": "unTrustee",
    }
    if order.cert_start_ms is not None:
        item["CertStartTime"] = order.cert_start_ms
        item["CertEndTime"] = order.cert_end_ms
    return item


def _domain_verify_fields(order: EmulatedOrder) -> dict[str, Any]:
    """What DescribeCertificateState tells a client to publish for domain validation."""
    domain = order.domains[0]
    bare = domain[2:] if domain.startswith("*.") else domain
    if order.validate_type == "FILE":
        return {"ValidateType": order.validate_type, "Uri": f"http://{bare}/.well-known/pki-validation/fileauth.txt",
                "Content": order.validation_token, "Domain": bare}
    # Full name of the TXT record; CAS documents this as the "host record" (UNCONFIRMED form).
    return {"ValidateType": order.validate_type, "RecordType": "TXT", "RecordDomain": f"_dnsauth.{bare}",
            "RecordValue": order.validation_token}


class CasActions(AccountState):
    """The action handlers, working on the account state they inherit."""

    def _action_handlers(self) -> dict[str, ActionHandler]:
        return {
            ACTION_CREATE: self._create_order,
            ACTION_PACKAGE_STATE: self._describe_package_state,
            ACTION_CERT_STATE: self._describe_certificate_state,
            ACTION_LIST_ORDERS: self._list_orders,
            ACTION_CANCEL: self._cancel_order,
        }

    def _spend_unit(self, product: str, domains: list[str], params: Mapping[str, str]) -> None:
        """Check the product and take one unit of its package (caller holds the lock)."""
        if not self._known_product(product):
            raise invalid("ProductCode", f"unknown product {product!r}")
        check_product_rules(product, domains, params)
        pkg = self._packages.get(product)
        if pkg is None or pkg.total <= 0:
            raise ApiError(404, "NotFoundPackage", f"No certificate package of {product} was purchased.")
        if pkg.used >= pkg.total:
            raise ApiError(404, "NotRemainCount", f"The certificate package of {product} has no quota left.")
        pkg.used += 1

    def _create_order(self, params: dict[str, str], call: Call) -> dict[str, Any]:
        product = params.get("ProductCode") or DEFAULT_PRODUCT_CODE
        validate_type = params.get("ValidateType") or ""
        if validate_type and validate_type not in ("DNS", "FILE"):
            raise invalid("ValidateType", "must be DNS or FILE")
        csr_text = params.get("Csr") or ""
        domain_text = params.get("Domain") or ""
        if not csr_text and not domain_text:
            raise missing("Domain")
        if csr_text:
            # The CSR's names win over Domain: its CN, then its DNS SANs (the certificate binds them all).
            domains, algorithm, _ = inspect_csr(csr_text)
        else:
            domains, algorithm = parse_domains(domain_text), "RSA"
        tags = parse_tags(params)
        with self._lock:
            self._spend_unit(product, domains, params)
            order_id = self._next_order_id
            self._next_order_id += 1
            self._orders[order_id] = EmulatedOrder(
                order_id=order_id,
                instance_id=f"cas-ivauto-{secrets.token_hex(4)}",
                domain=",".join(domains),
                domains=domains,
                product_code=product,
                validate_type=validate_type or "DNS",
                tags=tags,
                status=self._initial_status,
                params=dict(params),
                access_key_id=call.access_key_id,
                request_id=call.request_id,
                created_ms=call.now_ms,
                key_algorithm=algorithm,
                csr=csr_text or None,
                validation_token=secrets.token_hex(16),
            )
        return {"OrderId": order_id}

    def _describe_package_state(self, params: dict[str, str], call: Call) -> dict[str, Any]:
        product = params.get("ProductCode") or DEFAULT_PRODUCT_CODE
        with self._lock:
            if not self._known_product(product):
                raise invalid("ProductCode", f"unknown product {product!r}")
            state = self.quota(product)
        return {"ProductCode": product, "TotalCount": state.total, "UsedCount": state.used,
                "IssuedCount": state.issued}

    def _lookup(self, params: Mapping[str, str]) -> EmulatedOrder:
        """The order named by ``OrderId``; a cancelled order is gone, as far as callers can tell (UNCONFIRMED)."""
        order_id = int_param(params, "OrderId", required=True)
        order = self._orders.get(cast(int, order_id))
        if order is None or order.cancelled:
            raise ApiError(404, "NotFoundOrder", f"The order {order_id} does not exist.")
        return order

    def _describe_certificate_state(self, params: dict[str, str], call: Call) -> dict[str, Any]:
        with self._lock:
            order = self._lookup(params)
            kind = STATE_TYPE_BY_STATUS.get(order.status, "unknow")
            result: dict[str, Any] = {"Type": kind}
            if kind == "domain_verify":
                result.update(_domain_verify_fields(order))
            elif kind == "certificate":
                result.update(Certificate=order.certificate_pem, PrivateKey=order.private_key_pem or "",
                              CertId=order.cert_id)
            return result

    def _list_orders(self, params: dict[str, str], call: Call) -> dict[str, Any]:
        order_type = (params.get("OrderType") or "CPACK").upper()
        if order_type not in ORDER_TYPES:
            raise invalid("OrderType", "must be one of CPACK, BUY, UPLOAD, CERT")
        page = cast(int, int_param(params, "CurrentPage", default=1, minimum=1))
        size = cast(int, int_param(params, "ShowSize", default=DEFAULT_SHOW_SIZE, minimum=1))
        keyword = (params.get("Keyword") or "").lower()
        status = params.get("Status") or ""
        if status and status not in DOCUMENTED_STATUSES:
            raise invalid("Status", f"must be one of {', '.join(DOCUMENTED_STATUSES)}")
        with self._lock:
            listed_before_ms = call.now_ms - int(self._list_lag_s * 1000)
            matches = [
                o for o in reversed(self._orders.values())  # newest first, as the console lists them
                if order_type == "CPACK"
                and not o.cancelled
                and o.created_ms <= listed_before_ms  # the search index lags behind new orders
                and (not status or o.status == status)
                and (not keyword or keyword in o.domain.lower() or keyword in str(o.order_id)
                     or keyword in o.instance_id.lower())
            ]
            page_items = [_order_item(o) for o in matches[(page - 1) * size: page * size]]
        return {"CertificateOrderList": page_items, "TotalCount": len(matches), "CurrentPage": page,
                "ShowSize": size}

    def _cancel_order(self, params: dict[str, str], call: Call) -> dict[str, Any]:
        """CancelCertificateForPackageRequest [C7]: a pending order is cancelled and its quota unit returned;
        an issued one is revoked (status REVOKED, no refund).

        What a cancelled pending order looks like afterwards is UNCONFIRMED. CAS documents no status for
        it, so the emulator keeps its last status, sets ``EmulatedOrder.cancelled``, stops listing it, and
        answers NotFoundOrder for it (DescribeCertificateState, a second cancel), as if it were deleted.
        """
        with self._lock:
            order = self._lookup(params)
            if order.status in REFUNDABLE_STATUSES:
                order.cancelled = True
                pkg = self._packages.get(order.product_code)
                if pkg is not None and pkg.used > 0:
                    pkg.used -= 1
            elif order.status in REVOCABLE_STATUSES:
                order.status = "REVOKED"
            else:
                raise ApiError(403, "OrderStateError", f"The order {order.order_id} is {order.status} "
                                                      "and cannot be cancelled.")
        return {}
