"""Compact JSON text that is always valid UTF-8.

Input can carry a lone surrogate (a ``\\udXXX`` escape in a JSON body) into a log line, a response
or a downstream message. ``ensure_ascii=False`` keeps non-ASCII text readable, but a lone surrogate
cannot be encoded as UTF-8, so stdout drops the line and a socket refuses the body. Such text is
dumped again with escapes, which every reader accepts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


def dumps(value: Any, *, default: Callable[[Any], Any] | None = None, allow_nan: bool = True) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=default, allow_nan=allow_nan)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(value, ensure_ascii=True, separators=(",", ":"), default=default, allow_nan=allow_nan)
    return text
