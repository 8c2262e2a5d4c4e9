"""The one interface every downstream shares, and the encoding they all agree on.

Every placed order is pushed to every configured sink, so each backend must behave the same way to
its caller: take a JSON document and a stable id, deliver or raise a ``SinkError`` that says whether
a redelivery can help. Encoding and id rules live here so that a receiver of the webhook and a
consumer of the queue see byte-identical documents and can deduplicate on the same id.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

from .. import jsontext
from .exceptions import invalid_message

#: ``webhook-id`` must not contain '.' (Standard Webhooks signs "id.timestamp.body"), SQS caps a
#: MessageDeduplicationId at 128 characters, and MNS property values are free text: this is the
#: intersection, kept simple enough to put in a log line or a file name.
MESSAGE_ID_PATTERN = re.compile(r"[A-Za-z0-9_:\-]{1,128}")


class Sink(ABC):
    """A downstream that receives every placed order.

    ``name`` identifies the sink in logs and errors; it never contains credentials, query strings or
    user info, so it can be logged and returned to a caller as is.
    """

    name: str

    @abstractmethod
    def push(self, message: Mapping[str, Any], message_id: str) -> None:
        """Deliver ``message`` once (from the caller's point of view) or raise a ``SinkError``.

        ``message_id`` is stable for one order and message type, so a downstream that sees it twice
        knows the second copy is a retry and may drop it.
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


#: Characters ``json.dumps(ensure_ascii=False)`` leaves raw but ``str.splitlines`` (and old JavaScript)
#: treat as line breaks; they can only occur inside JSON strings, where the escape means the same.
_LINE_BREAKS = str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"})


def encode_message(sink: str, message: Mapping[str, Any]) -> str:
    """Compact JSON text on one line, non-ASCII kept as UTF-8 (a lone surrogate, which UTF-8 cannot carry, is
    escaped); refuses what JSON cannot carry (NaN, objects)."""
    try:
        text = jsontext.dumps(message, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise invalid_message(sink, f"the message is not JSON-serialisable ({type(exc).__name__})") from None
    return text.translate(_LINE_BREAKS)


def check_message_id(sink: str, message_id: str) -> str:
    if not isinstance(message_id, str) or not MESSAGE_ID_PATTERN.fullmatch(message_id):
        raise invalid_message(
            sink, "message_id must be 1-128 characters of letters, digits, '_', ':' or '-'")
    return message_id
