"""``sqlite:///path``: the embedded default.

SQLite serves one instance only (FC instances do not share ``/tmp``), so the function warns at start
when it runs in FC with this store. Conditional writes are single statements (``INSERT OR IGNORE``,
``UPDATE … WHERE version = ?``), which SQLite executes atomically even across processes.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable

from ..exceptions import StoreUnavailable
from ..record import LedgerRecord
from .base import LedgerStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger (
    key TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    state TEXT NOT NULL,
    order_id INTEGER,
    expires_at REAL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_order_id ON ledger(order_id);
CREATE INDEX IF NOT EXISTS ledger_state ON ledger(state);
"""


class SqliteStore(LedgerStore):
    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()
        self._last_sweep = 0.0
        directory = os.path.dirname(path)
        try:
            if directory:
                os.makedirs(directory, exist_ok=True)
            self._conn().executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailable(f"cannot open the SQLite ledger at {path}: {type(exc).__name__}") from None

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            # WAL with NORMAL survives a process crash; only an OS crash can lose the last commits, and in
            # FC that also wipes /tmp, where this ledger lives. FULL would flush the disk on every commit.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=10000")
            self._local.conn = conn
        return conn

    def _run(self, sql: str, args: tuple[object, ...]) -> sqlite3.Cursor:
        try:
            return self._conn().execute(sql, args)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"SQLite ledger error: {type(exc).__name__}") from None

    def get(self, key: str) -> LedgerRecord | None:
        row = self._run("SELECT data FROM ledger WHERE key = ?", (key,)).fetchone()
        return LedgerRecord.from_json(row[0]) if row else None

    def _sweep(self) -> None:
        now = time.time()
        if now - self._last_sweep > 300:
            self._last_sweep = now
            self._run("DELETE FROM ledger WHERE expires_at IS NOT NULL AND expires_at < ?", (now,))

    def create(self, record: LedgerRecord) -> bool:
        self._sweep()
        cur = self._run(
            "INSERT OR IGNORE INTO ledger (key, version, state, order_id, expires_at, data) VALUES (?, ?, ?, ?, ?, ?)",
            (record.key, record.version, record.state, record.order_id, record.expires_at, record.to_json()),
        )
        return cur.rowcount == 1

    def replace(self, record: LedgerRecord, expected_version: int) -> bool:
        cur = self._run(
            "UPDATE ledger SET version = ?, state = ?, order_id = ?, expires_at = ?, data = ? "
            "WHERE key = ? AND version = ?",
            (record.version, record.state, record.order_id, record.expires_at, record.to_json(), record.key,
             expected_version),
        )
        return cur.rowcount == 1

    def delete(self, key: str, expected_version: int) -> bool:
        cur = self._run("DELETE FROM ledger WHERE key = ? AND version = ?", (key, expected_version))
        return cur.rowcount == 1

    def find_by_order_id(self, order_id: int) -> str | None:
        row = self._run("SELECT key FROM ledger WHERE order_id = ?", (order_id,)).fetchone()
        return str(row[0]) if row else None

    def scan(self, states: Iterable[str] | None = None) -> list[LedgerRecord]:
        if states is None:
            rows = self._run("SELECT data FROM ledger ORDER BY key", ()).fetchall()
        else:
            wanted = list(states)
            marks = ",".join("?" * len(wanted))
            rows = self._run(f"SELECT data FROM ledger WHERE state IN ({marks}) ORDER BY key",  # noqa: S608
                             tuple(wanted)).fetchall()
        return [LedgerRecord.from_json(r[0]) for r in rows]

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
