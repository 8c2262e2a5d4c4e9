"""The downstream message: a versioned JSON document, one per order outcome.

Its ``Id`` is derived from the idempotency key and the message type, so every re-push of the same
outcome (after a sink failure, a redelivery or a duplicate request) carries the same id, and a
receiver can drop what it has already seen. The schema is published in ``schemas/``: version 1
(``order-message.v1.json``) for V1.0 packages, where ``Order`` carries the OrderId; version 2
(``order-message.v2.json``) for V2.0 instances (``CAS_ORDER_API=instance``), where it carries the
``InstanceId`` and, once CAS issued it, the ``CertificateId``. A deployment sends one version only.
The lifecycle messages (``certificate.validation.required``, ``certificate.issued``, and
``certificate.order.failed`` when the CA failed a placed order) add ``Validation``, ``Certificate`` and
``Lifecycle`` sections to the same shape.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

VERSION = 1
INSTANCE_VERSION = 2
CREATED = "certificate.order.created"
FAILED = "certificate.order.failed"
UNKNOWN = "certificate.order.unknown"
#: The lifecycle after the OrderId (``casrelay.follow``): what validation CAS needs, and the certificate.
VALIDATION_REQUIRED = "certificate.validation.required"
ISSUED = "certificate.issued"


def message_id(key: str, kind: str) -> str:
    return "msg_" + hashlib.sha256(f"{key}\n{kind}".encode()).hexdigest()[:32]


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build(kind: str, *, key: str | None, id_basis: str, trigger: str, source_message_id: str | None,
          domains: Sequence[str], product_code: str | None, validate_type: str | None,
          order_id: int | None = None, request_id: str | None = None, ordered_at: float | None = None,
          error: Mapping[str, Any] | None = None, now: float | None = None, version: int = VERSION,
          instance_id: str | None = None, certificate_id: int | None = None) -> dict[str, Any]:
    """``id_basis`` is the idempotency key, or for an order too broken to have one, the source message.
    ``version`` 2 is the V2.0 shape (``instance_id``, ``certificate_id``; no OrderId)."""
    doc: dict[str, Any] = {
        "Version": version,
        "Id": message_id(id_basis, kind),
        "Type": kind,
        "Time": _iso(now if now is not None else datetime.now(timezone.utc).timestamp()),
        "IdempotencyKey": key,
        "Source": {"Trigger": trigger, "MessageId": source_message_id},
        "Order": {
            "OrderId": order_id,
            "OrderIdString": None if order_id is None else str(order_id),
            "RequestId": request_id,
            "Domains": list(domains),
            "ProductCode": product_code,
            "ValidateType": validate_type,
            "OrderedAt": _iso(ordered_at),
        },
    }
    if version == INSTANCE_VERSION:
        placed = {"InstanceId": instance_id, "CertificateId": certificate_id}
        doc["Order"] = {**placed, **{k: v for k, v in doc["Order"].items() if not k.startswith("OrderId")}}
    if error is not None:
        doc["Error"] = {k: error[k] for k in ("Code", "Message", "Errors") if k in error}
    if version == INSTANCE_VERSION and kind == CREATED and instance_id is not None:
        doc["Next"] = {"Action": "GetInstanceDetail", "Parameters": {"InstanceId": instance_id}}
    elif kind == CREATED and order_id is not None:
        doc["Next"] = {"Action": "DescribeCertificateState", "Parameters": {"OrderId": str(order_id)}}
    return doc
