"""Tell an invocation's kind from the event's shape.

HTTP and direct invocation are told first and exactly as before; a queue trigger's event is tried
only after that, so an order is never read as a queue event. The reverse cannot happen either,
with one corner: CloudEvent attribute names are lower-case and broker messages keep the order in a
body field, but an MNS topic notification turns message attributes into top-level keys, so an
attribute named like an order parameter would make it a direct invocation. Validation then refuses
the notification's own keys, so nothing is ordered by mistake.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..errors import bad_request
from ..records import OrderRecord, looks_like_order
from .batch import Batch
from .http import HttpRequest, parse_http_event
from .payload import describe
from .queue import read_queue_event


@dataclass(frozen=True)
class HttpInvocation:
    request: HttpRequest


@dataclass(frozen=True)
class DirectInvocation:
    """InvokeFunction with the JSON order as the event; FC has already authenticated the caller."""

    record: OrderRecord


@dataclass(frozen=True)
class BatchInvocation:
    """A queue trigger's event (EventBridge or native MNS topic): orders plus any unreadable messages."""

    batch: Batch


@dataclass(frozen=True)
class TimerInvocation:
    """An FC timer trigger's event (``triggerTime``, ``triggerName``, ``payload``): it runs the sweep."""

    trigger_name: str
    trigger_time: str
    payload: str


Invocation = HttpInvocation | DirectInvocation | BatchInvocation | TimerInvocation


def is_timer_event(data: Any) -> bool:
    """Any timer event runs the sweep; an order never has these keys, and no queue event does either."""
    return isinstance(data, dict) and "triggerTime" in data and "triggerName" in data and not looks_like_order(data)


def classify(event: bytes | str | dict[str, Any] | list[Any], request_id: str | None = None) -> Invocation:
    """Decode the event and say what it is; an unrecognised event is a ``BadRequest`` that says what was seen."""
    if isinstance(event, (bytes, bytearray)):
        try:
            text = bytes(event).decode("utf-8")
        except UnicodeDecodeError:
            raise bad_request("the event is not UTF-8 text", "event") from None
    else:
        text = event if isinstance(event, str) else ""
    if isinstance(event, (dict, list)):
        data: Any = event
    else:
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            shown = text[:40].replace("\n", " ")
            raise bad_request(f"the event is not JSON (starts with {shown!r})", "event") from None

    if isinstance(data, dict) and data.get("version") == "v1" and isinstance(data.get("requestContext"), dict):
        return HttpInvocation(parse_http_event(data))
    if is_timer_event(data):
        return TimerInvocation(str(data.get("triggerName"))[:128], str(data.get("triggerTime"))[:64],
                               str(data.get("payload") or "")[:256])
    if isinstance(data, dict) and looks_like_order(data):
        return DirectInvocation(OrderRecord(params=data, trigger="invoke", message_id=request_id))
    batch = read_queue_event(data)
    if batch is not None:
        return BatchInvocation(batch)
    raise bad_request(
        f"unrecognised event: saw {describe(data)}; expected an FC HTTP trigger event, an order object "
        "with CreateCertificateForPackageRequest parameters, or a queue trigger event (EventBridge CloudEvents "
        "or RawData from MNS, RocketMQ, Kafka or RabbitMQ, or an MNS topic notification)",
        "event",
    )
