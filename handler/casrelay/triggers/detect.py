"""Tell an invocation's kind from the event's shape."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..errors import bad_request
from ..records import OrderRecord, looks_like_order
from .http import HttpRequest, parse_http_event


@dataclass(frozen=True)
class HttpInvocation:
    request: HttpRequest


@dataclass(frozen=True)
class DirectInvocation:
    """InvokeFunction with the JSON order as the event; FC has already authenticated the caller."""

    record: OrderRecord


Invocation = HttpInvocation | DirectInvocation


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        keys = ", ".join(sorted(str(k) for k in value)[:8])
        return f"a JSON object with keys [{keys}]"
    if isinstance(value, list):
        return f"a JSON array of {len(value)} element(s)"
    return f"a JSON {type(value).__name__}"


def classify(event: bytes | str | dict[str, Any], request_id: str | None = None) -> Invocation:
    """Decode the event and say what it is; an unrecognised event is a ``BadRequest`` that says what was seen."""
    if isinstance(event, (bytes, bytearray)):
        try:
            text = bytes(event).decode("utf-8")
        except UnicodeDecodeError:
            raise bad_request("the event is not UTF-8 text", "event") from None
    else:
        text = event if isinstance(event, str) else ""
    if isinstance(event, dict):
        data: Any = event
    else:
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            shown = text[:40].replace("\n", " ")
            raise bad_request(f"the event is not JSON (starts with {shown!r})", "event") from None

    if isinstance(data, dict) and data.get("version") == "v1" and isinstance(data.get("requestContext"), dict):
        return HttpInvocation(parse_http_event(data))
    if isinstance(data, dict) and looks_like_order(data):
        return DirectInvocation(OrderRecord(params=data, trigger="invoke", message_id=request_id))
    raise bad_request(
        f"unrecognised event: saw {_describe(data)}; expected an FC HTTP trigger event or an order object "
        "with CreateCertificateForPackageRequest parameters",
        "event",
    )
