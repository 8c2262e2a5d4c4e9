"""Tell an invocation's kind from the event's shape.

HTTP and direct invocation are told first and exactly as before; a queue trigger's event is tried
only after that, so an order is never read as a queue event. The reverse cannot happen either,
with one corner: CloudEvent attribute names are lower-case and broker messages keep the order in a
body field, but an MNS topic notification turns message attributes into top-level keys, so an
attribute named like an order parameter would make it a direct invocation. Validation then refuses
the notification's own keys, so nothing is ordered by mistake.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import RelayError, bad_request
from ..jsontext import DuplicateKeyError, loads_marking_duplicates, loads_strict
from ..records import OrderRecord, looks_like_order
from .batch import Batch
from .http import HttpRequest, parse_http_event
from .payload import describe, duplicate_key_request
from .queue import read_queue_event


@dataclass(frozen=True)
class HttpInvocation:
    """An FC HTTP trigger event. When it has an HTTP event's shape but cannot be read, ``request`` is
    None and ``error`` says why: it is still answered as HTTP (a dict with ``statusCode``), because FC
    turns any other result into a 200 whose body is that result."""

    request: HttpRequest | None
    error: RelayError | None = None


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


def is_http_event(data: Any) -> bool:
    """An FC HTTP trigger event: ``version`` ``v1`` with ``requestContext`` or ``rawPath``, whatever
    their values (a damaged one must still be answered as HTTP)."""
    return isinstance(data, dict) and data.get("version") == "v1" and ("requestContext" in data or "rawPath" in data)


def _http_invocation(data: dict[str, Any]) -> HttpInvocation:
    try:
        return HttpInvocation(parse_http_event(data))
    except RelayError as err:
        return HttpInvocation(None, err)


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
            data = loads_strict(text)
        except DuplicateKeyError as exc:
            return _queue_event_despite(exc, text)
        except (ValueError, RecursionError):
            shown = text[:40].replace("\n", " ")
            raise bad_request(f"the event is not JSON (starts with {shown!r})", "event") from None

    if is_http_event(data):
        return _http_invocation(data)
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


def _queue_event_despite(exc: DuplicateKeyError, text: str) -> BatchInvocation | HttpInvocation:
    """An event that gives a key twice in one object is refused with a 400 naming the key (a direct
    invocation's event is the order itself), unless it is a queue trigger's event: there only the
    messages whose orders repeat a key are set aside, as unreadable, and the batch's other orders go on."""
    data = loads_marking_duplicates(text)
    if is_http_event(data):
        return HttpInvocation(None, duplicate_key_request(exc, "the event"))
    if isinstance(data, dict) and (("version" in data and "requestContext" in data) or looks_like_order(data)
                                   or is_timer_event(data)):
        raise duplicate_key_request(exc, "the event")
    batch = read_queue_event(data)
    if batch is None:
        raise duplicate_key_request(exc, "the event")
    return BatchInvocation(batch)
