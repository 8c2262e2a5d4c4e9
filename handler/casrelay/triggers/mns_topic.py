"""The native MNS topic trigger (not EventBridge) -> one order record.

The subscription's ``notifyContentFormat`` decides the event: ``JSON`` wraps the message in a
notification object (``TopicOwner``, ``Message``, ``MessageId``, ...; message attributes become extra
keys), ``STREAM`` hands over the message text itself, or ``{"body": ..., "attrs": {...}}`` when the
message has attributes. Only the JSON form carries a ``MessageId``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import UnreadableMessage
from ..records import OrderRecord
from .batch import BatchItem, RecordProblem
from .payload import MAX_PAYLOAD_BYTES, read_order_payload

TRIGGER = "mns-topic"


def is_notification(value: Any) -> bool:
    """The JSON format; ``TopicOwner``/``TopicName`` keep an order that merely has a ``Message`` key out."""
    return isinstance(value, dict) and "Message" in value and "MessageId" in value and (
        "TopicOwner" in value or "TopicName" in value
    )


def is_stream_with_attrs(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"body", "attrs"} and isinstance(value["attrs"], dict)


def _read(payload: Any, field: str, message_id: str | None, limit: int) -> BatchItem:
    try:
        params = read_order_payload(payload, field, limit)
    except UnreadableMessage as err:
        return RecordProblem(0, TRIGGER, message_id, err)
    return OrderRecord(params=params, trigger=TRIGGER, message_id=message_id)


def read_notification(value: Mapping[str, Any], limit: int = MAX_PAYLOAD_BYTES) -> BatchItem:
    message_id = value.get("MessageId")
    return _read(value.get("Message"), "Message", str(message_id) if message_id else None, limit)


def read_stream(value: str | Mapping[str, Any], limit: int = MAX_PAYLOAD_BYTES) -> BatchItem:
    """STREAM: the raw message text, or the ``{"body", "attrs"}`` object when the message has attributes."""
    if isinstance(value, str):
        return _read(value, "event", None, limit)
    return _read(value.get("body"), "body", None, limit)
