"""A queue trigger's decoded event -> a ``Batch`` of order records and unreadable messages.

FC passes no trigger type, so the event's shape says what it is (see the FC3 event reference):

- a JSON array: EventBridge ``event-streaming``, of CloudEvents, of JSON strings each holding one
  (Kafka, as the Go runtime SDK shows), or of bare messages (``RawData`` schema);
- one CloudEvent: EventBridge ``event-driven``;
- a ``TopicOwner``/``Message``/``MessageId`` object, or STREAM's ``{"body", "attrs"}``: the native MNS
  topic trigger; STREAM's bare message text is read by ``read_mns_topic_stream``;
- one bare broker message: ``RawData`` outside a batch.

An event none of these fit gives ``None``, so that the caller can say what it saw. Once an event is
known to be a batch, nothing inside it raises: each message that cannot be read becomes a
``RecordProblem`` in its place and the other orders go ahead.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .. import jsontext
from ..errors import unreadable_message
from . import mns_topic
from .batch import MAX_RECORDS, Batch, BatchItem, RecordProblem
from .cloudevents import raw_data_kind, read_cloudevent, read_raw
from .payload import MAX_PAYLOAD_BYTES, describe, is_cloudevent

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "MAX_RECORDS",
    "Batch",
    "BatchItem",
    "RecordProblem",
    "read_mns_topic_stream",
    "read_queue_event",
]


def _element_id(element: Any) -> str | None:
    event_id = element.get("id") if isinstance(element, dict) else None
    return event_id if isinstance(event_id, str) and event_id else None


def _read_element(element: Any, index: int, limit: int) -> tuple[BatchItem, str | None]:
    """One array element -> (its item, "cloudevent" | "raw"), or (its problem, None) when not a message."""
    seen = "is"
    if isinstance(element, str):  # Kafka's string-array form: each element is a JSON-encoded CloudEvent
        try:
            element = jsontext.loads_marking_duplicates(element)  # an order inside keeps its duplicate mark
        except (ValueError, RecursionError):
            problem = unreadable_message("element", "is a string that is not JSON")
            return RecordProblem(index, "unknown", None, problem), None
        seen = "is a string holding"
    if is_cloudevent(element):
        item = read_cloudevent(element, index, limit)
        if item is not None:
            return item, "cloudevent"
    else:
        item = read_raw(element, index, limit)
        if item is not None:
            return item, "raw"
    problem = unreadable_message(
        "element", f"{seen} {describe(element, 1)}, not a queue message (a CloudEvent or a RawData message)")
    return RecordProblem(index, "unknown", _element_id(element), problem), None


def _overflow(items: Sequence[BatchItem], total: int, max_records: int) -> RecordProblem:
    """One problem for the whole tail: a problem per dropped element could itself exhaust memory."""
    triggers = {i.trigger for i in items}
    trigger = triggers.pop() if len(triggers) == 1 else "unknown"
    problem = unreadable_message(
        "event", f"holds {total} messages; only the first {max_records} are read and the other "
        f"{total - max_records} are not", "TooMany")
    return RecordProblem(max_records, trigger, None, problem)


def _read_array(values: list[Any], max_records: int, limit: int) -> Batch | None:
    items: list[BatchItem] = []
    kinds: set[str] = set()
    for index, element in enumerate(values[:max_records]):
        item, kind = _read_element(element, index, limit)
        items.append(item)
        if kind is not None:
            kinds.add(kind)
    if not kinds:
        return None
    if len(values) > max_records:
        items.append(_overflow(items, len(values), max_records))
    return Batch("raw-data" if kinds == {"raw"} else "event-streaming", tuple(items))


def read_queue_event(value: Any, *, max_records: int = MAX_RECORDS,
                     limit: int = MAX_PAYLOAD_BYTES) -> Batch | None:
    """The batch an already-decoded event carries, or None when it is no queue trigger's event."""
    if isinstance(value, list):
        return _read_array(value, max_records, limit)
    if not isinstance(value, dict):
        return None
    if is_cloudevent(value):
        item = read_cloudevent(value, 0, limit)
        return None if item is None else Batch("event-driven", (item,))
    if mns_topic.is_notification(value):
        return Batch("mns-topic", (mns_topic.read_notification(value, limit),))
    if mns_topic.is_stream_with_attrs(value):
        return Batch("mns-topic", (mns_topic.read_stream(value, limit),))
    if raw_data_kind(value) is not None:
        raw = read_raw(value, 0, limit)
        return None if raw is None else Batch("raw-data", (raw,))
    return None


def read_mns_topic_stream(text: str, *, limit: int = MAX_PAYLOAD_BYTES) -> Batch:
    """An MNS topic STREAM event, which may be any text: the order's JSON, its base64, or the
    ``{"body", "attrs"}`` object. Only a caller that knows the trigger is STREAM can read it so."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        value = None
    if mns_topic.is_stream_with_attrs(value):
        return Batch("mns-topic", (mns_topic.read_stream(value, limit),))
    return Batch("mns-topic", (mns_topic.read_stream(text, limit),))
