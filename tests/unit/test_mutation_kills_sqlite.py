"""The SQLite ledger's rules pinned where the mutation run found ``ledger/persistence/sqlite.py`` free to change
unnoticed: the pragmas every connection runs with, the wait for the switch to WAL, what a failure to open or to
read says, and the migration of a ledger written by an earlier version (every older schema, damaged rows, a
second process, a migration that fails). All on the real SQLite."""

from __future__ import annotations

import functools
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from casrelay.ledger import CLAIMED, DELIVERED, ORDERED, LedgerRecord
from casrelay.ledger.exceptions import RecordUnreadable, StoreUnavailable
from casrelay.ledger.persistence import sqlite as sqlite_module
from casrelay.ledger.persistence.sqlite import AUTOCHECKPOINT_PAGES, SqliteStore

#: The schema before the sweep (no ``open``/``updated_at``) and before the rivals index (no ``call_out``).
BEFORE_THE_SWEEP = ("CREATE TABLE ledger (key TEXT PRIMARY KEY, version INTEGER NOT NULL, state TEXT NOT NULL, "
                    "order_id INTEGER, expires_at REAL, data TEXT NOT NULL)")
BEFORE_THE_RIVALS_INDEX = ("CREATE TABLE ledger (key TEXT PRIMARY KEY, version INTEGER NOT NULL, state TEXT NOT NULL, "
                           "order_id INTEGER, expires_at REAL, data TEXT NOT NULL, open INTEGER NOT NULL DEFAULT 1, "
                           "updated_at REAL NOT NULL DEFAULT 0)")


def _rec(key: str, state: str, domains: tuple[str, ...] = ("a.example.com",), **kw: Any) -> LedgerRecord:
    return LedgerRecord(key=key, payload_hash="h", state=state, version=1,
                        order={"domains": list(domains), "product": "digicert-free-1-free"}, **kw)


#: Open and waiting since 50 (an OrderId to deliver), closed (delivered), and a paid call that is out since 70.
WAITING = _rec("key:ordered", ORDERED, ("w.example.com",), order_id=11, updated_at=50.0)
CLOSED = _rec("key:delivered", DELIVERED, ("c.example.com",), order_id=12, updated_at=60.0, expires_at=1e6)
CALL_OUT = _rec("key:call-out", CLAIMED, ("o.example.com",), attempted_at=69.0, updated_at=70.0)


def _old_ledger(path: Path, schema: str, rows: list[tuple[str, str]]) -> None:
    """A ledger file as an earlier version left it: ``rows`` are (key, data) in the order they were written."""
    conn = sqlite3.connect(path)
    conn.execute(schema)
    for key, data in rows:
        conn.execute("INSERT INTO ledger (key, version, state, data) VALUES (?, 1, 'x', ?)", (key, data))
    conn.commit()
    conn.close()


