"""``memory://``: a process-local store for unit tests and single-process demos."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from ..record import LedgerRecord
from .base import LedgerStore


class MemoryStore(LedgerStore):
    def __init__(self) -> None:
        self._records: dict[str, LedgerRecord] = {}
        self._orders: dict[int, str] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> LedgerRecord | None:
        with self._lock:
            return self._records.get(key)

    def _index(self, record: LedgerRecord) -> None:
        if record.order_id is not None:
            self._orders[record.order_id] = record.key

    def create(self, record: LedgerRecord) -> bool:
        with self._lock:
            if record.key in self._records:
                return False
            self._records[record.key] = record
            self._index(record)
            return True

    def replace(self, record: LedgerRecord, expected_version: int) -> bool:
        with self._lock:
            current = self._records.get(record.key)
            if current is None or current.version != expected_version:
                return False
            self._records[record.key] = record
            self._index(record)
            return True

    def delete(self, key: str, expected_version: int) -> bool:
        with self._lock:
            current = self._records.get(key)
            if current is None or current.version != expected_version:
                return False
            del self._records[key]
            return True

    def find_by_order_id(self, order_id: int) -> str | None:
        with self._lock:
            return self._orders.get(order_id)

    def scan(self, states: Iterable[str] | None = None) -> list[LedgerRecord]:
        wanted = set(states) if states is not None else None
        with self._lock:
            return [r for r in self._records.values() if wanted is None or r.state in wanted]

    def scan_open(self, before: float, limit: int) -> tuple[list[LedgerRecord], list[str]]:
        with self._lock:
            found = [r for r in self._records.values() if r.open and r.updated_at <= before]
        return sorted(found, key=lambda r: (r.updated_at, r.key))[:limit], []

    def calls_out(self, names_key: str) -> list[LedgerRecord]:
        with self._lock:
            return [r for r in self._records.values() if r.call_out and r.names_key == names_key]

    def due_follow(self, now: float, limit: int) -> tuple[list[LedgerRecord], list[str]]:
        with self._lock:
            found = [r for r in self._records.values() if r.next_poll_at is not None and r.next_poll_at <= now]
        return sorted(found, key=lambda r: (r.next_poll_at or 0.0, r.key))[:limit], []

    def purge_expired(self, now: float, limit: int) -> int:
        with self._lock:
            gone = [k for k, r in self._records.items() if r.expired(now) and not r.open][:limit]
            for key in gone:
                record = self._records.pop(key)
                if record.order_id is not None and self._orders.get(record.order_id) == key:
                    del self._orders[record.order_id]
            return len(gone)
