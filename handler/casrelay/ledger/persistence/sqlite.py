"""``sqlite:///path``: the embedded default.

SQLite serves one instance only (FC instances do not share ``/tmp``), so the function warns at start
when it runs in FC with this store. Conditional writes are single statements (``INSERT OR IGNORE``,
``UPDATE … WHERE version = ?``), which SQLite executes atomically even across processes.

Besides the record's JSON, each row keeps the columns the queries need: ``order_id`` (reconciliation
never adopts one order for two keys), ``open`` and ``updated_at`` (the sweep's work list, oldest
first), ``expires_at`` (the sweep's purge), ``call_out`` (the names key of a record whose paid call
may be out, NULL otherwise: reconciliation's rivals) and ``next_poll_at`` (the follower's schedule).
Expired rows are purged by the sweep, never on the order path.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from typing import Any

from ..exceptions import RecordUnreadable, StoreUnavailable
from ..record import DamagedRecord, LedgerRecord
from .base import LedgerStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger (
    key TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    state TEXT NOT NULL,
    order_id INTEGER,
    expires_at REAL,
    data TEXT NOT NULL,
    open INTEGER NOT NULL DEFAULT 1,
    updated_at REAL NOT NULL DEFAULT 0,
    call_out TEXT,
    next_poll_at REAL
);
"""
#: Only the indexes a query needs, each partial where most rows have nothing to find, because every write
#: updates every index its row is in: ``find_by_order_id`` (reconciliation), ``scan_open`` (the sweep: only
#: open rows), ``purge_expired`` (the sweep: only rows with a retention), ``calls_out`` (reconciliation's
#: rivals: only calls that are out) and ``due_follow`` (the follower: only orders it still polls). The
#: operator's ``scan`` reads the whole table: it is rare, and an index on ``state`` would cost every order a
#: write for it. Indexes of earlier versions are dropped.
_INDEXES = """
DROP INDEX IF EXISTS ledger_state;
DROP INDEX IF EXISTS ledger_order_id;
DROP INDEX IF EXISTS ledger_open;
CREATE INDEX IF NOT EXISTS ledger_order ON ledger(order_id) WHERE order_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS ledger_open_since ON ledger(updated_at, key) WHERE open = 1;
CREATE INDEX IF NOT EXISTS ledger_expires ON ledger(expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS ledger_call_out ON ledger(call_out) WHERE call_out IS NOT NULL;
CREATE INDEX IF NOT EXISTS ledger_follow ON ledger(next_poll_at) WHERE next_poll_at IS NOT NULL;
"""


#: Past this many pages in the write-ahead log (16 MB at 4 KiB pages) the order path checkpoints itself.
AUTOCHECKPOINT_PAGES = 4000


def _set_wal(conn: sqlite3.Connection, attempts: int = 100) -> None:
    """Switch to WAL. Two connections opening a new file at once can meet SQLITE_BUSY here, to which the busy
    timeout does not apply; that is a moment's contention, not a broken ledger, so wait it out."""
    for attempt in range(attempts):
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.02)


def _row(record: LedgerRecord) -> tuple[object, ...]:
    return (record.version, record.state, record.order_id, record.expires_at, record.to_json(),
            1 if record.open else 0, record.updated_at, record.names_key if record.call_out else None,
            record.next_poll_at)


