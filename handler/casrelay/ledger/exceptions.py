"""Ledger-internal failures. What a caller sees is built from these in ``casrelay.errors``."""

from __future__ import annotations

from ..config import ConfigError


class LedgerError(Exception):
    """Base of every ledger failure."""


class StoreUnavailable(LedgerError):
    """The store could not be read or written; the order must not proceed without it."""


class StoreConfigError(LedgerError, ConfigError):
    """``IDEMPOTENCY_STORE`` names no usable store; the message names the variable."""


class LostRace(LedgerError):
    """A conditional write found a newer version: another instance moved the record first."""


class RecordUnreadable(StoreUnavailable):
    """A stored record is damaged; the order stops with 503 rather than being treated as new."""

    def __init__(self, key: str) -> None:
        super().__init__(f"the ledger record for {key} cannot be read")
        self.key = key
