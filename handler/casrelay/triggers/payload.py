"""One queue message's payload -> the order object it carries, and a safe description of any JSON value.

A queue message holds one order as the same JSON object an HTTP body would. How it arrives depends
on the trigger's settings, not on anything in the event: text (MNS with ``IsBase64Decode`` on), base64
(MNS with it off, Kafka's Binary format), or a JSON object already decoded (RabbitMQ, Kafka's JSON
format). Nothing in the event says which, so the reader tries JSON first and then base64. A JSON
object never starts with a base64 character, so that order cannot mistake one for the other.

Errors name the field and what was wrong with it, never the payload's content: a payload can carry
an e-mail address or a phone number, which must not reach a log line.

An order object that gives a key twice, at any depth, is refused as a permanently unreadable message
naming the key: which of the two values the sender meant cannot be known (``{"DryRun": true, "DryRun":
false}``). A message read from text is parsed strictly; an object that came already decoded inside
the event carries the mark ``loads_marking_duplicates`` left on it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from ..errors import BadRequest, FieldError, UnreadableMessage, bad_request, unreadable_message
from ..jsontext import DuplicateKeyError, duplicate_key_in, loads_strict, shown_key

MAX_PAYLOAD_BYTES = 64 * 1024  # the HTTP trigger's default MAX_BODY_BYTES; an order is a few KiB

_BASE64 = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")
_NOT_AN_OBJECT = "not an object holding the order's parameters"


def is_cloudevent(value: Any) -> bool:
    """RawData messages never have a ``data`` key, and CloudEvents always carry ``specversion``, or at
    least ``type`` and ``source``: together these tell an envelope from a bare message."""
    return isinstance(value, dict) and "data" in value and (
        "specversion" in value or ("type" in value and "source" in value)
    )


def describe(value: Any, _depth: int = 0) -> str:
    """Say what a JSON value looks like (types, keys, CloudEvent types) without echoing its content."""
    if isinstance(value, dict):
        if _depth < 2 and is_cloudevent(value):
            kind = str(value.get("type"))[:60]
            return f"a CloudEvent of type {kind!r} whose data is {describe(value.get('data'), _depth + 1)}"
        keys = ", ".join(sorted(str(k)[:40] for k in value)[:8])
        return f"a JSON object with keys [{keys}]"
    if isinstance(value, list):
        if not value:
            return "an empty JSON array"
        if _depth >= 1:
            return f"a JSON array of {len(value)} element(s)"
        seen = list(dict.fromkeys(describe(v, _depth + 1) for v in value[:50]))
        shown = "; ".join(seen[:3]) + ("; ..." if len(seen) > 3 else "")
        return f"a JSON array of {len(value)} element(s): {shown}"
    if isinstance(value, bool):
        return "a JSON boolean"
    if isinstance(value, (int, float)):
        return "a JSON number"
    if isinstance(value, str):
        return "a JSON string"
    if value is None:
        return "JSON null"
    return f"a {type(value).__name__}"


def _size(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogatepass"))
    try:
        return len(json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    except (TypeError, ValueError, RecursionError):
        return 0


def _too_large(field: str, size: int, limit: int) -> UnreadableMessage:
    return unreadable_message(field, f"has {size} bytes; the limit for one order is {limit}", "TooLarge")


def _repeated_key(field: str, key: str) -> UnreadableMessage:
    return unreadable_message(field, f"holds a JSON object that gives the key {shown_key(key)!r} more than once; "
                              "each parameter must be given once", "DuplicateKey")


def duplicate_key_request(exc: DuplicateKeyError, what: str) -> BadRequest:
    """The 400 for a request or event (``what``: "the JSON body", "the event") that gives a key twice.

    The field is the key itself (cut short), and the message names it and nothing of the values."""
    message = f"{what} gives the key {exc.shown!r} more than once in one JSON object; each parameter must be " \
              "given once"
    err = bad_request(message, exc.shown)
    err.errors = (FieldError(exc.shown, "DuplicateKey", message),)
    return err


def _json(text: str, field: str) -> tuple[Any, str | None]:
    """(value, None) when ``text`` is JSON, else (None, why not); a repeated key raises at once."""
    try:
        return loads_strict(text), None
    except DuplicateKeyError as exc:
        raise _repeated_key(field, exc.key) from None
    except json.JSONDecodeError as exc:
        return None, f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    except (ValueError, RecursionError):
        return None, "too deeply nested"


def _from_base64(field: str, text: str, limit: int) -> dict[str, Any]:
    """The second reading of a text payload; raises with the reason the first (JSON) one failed too."""
    compact = text.replace("\r", "").replace("\n", "").strip()
    if not compact or not _BASE64.fullmatch(compact):
        _, why = _json(text, field)
        raise unreadable_message(field, f"is not JSON ({why}) and not base64")
    if "=" not in compact:  # some encoders drop the padding
        compact += "=" * (-len(compact) % 4)
    try:
        raw = base64.b64decode(compact, altchars=b"-_" if ("-" in compact or "_" in compact) else None,
                               validate=True)
    except (binascii.Error, ValueError):
        raise unreadable_message(field, "is not JSON, and as base64 it does not decode") from None
    if len(raw) > limit:
        raise _too_large(field, len(raw), limit)
    try:
        decoded = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise unreadable_message(field, "is not JSON, and its base64 decodes to bytes that are not UTF-8 text") \
            from None
    value, why = _json(decoded, field)
    if why is not None:
        raise unreadable_message(field, f"is not JSON, and its base64 decodes to text that is not JSON ({why})")
    if not isinstance(value, dict):
        raise unreadable_message(field, f"decodes from base64 to {describe(value, 1)}, {_NOT_AN_OBJECT}")
    return value


def read_order_payload(value: Any, field: str, limit: int = MAX_PAYLOAD_BYTES) -> dict[str, Any]:
    """The order object inside one message's payload, or an ``UnreadableMessage`` naming ``field``."""
    if isinstance(value, dict):
        size = _size(value)
        if size > limit:
            raise _too_large(field, size, limit)
        repeated = duplicate_key_in(value)
        if repeated is not None:
            raise _repeated_key(field, repeated)
        return value
    if not isinstance(value, str):
        raise unreadable_message(field, f"is {describe(value, 1)}, {_NOT_AN_OBJECT}")
    size = _size(value)
    if size > 2 * limit:  # longer than even the base64 of an order at the limit
        raise _too_large(field, size, limit)
    if not value.strip():
        raise unreadable_message(field, "is empty")
    parsed, why = _json(value, field)
    if why is None:
        if isinstance(parsed, dict):
            if size > limit:
                raise _too_large(field, size, limit)
            return parsed
        try:
            return _from_base64(field, value, limit)  # "1234" is both a JSON number and base64
        except UnreadableMessage:
            raise unreadable_message(field, f"is {describe(parsed, 1)}, {_NOT_AN_OBJECT}") from None
    return _from_base64(field, value, limit)
