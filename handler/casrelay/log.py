"""One JSON line per event, on stdout, where FC ships it to Log Service.

Personal data is masked before it reaches a line (an e-mail keeps its first character and domain, a
phone its last four digits), and no credential is ever passed in: the logger takes only the fields
a caller names, so a secret cannot slip in through a whole object being dumped.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from typing import Any

from . import jsontext


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is at the time, so redirection (FC, tests) is honoured."""

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


_logger = logging.getLogger("casrelay")
if not _logger.handlers:
    _handler = _StdoutHandler()
    _handler.setFormatter(logging.Formatter("%(message)s"))
    _logger.addHandler(_handler)
    _logger.setLevel(logging.INFO)
    _logger.propagate = False


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


def emit(event: str, level: int = logging.INFO, **fields: Any) -> None:
    record = {"ts": round(time.time(), 3), "level": logging.getLevelName(level), "event": event}
    record.update({k: v for k, v in fields.items() if v is not None})
    _logger.log(level, jsontext.dumps(record, default=str))


def metric(name: str, value: float, unit: str = "Count", **dimensions: Any) -> None:
    """One structured metric line (``"event": "metric"``) that an SLS dashboard can aggregate by
    ``metric`` and chart ``value`` over, grouped by the dimension fields."""
    emit("metric", metric=name, value=value, unit=unit, **dimensions)
