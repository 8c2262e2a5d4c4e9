"""The idempotency key and the payload hash.

Without an explicit key, the key is a hash of what makes two orders the same certificate: the
effective domains, the ProductCode, the ValidateType and the CSR's public key. So a sender's retry,
a queue redelivery and a producer sending the same order twice all land on one key, and one order.
An explicit key (``Idempotency-Key`` header or ``IdempotencyKey`` field) lets a caller order the
same content again on purpose. The two kinds live in separate namespaces so they never collide.

The payload hash covers the whole order (contacts and tags too). A key that comes back with a
different payload is a conflict, never silently answered with the old result.
"""

from __future__ import annotations

import hashlib
import json

from ..order import Order
from ..records import OrderRecord


def _digest(data: object) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def derived_key(order: Order) -> str:
    return "auto:" + _digest({
        "domains": sorted(order.domains),
        "product": order.product_code,
        "validate": order.validate_type,
        "csr_key": order.csr_public_key_sha256,
    })


def explicit_key(value: str) -> str:
    return "key:" + value


def payload_hash(order: Order) -> str:
    """The whole order: its API parameters and, for a V2.0 order, the instance, contacts and company it names
    (absent from a V1.0 order, so V1.0 hashes are what they always were)."""
    return _digest({**order.cas_parameters(), **order.instance_parameters()})


def short_tag_value(key: str) -> str:
    """A tag value (at most 128 characters) that names the key, for finding the order in the console."""
    return key if len(key) <= 128 else "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def order_key(record: OrderRecord, order: Order) -> str:
    """The key an arriving order is placed under: the caller's own, or one derived from the order."""
    raw = record.idempotency_key or record.params.get("IdempotencyKey")
    return explicit_key(str(raw)) if raw else derived_key(order)


def key_tags(tag_key: str | None, order: Order, key: str) -> tuple[tuple[str, str], ...]:
    """The tag that marks the paid order with its key (``ORDER_TAG_KEY``), when the order has room for it."""
    if tag_key and len(order.tags) < 20:
        return ((tag_key, short_tag_value(key)),)
    return ()
