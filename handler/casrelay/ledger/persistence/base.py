"""The small interface every ledger store implements.

Two writes are all the ledger needs, and both are conditional, so that two instances can never
both believe they own a key: ``create`` succeeds only when no record exists, and ``replace`` only
when the stored version is the one the caller read. Everything else (claim, order, deliver, fail)
is built on top of those two in ``ledger/base.py``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable

from ..record import LedgerRecord


class LedgerStore(ABC):
    @abstractmethod
    def get(self, key: str) -> LedgerRecord | None:
        """The record for ``key``, or ``None``."""

    @abstractmethod
    def create(self, record: LedgerRecord) -> bool:
        """Insert ``record`` if no record exists for its key; ``False`` if one does."""

    @abstractmethod
    def replace(self, record: LedgerRecord, expected_version: int) -> bool:
        """Store ``record`` if the stored version equals ``expected_version``; ``False`` otherwise."""

    @abstractmethod
    def delete(self, key: str, expected_version: int) -> bool:
        """Remove the record if its version is ``expected_version``; used only when CAS certainly did not act."""

    @abstractmethod
    def find_by_order_id(self, order_id: int) -> str | None:
        """The key that owns ``order_id``, so reconciliation never adopts one order for two keys."""

    @abstractmethod
    def scan(self, states: Iterable[str] | None = None) -> list[LedgerRecord]:
        """Records in the given states (all when ``None``); for the operator command, not the hot path."""

    @abstractmethod
    def scan_open(self, before: float, limit: int) -> tuple[list[LedgerRecord], list[str]]:
        """Open records (``LedgerRecord.open``) last written no later than ``before``, oldest first, at most
        ``limit``; and the keys of damaged records met on the way. For the sweep, not the hot path."""

    @abstractmethod
    def calls_out(self, names_key: str) -> list[LedgerRecord]:
        """Every record with ``names_key`` whose paid call may be out (``LedgerRecord.call_out``), without a
        limit: reconciliation must never miss one, or it could adopt that key's order for another key. The
        stores index them, so the cost follows how many are out for these names, not the ledger's size."""

    @abstractmethod
    def due_follow(self, now: float, limit: int) -> tuple[list[LedgerRecord], list[str]]:
        """Records whose ``next_poll_at`` is no later than ``now``, soonest first, at most ``limit``; and the keys
        of damaged records met on the way. For the lifecycle follower, on the sweep."""

    @abstractmethod
    def purge_expired(self, now: float, limit: int) -> int:
        """Delete up to ``limit`` records whose retention ended before ``now``; return how many. Stores whose
        records expire by themselves (Redis) return 0."""

    def compact(self) -> None:  # noqa: B027 - optional: most stores have nothing to put off
        """Housekeeping a store can put off the order path until the sweep (SQLite: folding its write-ahead
        log back into the database, which costs an order that pays for it a hundred times its usual time)."""

    def close(self) -> None:  # noqa: B027 - optional for backends without resources
        """Release connections."""
