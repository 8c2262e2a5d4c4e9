"""The one place where a store failure becomes an answer.

A ledger write can fail (Redis down, a lost race that could not be retried, a damaged row). What
that failure means depends only on where in an order's life it happens, and there are three cases:

- before the paid call (``must``): nothing was ordered, so the order stops with 503
  ``LedgerUnavailable`` and the sender retries;
- after CAS answered (``settle``): CAS's answer is the truth and must not be lost, so the flow
  carries on with what it had (the OrderId still goes to the sinks, the caller and the log) and
  the record is finished by the sweep;
- bookkeeping (``attempt``): a lease given back, a delivery noted; failing only costs a repeat;
- work that reports instead of answering (``observe``): the sweep counts a failure and says in its
  summary that the ledger is unavailable, and the next tick tries again.

Every flow writes records through ``Ledger`` and wraps each write in one of these, so a store
failure is never a 500 and each one is logged the same way (by the exception's type: its text may
hold a URL's password).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from .. import log
from ..errors import ledger_unavailable
from .exceptions import LedgerError

T = TypeVar("T")


def must(write: Callable[[], T], key: str, event: str = "ledger.unavailable", level: int = logging.ERROR) -> T:
    """A write the order cannot go on without: a failure raises ``LedgerUnavailable`` (nothing ordered)."""
    try:
        return write()
    except LedgerError as exc:
        log.emit(event, level, key=key, reason=type(exc).__name__)
        raise ledger_unavailable(type(exc).__name__) from None


def settle(write: Callable[[], T], key: str, fallback: Any, event: str = "ledger.write_failed",
           level: int = logging.ERROR, **fields: Any) -> T | Any:
    """A write after CAS answered: a failure is logged and ``fallback`` returned, so the answer goes on."""
    try:
        return write()
    except LedgerError as exc:
        log.emit(event, level, key=key, reason=type(exc).__name__, **fields)
        return fallback


def attempt(write: Callable[[], object], key: str, event: str) -> bool:
    """Bookkeeping that may fail without harm (it is repeated later); ``False`` when it failed."""
    try:
        write()
    except LedgerError as exc:
        log.emit(event, logging.WARNING, key=key, reason=type(exc).__name__)
        return False
    return True


def observe(call: Callable[[], T]) -> tuple[T | None, str | None]:
    """A ledger call whose failure is reported, not raised: ``(value, None)``, or ``(None, the failure's type)``."""
    try:
        return call(), None
    except LedgerError as exc:
        return None, type(exc).__name__
