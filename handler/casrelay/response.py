"""Placed order or error -> what the caller sees: the API document's JSON or XML, and an HTTP status.

The success body mirrors the document (``RequestId``, ``OrderId``) and adds ``OrderIdString``:
OrderIds exceed 2**53, so a JavaScript ``JSON.parse`` rounds ``OrderId`` to a different order; the
string keeps every digit. ``Domains`` names what the certificate will bind (the CSR's CN wins over
``Domain``). Errors follow Alibaba Cloud's error body (``RequestId``, ``Code``, ``Message``) with an
``Errors`` list naming each bad field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from xml.etree import ElementTree as ET

from . import jsontext
from .errors import (
    BadRequest,
    CasFailed,
    CasOutcomeUnknown,
    CasRefused,
    CasThrottled,
    CasUnavailable,
    DeliveryPending,
    IdempotencyConflict,
    InstanceInUse,
    InvalidOrder,
    LedgerUnavailable,
    MethodNotAllowed,
    MissingCredentials,
    NoInstanceLeft,
    NoPackageLeft,
    NotConfigured,
    NotOrdered,
    OrderInProgress,
    OutcomePending,
    PayloadTooLarge,
    RelayError,
    RouteNotFound,
    Unauthenticated,
    UnsupportedMediaType,
)
from .errors.values import to_value

ROOT = "CreateCertificateForPackageRequestResponse"
#: What XML 1.0 cannot carry (C0 controls but tab and line ends, lone surrogates, U+FFFE/U+FFFF). Errors
#: echo the caller's parameter names, so any of these can reach a body; each becomes U+FFFD.
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


#: The HTTP status of each kind of error, most specific class first (a subclass before its base).
_STATUS: tuple[tuple[type[RelayError], int], ...] = (
    (InvalidOrder, 400), (BadRequest, 400), (Unauthenticated, 401), (RouteNotFound, 404),
    (MethodNotAllowed, 405), (PayloadTooLarge, 413), (UnsupportedMediaType, 415),
    (IdempotencyConflict, 422), (OrderInProgress, 409), (OutcomePending, 409),
    (NoPackageLeft, 402), (NoInstanceLeft, 402), (InstanceInUse, 409), (CasRefused, 400), (CasThrottled, 429),
    (CasFailed, 502),
    (CasUnavailable, 503), (NotOrdered, 503), (NotConfigured, 503), (MissingCredentials, 503),
    (LedgerUnavailable, 503), (DeliveryPending, 503),
)


def status_of(err: RelayError) -> int:
    """The HTTP status that answers ``err``; 500 for a bug (``InternalError``) and for any kind not listed."""
    if isinstance(err, CasOutcomeUnknown):  # 502: CAS answered with an error after taking it; 504: no answer
        return 502 if err.answered else 504
    for cls, status in _STATUS:
        if isinstance(err, cls):
            return status
    return 500


def headers_of(err: RelayError) -> dict[str, str]:
    """The headers an error's answer carries: when to come back, how to authenticate, what is allowed."""
    headers: dict[str, str] = {}
    if err.retry_after is not None:
        headers["Retry-After"] = str(err.retry_after)
    if isinstance(err, Unauthenticated):
        headers["WWW-Authenticate"] = 'StandardWebhooks realm="casrelay"'
    if isinstance(err, MethodNotAllowed) and err.allowed:
        headers["Allow"] = err.allowed
    return headers


def wants_xml(params: Mapping[str, Any], accept: str) -> bool:
    fmt = params.get("Format")
    if isinstance(fmt, str) and fmt.strip():
        return fmt.strip().upper() == "XML"
    accept = accept.lower()
    return ("application/xml" in accept or "text/xml" in accept) and "json" not in accept


def success_document(order_id: int, request_id: str, domains: tuple[str, ...], product_code: str,
                     extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "RequestId": request_id,
        "OrderId": order_id,
        "OrderIdString": str(order_id),
        "Domains": list(domains),
        "ProductCode": product_code,
    }
    if extra:
        doc.update(extra)
    return doc


def instance_document(instance_id: str, certificate_id: int | None, request_id: str, domains: tuple[str, ...],
                      product_code: str) -> dict[str, Any]:
    """V2.0's success body: the ``InstanceId`` the application was made on stands where V1.0 has the OrderId,
    and the certificate's ID once CAS issued it (``null`` while the application is processing)."""
    return {"RequestId": request_id, "InstanceId": instance_id, "CertificateId": certificate_id,
            "Domains": list(domains), "ProductCode": product_code}


def error_document(err: RelayError, request_id: str | None) -> dict[str, Any]:
    doc: dict[str, Any] = {"RequestId": err.cas_request_id or request_id or "", "Code": err.code,
                           "Message": err.message}
    if err.errors:
        doc["Errors"] = [e.as_dict() for e in err.errors]
    if err.retry_after is not None:
        doc["RetryAfter"] = err.retry_after
    return doc


def stored_error(err: RelayError) -> dict[str, Any]:
    """The error as a ledger record keeps it: its value, with the HTTP status that answered it."""
    return to_value(err, status_of(err))


def status_document(err: RelayError, request_id: str | None) -> dict[str, Any]:
    """The answer of a direct invocation or a timer, which has no HTTP status line: the status goes in it."""
    return {"Status": status_of(err), **error_document(err, request_id)}


def _xml_append(parent: ET.Element, name: str, value: Any) -> None:
    if isinstance(value, list):
        holder = ET.SubElement(parent, name)
        item_name = name[:-1] if name.endswith("s") else "Item"
        for item in value:
            _xml_append(holder, item_name, item)
    elif isinstance(value, dict):
        holder = ET.SubElement(parent, name)
        for k, v in value.items():
            _xml_append(holder, k, v)
    elif isinstance(value, bool):  # xs:boolean, as the JSON form spells it; str() would give "True"
        ET.SubElement(parent, name).text = "true" if value else "false"
    else:
        ET.SubElement(parent, name).text = "" if value is None else _NOT_XML_CHAR.sub("\ufffd", str(value))


def to_xml(root: str, doc: Mapping[str, Any]) -> str:
    element = ET.Element(root)
    for k, v in doc.items():
        if k == "OrderIdString":  # XML carries every digit already
            continue
        _xml_append(element, k, v)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(element, encoding="unicode")


def http_response(status: int, doc: Mapping[str, Any], xml: bool, root: str = ROOT,
                  headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    if xml:
        body = to_xml(root if status < 400 else "Error", doc)
        content_type = "application/xml; charset=utf-8"
    else:
        body = jsontext.dumps(doc)
        content_type = "application/json; charset=utf-8"
    out_headers = {"Content-Type": content_type, "Cache-Control": "no-store"}
    if headers:
        out_headers.update(headers)
    return {"statusCode": status, "headers": out_headers, "isBase64Encoded": False, "body": body}


def http_error(err: RelayError, request_id: str | None, xml: bool) -> dict[str, Any]:
    return http_response(status_of(err), error_document(err, request_id), xml, headers=headers_of(err))