class SqliteStore(LedgerStore):
    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()
        directory = os.path.dirname(path)
        try:
            if directory:
                os.makedirs(directory, exist_ok=True)
            conn = self._conn()
            conn.executescript(_SCHEMA)
            self._migrate(conn)
            conn.executescript(_INDEXES)
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailable(f"cannot open the SQLite ledger at {path}: {type(exc).__name__}") from None

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        """Bring a ledger written by an earlier version up to date, filling the new columns from each row's
        JSON: one written before the sweep lacks ``open``/``updated_at`` (the sweep must see what was already
        waiting), one written before the rivals index lacks ``call_out`` (reconciliation must see every
        call that is out)."""
        if {"open", "call_out", "next_poll_at"} <= SqliteStore._columns(conn):
            return
        # One write transaction, the columns read again inside it: two processes starting on an old file
        # migrate it once, and no writer can change a row between its JSON being read and its columns set.
        conn.execute("BEGIN IMMEDIATE")
        try:
            columns = SqliteStore._columns(conn)
            if "open" not in columns:
                conn.execute("ALTER TABLE ledger ADD COLUMN open INTEGER NOT NULL DEFAULT 1")
                conn.execute("ALTER TABLE ledger ADD COLUMN updated_at REAL NOT NULL DEFAULT 0")
            if "call_out" not in columns:
                conn.execute("ALTER TABLE ledger ADD COLUMN call_out TEXT")
            if "next_poll_at" not in columns:
                # Records written before the follower were never followed: NULL is their truth, no backfill.
                conn.execute("ALTER TABLE ledger ADD COLUMN next_poll_at REAL")
            if {"open", "call_out"} <= columns:
                conn.execute("COMMIT")
                return
            for key, data in conn.execute("SELECT key, data FROM ledger").fetchall():
                try:
                    record = LedgerRecord.from_json(data)
                except DamagedRecord:
                    continue  # stays open, so the sweep reports it
                conn.execute("UPDATE ledger SET open = ?, updated_at = ?, call_out = ? WHERE key = ?",
                             (1 if record.open else 0, record.updated_at,
                              record.names_key if record.call_out else None, key))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @staticmethod
    def _columns(conn: sqlite3.Connection) -> set[str]:
        return {row[1] for row in conn.execute("PRAGMA table_info(ledger)")}

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            conn.execute("PRAGMA busy_timeout=10000")
            _set_wal(conn)
            # WAL with NORMAL survives a process crash; only an OS crash can lose the last commits, and in
            # FC that also wipes /tmp, where this ledger lives. FULL would flush the disk on every commit.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=10000")
            # A checkpoint (the log folded back into the database, with two fsyncs) is the one periodic cost
            # of an order: by default every 1000 pages, about every 80 orders, each one tens of times a
            # median order. The sweep checkpoints instead (``compact``); the order path only does so past
            # this bound, when no sweep has run for hundreds of orders. The log file is cut back after one.
            conn.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
            conn.execute(f"PRAGMA journal_size_limit={AUTOCHECKPOINT_PAGES * 4096}")
            self._local.conn = conn
        return conn

    def _run(self, sql: str, args: tuple[object, ...]) -> sqlite3.Cursor:
        try:
            return self._conn().execute(sql, args)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"SQLite ledger error: {type(exc).__name__}") from None

    def _fetch(self, sql: str, args: tuple[object, ...]) -> list[Any]:
        """A query's rows, all read inside the error mapping: SQLite reads the first row when the query is
        executed and the others only as they are fetched, where a damaged page fails too."""
        cur = self._run(sql, args)
        try:
            return cur.fetchall()
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"SQLite ledger error: {type(exc).__name__}") from None

    def get(self, key: str) -> LedgerRecord | None:
        rows = self._fetch("SELECT data FROM ledger WHERE key = ?", (key,))
        if not rows:
            return None
        try:
            return LedgerRecord.from_json(rows[0][0])
        except DamagedRecord:
            raise RecordUnreadable(key) from None

    def create(self, record: LedgerRecord) -> bool:
        cur = self._run(
            "INSERT OR IGNORE INTO ledger (version, state, order_id, expires_at, data, open, updated_at, call_out, "
            "next_poll_at, key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*_row(record), record.key),
        )
        return cur.rowcount == 1

    def replace(self, record: LedgerRecord, expected_version: int) -> bool:
        cur = self._run(
            "UPDATE ledger SET version = ?, state = ?, order_id = ?, expires_at = ?, data = ?, open = ?, "
            "updated_at = ?, call_out = ?, next_poll_at = ? WHERE key = ? AND version = ?",
            (*_row(record), record.key, expected_version),
        )
        return cur.rowcount == 1

    def delete(self, key: str, expected_version: int) -> bool:
        cur = self._run("DELETE FROM ledger WHERE key = ? AND version = ?", (key, expected_version))
        return cur.rowcount == 1

    def find_by_order_id(self, order_id: int) -> str | None:
        rows = self._fetch("SELECT key FROM ledger WHERE order_id = ?", (order_id,))
        return str(rows[0][0]) if rows else None

    @staticmethod
    def _read(rows: Iterable[tuple[str, str]]) -> tuple[list[LedgerRecord], list[str]]:
        records, damaged = [], []
        for key, data in rows:
            try:
                records.append(LedgerRecord.from_json(data))
            except DamagedRecord:
                damaged.append(key)
        return records, damaged

    def scan(self, states: Iterable[str] | None = None) -> list[LedgerRecord]:
        if states is None:
            rows = self._fetch("SELECT key, data FROM ledger ORDER BY key", ())
        else:
            wanted = list(states)
            marks = ",".join("?" * len(wanted))
            rows = self._fetch(f"SELECT key, data FROM ledger WHERE state IN ({marks}) ORDER BY key",  # noqa: S608
                               tuple(wanted))
        return self._read(rows)[0]

    def scan_open(self, before: float, limit: int) -> tuple[list[LedgerRecord], list[str]]:
        rows = self._fetch("SELECT key, data FROM ledger WHERE open = 1 AND updated_at <= ? "
                           "ORDER BY updated_at, key LIMIT ?", (before, limit))
        return self._read(rows)

    def calls_out(self, names_key: str) -> list[LedgerRecord]:
        rows = self._fetch("SELECT key, data FROM ledger WHERE call_out = ? ORDER BY key", (names_key,))
        records, damaged = self._read(rows)
        if damaged:
            raise RecordUnreadable(damaged[0])  # it may own the order: reconciliation must stop, not skip it
        return records

    def due_follow(self, now: float, limit: int) -> tuple[list[LedgerRecord], list[str]]:
        rows = self._fetch("SELECT key, data FROM ledger WHERE next_poll_at IS NOT NULL AND next_poll_at <= ? "
                           "ORDER BY next_poll_at, key LIMIT ?", (now, limit))
        return self._read(rows)

    def purge_expired(self, now: float, limit: int) -> int:
        cur = self._run("DELETE FROM ledger WHERE key IN (SELECT key FROM ledger WHERE expires_at IS NOT NULL "
                        "AND expires_at < ? AND open = 0 LIMIT ?)", (now, limit))
        return max(cur.rowcount, 0)

    def compact(self) -> None:
        """A passive checkpoint: it copies what no reader still needs and never waits for a writer, so a
        sweep running beside orders neither blocks them nor is blocked."""
        self._run("PRAGMA wal_checkpoint(PASSIVE)", ())

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
