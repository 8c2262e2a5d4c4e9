"""EventBridge-delivered queue messages (MNS queue, RocketMQ, Kafka, RabbitMQ) -> order records.

EventBridge hands a message over either inside a CloudEvent (schema ``CloudEvents``) or bare (schema
``RawData``, only the CloudEvent's ``data``). The kind is told from the CloudEvent ``type`` when there
is one, and otherwise from the message's own fields, which differ for each broker.

``message_id`` is the id that stays the same when the same message is delivered again, so that a
later step can deduplicate on it: the broker's own message id where there is one, Kafka's
topic/partition/offset, and the CloudEvent ``id`` (kept across EventBridge's push retries) otherwise.
RabbitMQ's ``deliveryTag`` is not used: it counts deliveries on one channel, so two different
messages can share it, and deduplicating on it could drop an order.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any

from .. import jsontext
from ..errors import UnreadableMessage, unreadable_message
from ..records import OrderRecord, looks_like_order
from .batch import BatchItem, RecordProblem
from .payload import MAX_PAYLOAD_BYTES, describe, read_order_payload

KIND_BY_TYPE = {
    "mns:Queue:SendMessage": "mns",
    "mq:Topic:SendMessage": "rocketmq",
    "alikafka:Topic:Message": "kafka",
    "amqp:Queue:SendMessage": "rabbitmq",
}

PAYLOAD_FIELD = {"mns": "messageBody", "rocketmq": "body", "kafka": "value", "rabbitmq": "body"}


def _id(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _mns_id(data: Mapping[str, Any]) -> str | None:
    return _id(data.get("messageId"))


def _rocketmq_id(data: Mapping[str, Any]) -> str | None:
    # UNIQ_KEY is set by the producer and survives redelivery; msgId is the self-managed RocketMQ form
    return _id(_mapping(data.get("systemProperties")).get("UNIQ_KEY")) or _id(data.get("msgId"))


def _kafka_id(data: Mapping[str, Any]) -> str | None:
    parts = [_id(data.get(k)) for k in ("topic", "partition", "offset")]
    return "/".join(p for p in parts if p is not None) if all(p is not None for p in parts) else None


def _rabbitmq_id(data: Mapping[str, Any]) -> str | None:
    return _id(_mapping(data.get("props")).get("messageId"))


MESSAGE_ID: dict[str, Callable[[Mapping[str, Any]], str | None]] = {
    "mns": _mns_id, "rocketmq": _rocketmq_id, "kafka": _kafka_id, "rabbitmq": _rabbitmq_id,
}


def raw_data_kind(data: Any) -> str | None:
    """The broker a bare message came from, told by the fields only that broker's messages have."""
    if not isinstance(data, dict):
        return None
    if "messageBody" in data:
        return "mns"
    if "body" in data and "systemProperties" in data:
        return "rocketmq"
    if "value" in data and "partition" in data and "offset" in data:
        return "kafka"
    if "body" in data and "envelope" in data:  # MQTT has props+body too, but never an envelope
        return "rabbitmq"
    return None


def read_message(data: Mapping[str, Any], kind: str, index: int, prefix: str = "",
                 fallback_id: str | None = None, limit: int = MAX_PAYLOAD_BYTES) -> BatchItem:
    """One broker message (a CloudEvent's ``data``, or a RawData element) -> its order or its problem."""
    message_id = MESSAGE_ID[kind](data) or fallback_id
    key = PAYLOAD_FIELD[kind]
    if key not in data:
        return RecordProblem(index, kind, message_id, unreadable_message(prefix + key, "is missing"))
    try:
        params = read_order_payload(data[key], prefix + key, limit)
    except UnreadableMessage as err:
        return RecordProblem(index, kind, message_id, err)
    return OrderRecord(params=params, trigger=kind, message_id=message_id)


def read_raw(data: Any, index: int, limit: int = MAX_PAYLOAD_BYTES) -> BatchItem | None:
    """A RawData message, or None when its fields match no supported broker."""
    kind = raw_data_kind(data)
    return None if kind is None else read_message(data, kind, index, "", None, limit)


def _custom_event(event: Mapping[str, Any], index: int, limit: int) -> BatchItem | None:
    """A CloudEvent of a type no broker uses (an application's own event on an EventBridge bus) is read
    only when its data is plainly an order; anything else is not an event casrelay was meant to get."""
    event_id = _id(event.get("id"))
    data = event.get("data")
    try:
        params = read_order_payload(data, "data", limit)
    except UnreadableMessage as err:
        if isinstance(data, dict) and looks_like_order(data):  # an order, but too large
            return RecordProblem(index, "eventbridge", event_id, err)
        return None
    if not looks_like_order(params):
        return None
    return OrderRecord(params=params, trigger="eventbridge", message_id=event_id)


def read_cloudevent(event: Mapping[str, Any], index: int, limit: int = MAX_PAYLOAD_BYTES) -> BatchItem | None:
    """A CloudEvent -> its order or its problem; None when neither its type nor its data is recognised."""
    event_id = _id(event.get("id"))
    event_type = event.get("type")
    data = event.get("data")
    kind = KIND_BY_TYPE.get(event_type) if isinstance(event_type, str) else None
    if kind is not None and isinstance(data, str):  # a data object delivered as JSON text
        with contextlib.suppress(ValueError, RecursionError):
            data = jsontext.loads_marking_duplicates(data)  # an order inside keeps its duplicate mark
    if kind is None:
        kind = raw_data_kind(data)
    if kind is None:
        return _custom_event(event, index, limit)
    if not isinstance(data, dict):
        problem = f"is {describe(data, 1)}, not the message object of a {event_type!s:.60} event"
        return RecordProblem(index, kind, event_id, unreadable_message("data", problem))
    return read_message(data, kind, index, "data.", event_id, limit)
