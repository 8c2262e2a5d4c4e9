"""Compact JSON text that is always valid UTF-8, and JSON input that gives no key twice.

Input can carry a lone surrogate (a ``\\udXXX`` escape in a JSON body) into a log line, a response
or a downstream message. ``ensure_ascii=False`` keeps non-ASCII text readable, but a lone surrogate
cannot be encoded as UTF-8, so stdout drops the line and a socket refuses the body. Such text is
dumped again with escapes, which every reader accepts.

``json.loads`` keeps the last of two equal keys, so ``{"DryRun": true, "DryRun": false}`` would place
a paid order that its sender may have meant as a dry run, and another reader (a proxy, a log viewer)
may keep the first one. ``loads_strict`` refuses such text at any depth with a ``DuplicateKeyError``
that names the key. ``loads_marking_duplicates`` reads it anyway and marks each object that holds a
repeated key, or holds one that does, so that a batch can set aside just the messages concerned.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

#: How much of a repeated key an error shows: keys are the sender's text, not ours to echo at length.
SHOWN_KEY_CHARS = 40


class DuplicateKeyError(ValueError):
    """A JSON object gives ``key`` twice. The message names the key (cut to ``SHOWN_KEY_CHARS``), never a value."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.shown = shown_key(key)
        super().__init__(f"the key {self.shown!r} is given more than once in one JSON object")


def shown_key(key: str) -> str:
    return key if len(key) <= SHOWN_KEY_CHARS else key[: SHOWN_KEY_CHARS - 3] + "..."


def _repeated(pairs: list[tuple[str, Any]]) -> str:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            return key
        seen.add(key)
    raise AssertionError("no repeated key")  # pragma: no cover (called only when there is one)


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):  # the common case costs one comparison
        raise DuplicateKeyError(_repeated(pairs))
    return obj


def loads_strict(text: str | bytes) -> Any:
    """``json.loads``, except that an object giving a key twice, at any depth, raises ``DuplicateKeyError``.

    Syntax errors stay ``json.JSONDecodeError`` and too deep nesting ``RecursionError``, as with ``json.loads``.
    """
    return json.loads(text, object_pairs_hook=_unique_object)


class MarkedObject(dict[str, Any]):
    """A JSON object that repeats ``duplicate_key``, or holds (through objects and arrays) one that does."""

    __slots__ = ("duplicate_key",)

    def __init__(self, pairs: dict[str, Any], duplicate_key: str) -> None:
        super().__init__(pairs)
        self.duplicate_key = duplicate_key


def duplicate_key_in(value: Any) -> str | None:
    """The repeated key that ``loads_marking_duplicates`` marked in ``value`` or below it, if any."""
    stack = [value]
    while stack:  # iterative: arrays may nest as deep as the parser allows
        node = stack.pop()
        if isinstance(node, MarkedObject):
            return node.duplicate_key
        if isinstance(node, list):
            stack.extend(v for v in node if isinstance(v, (list, MarkedObject)))
    return None


def _marking_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        return MarkedObject(obj, _repeated(pairs))
    # inner objects were marked when they were read, so a child's mark is all there is to look for
    for v in obj.values():
        key = duplicate_key_in(v) if isinstance(v, (list, MarkedObject)) else None
        if key is not None:
            return MarkedObject(obj, key)
    return obj


def loads_marking_duplicates(text: str | bytes) -> Any:
    """``json.loads`` that keeps the last of two equal keys, as it does, but marks the objects concerned:
    each is a ``MarkedObject`` whose ``duplicate_key`` names the key (see ``duplicate_key_in``)."""
    return json.loads(text, object_pairs_hook=_marking_object)


def dumps(value: Any, *, default: Callable[[Any], Any] | None = None, allow_nan: bool = True) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=default, allow_nan=allow_nan)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(value, ensure_ascii=True, separators=(",", ":"), default=default, allow_nan=allow_nan)
    return text
