"""One JSON line per event, on stdout, where FC ships it to Log Service.

Personal data is masked before it reaches a line (an e-mail keeps its first character and domain, a
phone its last four digits), and no credential is ever passed in: the logger takes only the fields
a caller names, so a secret cannot slip in through a whole object being dumped.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from typing import Any

from . import jsontext

_LEVELS = {logging.DEBUG: "DEBUG", logging.INFO: "INFO", logging.WARNING: "WARNING", logging.ERROR: "ERROR",
           logging.CRITICAL: "CRITICAL"}
_write_lock = threading.Lock()
#: Where lines go instead of stdout (``lines_to``); empty means stdout.
_writers: list[Callable[[str], None]] = []


def _to_stdout(line: str) -> None:
    """To whatever ``sys.stdout`` is at the time, so redirection (FC, tests) is honoured."""
    sys.stdout.write(line)
    sys.stdout.flush()


@contextmanager
def lines_to(write: Callable[[str], None]) -> Iterator[None]:
    """Send every line (with its newline) to ``write`` instead of stdout for a while (the innermost such block
    wins): the demo and the chaos run keep the function's lines in a file, and tests collect them."""
    _writers.append(write)
    try:
        yield
    finally:
        _writers.remove(write)


def mask_email(value: str | None) -> str | None:
    if not value:
        return value
    local, _, domain = value.rpartition("@")
    if not local:
        return "***"
    return f"{local[0]}***@{domain}"


def mask_phone(value: str | None) -> str | None:
    if not value:
        return value
    digits = [c for c in value if c.isdigit()]
    return "***" + "".join(digits[-4:]) if len(digits) > 4 else "***"


_EMAIL_IN_TEXT = re.compile(r"[^\s@<>\"',;:]+@[^\s@<>\"',;:]+\.[A-Za-z]{2,}")
_PHONE_IN_TEXT = re.compile(r"(?<!\d)\+?\d[\d\- ]{5,14}\d(?!\d)")  # 7 to 16 digits: not an OrderId


def mask_contacts_in(text: str) -> str:
    """Free text from elsewhere (a CAS error message) with any e-mail address or phone number in it masked."""
    text = _EMAIL_IN_TEXT.sub(lambda m: mask_email(m.group(0)) or "***", text)
    return _PHONE_IN_TEXT.sub(lambda m: mask_phone(m.group(0)) or "***", text)


#: Fields every line of the current invocation (or order, in a batch thread) carries: bound once by
#: the entry adapter and the order flow instead of being passed to each call by hand.
_bound: ContextVar[dict[str, Any]] = ContextVar("casrelay_log_fields", default={})  # noqa: B039 - never mutated


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Add ``fields`` to every line emitted inside the block (in this thread or context only)."""
    token = _bound.set({**_bound.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _bound.reset(token)


#: The measures of the order being placed in this context (``tallied``), or None outside an order.
_tally: ContextVar[dict[str, float] | None] = ContextVar("casrelay_log_tally", default=None)


@contextmanager
def tallied() -> Iterator[dict[str, float]]:
    """Collect what the calls made for one order measure (CAS time, calls, throttles), to be written on the
    order's own line: one write per order instead of one per call, and the figures still per order."""
    tally: dict[str, float] = {}
    token = _tally.set(tally)
    try:
        yield tally
    finally:
        _tally.reset(token)


def add_to_tally(**values: float) -> bool:
    """Add ``values`` to the current order's tally; ``False`` outside an order (log them some other way)."""
    tally = _tally.get()
    if tally is None:
        return False
    for name, value in values.items():
        if value:
            tally[name] = round(tally.get(name, 0) + value, 1)
    return True


def where(exc: BaseException) -> str:
    """Where a bug was raised (type, file and line of the innermost frame), never its message, which
    could carry input or a secret."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return type(exc).__name__
    return f"{type(exc).__name__} at {tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}"


def _write(event: str, level: int, context: dict[str, Any], fields: dict[str, Any]) -> None:
    """Format and write one line. Written directly, not through ``logging``: its records, handlers and
    formatter cost three times the line itself, on every order. A line that cannot be written is dropped
    (stdout closed): logging never stops an order."""
    record = {"ts": round(time.time(), 3), "level": _LEVELS.get(level) or logging.getLevelName(level),
              "event": event}
    record.update(context)
    record.update({k: v for k, v in fields.items() if v is not None})
    line = jsontext.dumps(record, default=str) + "\n"
    write = _writers[-1] if _writers else _to_stdout
    with _write_lock, suppress(OSError, ValueError):
        write(line)


def emit(event: str, level: int = logging.INFO, **fields: Any) -> None:
    _write(event, level, _bound.get(), fields)


def metric(name: str, value: float, unit: str = "Count", **dimensions: Any) -> None:
    """One structured metric line (``"event": "metric"``) that an SLS dashboard can aggregate by
    ``metric`` and chart ``value`` over, grouped by the dimension fields. Of the bound context it
    carries only the request id: a key or a message id would be a dimension of one value each."""
    request_id = _bound.get().get("fc_request_id")
    _write("metric", logging.INFO, {"fc_request_id": request_id} if request_id else {},
           {"metric": name, "value": value, "unit": unit, **dimensions})