def _columns_of(path: Path) -> dict[str, tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return {row[0]: tuple(row[1:]) for row in conn.execute("SELECT key, open, updated_at, call_out FROM ledger")}
    finally:
        conn.close()


# --- every connection's settings --------------------------------------------------------------------------------


def test_every_connection_runs_in_wal_with_normal_sync_a_ten_second_busy_wait_and_the_checkpoint_bounds(tmp_path):
    store = SqliteStore(str(tmp_path / "l.sqlite3"))
    seen: list[dict[str, object]] = []

    def settings() -> None:
        conn = store._conn()
        seen.append({p: conn.execute(f"PRAGMA {p}").fetchone()[0]
                     for p in ("journal_mode", "synchronous", "busy_timeout", "wal_autocheckpoint",
                               "journal_size_limit")})

    settings()
    worker = threading.Thread(target=settings)  # each thread has a connection of its own
    worker.start()
    worker.join()
    expected = {"journal_mode": "wal", "synchronous": 1, "busy_timeout": 10000,
                "wal_autocheckpoint": AUTOCHECKPOINT_PAGES, "journal_size_limit": AUTOCHECKPOINT_PAGES * 4096}
    assert seen == [expected, expected]
    assert AUTOCHECKPOINT_PAGES * 4096 == 16_384_000  # the log is cut back to the 16 MB the order path lets it grow to
    store.close()


# --- the switch to WAL --------------------------------------------------------------------------------------------


class _BusyWal(sqlite3.Connection):
    """A connection whose switch to WAL meets SQLITE_BUSY ``busy`` more times (another process opening the file)."""

    busy = 0
    tried = 0

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        if "JOURNAL_MODE=" in sql.upper():
            type(self).tried += 1
            if type(self).busy:
                type(self).busy -= 1
                raise sqlite3.OperationalError("database is locked")
        return super().execute(sql, *args)


@pytest.fixture()
def busy_wal(monkeypatch) -> tuple[type[_BusyWal], list[float]]:
    slept: list[float] = []
    monkeypatch.setattr(sqlite3, "connect", functools.partial(sqlite3.connect, factory=_BusyWal))
    monkeypatch.setattr(sqlite_module.time, "sleep", slept.append)
    _BusyWal.busy = _BusyWal.tried = 0
    return _BusyWal, slept


def test_contention_on_the_switch_to_wal_is_waited_out_and_the_store_opens_in_wal(tmp_path, busy_wal):
    conn_class, slept = busy_wal
    conn_class.busy = 5
    store = SqliteStore(str(tmp_path / "l.sqlite3"))
    assert conn_class.tried == 6 and len(slept) == 5
    assert store._conn().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()


def test_contention_that_never_clears_fails_the_open_after_about_two_seconds_rather_than_opening_without_wal(
        tmp_path, busy_wal):
    conn_class, slept = busy_wal
    conn_class.busy = 10**6
    with pytest.raises(StoreUnavailable):
        SqliteStore(str(tmp_path / "l.sqlite3"))
    assert 1.0 <= sum(slept) <= 3.0  # a moment's contention is waited out; a stuck one fails the cold start soon


def test_the_switch_to_wal_fails_only_when_its_last_attempt_also_met_contention(tmp_path, busy_wal):
    conn_class, slept = busy_wal
    conn = sqlite3.connect(tmp_path / "l.sqlite3", isolation_level=None)
    conn_class.busy = 2
    sqlite_module._set_wal(conn, attempts=3)  # the third and last attempt succeeds
    assert conn_class.tried == 3 and conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    conn = sqlite3.connect(tmp_path / "l2.sqlite3", isolation_level=None)
    conn_class.busy, conn_class.tried = 3, 0
    slept.clear()
    with pytest.raises(sqlite3.OperationalError):
        sqlite_module._set_wal(conn, attempts=3)
    assert conn_class.tried == 3 and len(slept) == 2  # tried three times, waiting between them, then given up
    conn.close()


# --- what a failure says ------------------------------------------------------------------------------------------


def test_a_store_opens_in_a_directory_that_does_not_exist_yet(tmp_path):
    path = tmp_path / "not" / "yet" / "l.sqlite3"
    store = SqliteStore(str(path))
    assert store.create(CLOSED) and store.get(CLOSED.key) == CLOSED
    assert path.is_file()
    store.close()


def test_a_ledger_path_that_cannot_be_opened_says_which_path_and_which_error_type_and_nothing_more(tmp_path):
    path = tmp_path / "a-directory"
    path.mkdir()
    with pytest.raises(StoreUnavailable) as failure:
        SqliteStore(str(path))
    assert str(failure.value) == f"cannot open the SQLite ledger at {path}: OperationalError"


def test_a_ledger_file_that_is_no_database_fails_each_call_as_store_unavailable_naming_only_the_error_type(tmp_path):
    path = tmp_path / "l.sqlite3"
    store = SqliteStore(str(path))
    store.create(CLOSED)
    store.close()
    for log in (tmp_path / "l.sqlite3-wal", tmp_path / "l.sqlite3-shm"):
        log.unlink(missing_ok=True)
    path.write_bytes(b"not a database, but a file someone overwrote " * 200)
    with pytest.raises(StoreUnavailable) as failure:
        store.get(CLOSED.key)
    assert type(failure.value) is StoreUnavailable  # the store failed: not one unreadable record
    assert str(failure.value) == "SQLite ledger error: DatabaseError"  # never SQLite's own text
    store.close()


def test_a_damaged_row_read_by_key_is_unreadable_not_missing(tmp_path):
    store = SqliteStore(str(tmp_path / "l.sqlite3"))
    store.create(WAITING)
    store._run("UPDATE ledger SET data = '{' WHERE key = ?", (WAITING.key,))
    with pytest.raises(RecordUnreadable) as failure:
        store.get(WAITING.key)
    assert failure.value.key == WAITING.key
    store.close()


# --- the migration of an older ledger ----------------------------------------------------------------------------


@pytest.mark.parametrize("schema", [BEFORE_THE_SWEEP, BEFORE_THE_RIVALS_INDEX], ids=["before-sweep", "before-rivals"])
def test_an_older_ledger_is_migrated_so_the_sweep_and_reconciliation_see_every_row_as_its_json_says(tmp_path, schema):
    path = tmp_path / "old.sqlite3"
    _old_ledger(path, schema, [(r.key, r.to_json()) for r in (WAITING, CLOSED, CALL_OUT)])
    store = SqliteStore(str(path))
    assert _columns_of(path) == {
        WAITING.key: (1, 50.0, None),
        CLOSED.key: (0, 60.0, None),
        CALL_OUT.key: (1, 70.0, CALL_OUT.names_key),
    }
    records, damaged = store.scan_open(1e12, 100)
    assert [r.key for r in records] == [WAITING.key, CALL_OUT.key] and damaged == []  # oldest first, closed left out
    assert [r.key for r in store.calls_out(CALL_OUT.names_key)] == [CALL_OUT.key]
    assert store.calls_out(WAITING.names_key) == []
    store.close()


def test_a_damaged_row_stays_open_for_the_sweep_and_does_not_stop_the_migration_of_the_rows_after_it(tmp_path):
    path = tmp_path / "old.sqlite3"
    _old_ledger(path, BEFORE_THE_SWEEP, [("key:damaged", "{"), *((r.key, r.to_json()) for r in (CLOSED, CALL_OUT))])
    store = SqliteStore(str(path))
    records, damaged = store.scan_open(1e12, 100)
    assert damaged == ["key:damaged"]  # the sweep reports it
    assert [r.key for r in records] == [CALL_OUT.key]  # the closed row after it was migrated too
    assert [r.key for r in store.calls_out(CALL_OUT.names_key)] == [CALL_OUT.key]
    store.close()


@pytest.mark.parametrize("schema", [BEFORE_THE_SWEEP, BEFORE_THE_RIVALS_INDEX, None],
                         ids=["before-sweep", "before-rivals", "current"])
def test_a_ledger_opens_again_after_its_migration_without_rewriting_any_row(tmp_path, schema):
    """Every cold start opens the ledger: once up to date, opening it must neither fail nor rewrite the table."""
    path = tmp_path / "l.sqlite3"
    if schema is None:
        first = SqliteStore(str(path))
        for record in (WAITING, CLOSED, CALL_OUT):
            first.create(record)
    else:
        _old_ledger(path, schema, [(r.key, r.to_json()) for r in (WAITING, CLOSED, CALL_OUT)])
        first = SqliteStore(str(path))
    first.close()
    again = SqliteStore(str(path))
    assert again._conn().total_changes == 0
    assert [r.key for r in again.scan_open(1e12, 100)[0]] == [WAITING.key, CALL_OUT.key]
    assert [r.key for r in again.calls_out(CALL_OUT.names_key)] == [CALL_OUT.key]
    again.close()


def test_a_process_that_finds_the_ledger_migrated_once_it_holds_the_write_lock_migrates_nothing_twice(
        tmp_path, monkeypatch):
    """Two processes start on an old file; both see the old columns, and the other one migrates first."""
    path = tmp_path / "old.sqlite3"
    _old_ledger(path, BEFORE_THE_SWEEP, [(r.key, r.to_json()) for r in (WAITING, CLOSED, CALL_OUT)])
    read_columns = SqliteStore._columns
    raced: list[bool] = []

    def columns_then_the_other_process_migrates(conn: sqlite3.Connection) -> set[str]:
        found = read_columns(conn)
        if not raced:
            raced.append(True)
            other = sqlite3.connect(path, isolation_level=None)
            SqliteStore._migrate(other)
            other.close()
        return found

    monkeypatch.setattr(SqliteStore, "_columns", staticmethod(columns_then_the_other_process_migrates))
    store = SqliteStore(str(path))
    assert raced
    assert [r.key for r in store.scan_open(1e12, 100)[0]] == [WAITING.key, CALL_OUT.key]
    assert [r.key for r in store.calls_out(CALL_OUT.names_key)] == [CALL_OUT.key]
    store.close()


def test_a_migration_that_fails_leaves_the_old_ledger_as_it_was_and_holds_no_lock(tmp_path):
    path = tmp_path / "old.sqlite3"
    _old_ledger(path, BEFORE_THE_SWEEP, [(r.key, r.to_json()) for r in (WAITING, CLOSED, CALL_OUT)])
    conn = sqlite3.connect(path)  # a write that fails half way through the rows (as a full disk would)
    conn.execute(f"CREATE TRIGGER fails BEFORE UPDATE ON ledger WHEN OLD.key = '{CLOSED.key}' "
                 "BEGIN SELECT RAISE(ABORT, 'no space'); END")
    conn.commit()
    conn.close()
    with pytest.raises(StoreUnavailable) as failure:
        SqliteStore(str(path))
    assert "no space" not in str(failure.value)
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # nothing left holding the write lock
    assert "open" not in {row[1] for row in other.execute("PRAGMA table_info(ledger)")}  # no column half added
    other.execute("DROP TRIGGER fails")
    other.execute("COMMIT")
    other.close()
    del failure
    store = SqliteStore(str(path))  # the next start migrates it
    assert [r.key for r in store.scan_open(1e12, 100)[0]] == [WAITING.key, CALL_OUT.key]
    store.close()



# --- found by the triage: rows read after the first ---------------------------------------------------------------


def _ledger_with_a_damaged_page(path: Path) -> SqliteStore:
    """300 records, then a page in the middle of the table zeroed, as a torn write or a bad disk leaves it. SQLite
    reads the first row of a query when it is executed and the others only as they are fetched."""
    store = SqliteStore(str(path))
    for i in range(300):
        store.create(_rec(f"key:{i:04d}", ORDERED, (f"n{i}.example.com",), order_id=i + 1, updated_at=float(i),
                          attempted_at=1.0))
    store.close()  # the last connection folds the log into the file
    conn = sqlite3.connect(path)
    try:
        leaves = [row[0] for row in conn.execute(
            "SELECT pageno FROM dbstat WHERE name = 'ledger' AND pagetype = 'leaf' ORDER BY pageno")]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    except sqlite3.OperationalError:
        pytest.skip("this SQLite has no dbstat table to find the table's pages with")
    finally:
        conn.close()
    with path.open("r+b") as f:
        f.seek((leaves[len(leaves) // 2] - 1) * page_size)
        f.write(b"\0" * page_size)
    return store


def test_a_damaged_page_met_while_the_rows_are_fetched_is_store_unavailable_too(tmp_path):
    """Not a raw sqlite3 error, which no guard catches (they catch LedgerError): it would end as the handler's
    internal.error (a 500 for HTTP) instead of 503 LedgerUnavailable, and stop the sweep instead of its summary
    saying that the ledger is unavailable."""
    store = _ledger_with_a_damaged_page(tmp_path / "l.sqlite3")
    for read in (lambda: store.scan_open(1e12, 1000), lambda: store.scan(), lambda: store.scan([ORDERED])):
        with pytest.raises(StoreUnavailable) as failure:
            read()
        assert str(failure.value) == "SQLite ledger error: DatabaseError"
    store.close()
