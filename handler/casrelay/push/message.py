"""The downstream message: a versioned JSON document, one per order outcome.

Its ``Id`` is derived from the idempotency key and the message type, so every re-push of the same
outcome (after a sink failure, a redelivery or a duplicate request) carries the same id, and a
receiver can drop what it has already seen. The schema is published in ``schemas/``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

VERSION = 1
CREATED = "certificate.order.created"
FAILED = "certificate.order.failed"
UNKNOWN = "certificate.order.unknown"


def message_id(key: str, kind: str) -> str:
    return "msg_" + hashlib.sha256(f"{key}\n{kind}".encode()).hexdigest()[:32]


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build(kind: str, *, key: str | None, id_basis: str, trigger: str, source_message_id: str | None,
          domains: Sequence[str], product_code: str | None, validate_type: str | None,
          order_id: int | None = None, request_id: str | None = None, ordered_at: float | None = None,
          error: Mapping[str, Any] | None = None, now: float | None = None) -> dict[str, Any]:
    """``id_basis`` is the idempotency key, or for an order too broken to have one, the source message."""
    doc: dict[str, Any] = {
        "Version": VERSION,
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
    if error is not None:
        doc["Error"] = {k: error[k] for k in ("Code", "Message", "Errors") if k in error}
    if kind == CREATED and order_id is not None:
        doc["Next"] = {"Action": "DescribeCertificateState", "Parameters": {"OrderId": str(order_id)}}
    return doc
