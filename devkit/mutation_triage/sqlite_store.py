"""Explained survivors of the mutation run's second half: ledger/persistence/sqlite.py after the lean order path
(indexes, checkpoints, the migration). The mutants that change behaviour are killed by
tests/unit/test_mutation_kills_sqlite.py; what is left here changes nothing SQLite or a caller can tell."""

from devkit.mutation_explained import Explanation
from devkit.mutation_triage.ledger_and_sweep import _SQL_CASE

_MODULE = "ledger/persistence/sqlite.py"
_PRAGMA_CASE = (
    "SQLite reads a pragma's name and its keyword value case-insensitively: 'pragma journal_mode=wal', 'PRAGMA "
    "SYNCHRONOUS=NORMAL' and 'PRAGMA BUSY_TIMEOUT=10000' set what the original sets (test_every_connection_runs_"
    "in_wal_with_normal_sync_a_ten_second_busy_wait_and_the_checkpoint_bounds reads each value back), and "
    "table_info(LEDGER) describes the same table, whose names SQLite also matches without regard to case")
_CONNECT_TIMEOUT = (
    "equivalent: sqlite3.connect's timeout only installs the busy handler, and the next statement, "
    "'PRAGMA busy_timeout=10000', replaces it before any statement reads the file (neither connect nor that "
    "pragma touches the database), so every statement runs with the same 10 s wait (read back as 10000 by the "
    "pragma test)")


def _sql(function: str, mutated: str) -> Explanation:
    return Explanation(_MODULE, function, mutated, _SQL_CASE)


ENTRIES: list[Explanation] = [
    # --- _set_wal ------------------------------------------------------------------------------------------------
    Explanation(
        _MODULE, "_set_wal", "attempts: int = 101",
        "the default only bounds how long contention that never clears is waited out before the same "
        "OperationalError (StoreUnavailable at the store): 101 attempts 20 ms apart is 2.00 s of waiting instead "
        "of 1.98 s. Contention that clears is waited out either way, and the tests pin what a caller relies on: "
        "the wait is about 2 s, and only a failure of the last attempt is raised"),
    Explanation(_MODULE, "_set_wal", 'conn.execute("pragma journal_mode=wal")', _PRAGMA_CASE),
    Explanation(_MODULE, "_set_wal", 'conn.execute("PRAGMA JOURNAL_MODE=WAL")', _PRAGMA_CASE),
    # --- the migration -------------------------------------------------------------------------------------------
    Explanation(_MODULE, "SqliteStore._columns", 'conn.execute("pragma table_info(ledger)")', _PRAGMA_CASE),
    Explanation(_MODULE, "SqliteStore._columns", 'conn.execute("PRAGMA TABLE_INFO(LEDGER)")', _PRAGMA_CASE),
    Explanation(
        _MODULE, "SqliteStore._migrate", 'if {"open", "call_out"} < SqliteStore._columns(conn):',
        "equivalent: the table always has key, version, state and data besides (the CREATE TABLE of every version), "
        "so {open, call_out} is a subset of its columns exactly when it is a proper subset"),
    _sql("SqliteStore._migrate", 'conn.execute("begin immediate")'),
    _sql("SqliteStore._migrate", 'conn.execute("commit")'),
    _sql("SqliteStore._migrate", 'conn.execute("rollback")'),
    Explanation(
        _MODULE, "SqliteStore._migrate", '"alter table ledger add column open integer not null default 1"',
        _SQL_CASE + "; the column is still declared in lower case as 'open', the name _migrate looks for in "
        "table_info (the upper-case variant, which declares OPEN, is killed: the next open would add it again)"),
    Explanation(
        _MODULE, "SqliteStore._migrate", '"alter table ledger add column updated_at real not null default 0"',
        _SQL_CASE),
    Explanation(
        _MODULE, "SqliteStore._migrate", '"ALTER TABLE LEDGER ADD COLUMN UPDATED_AT REAL NOT NULL DEFAULT 0"',
        "equivalent: the column is declared as UPDATED_AT and table_info reports it so, but every statement names "
        "it without regard to case and no code compares its name: _migrate looks only for 'open' and 'call_out' "
        "(the variants that declare OPEN or CALL_OUT are killed, since the next open would add them again)"),
    Explanation(
        _MODULE, "SqliteStore._migrate", '"alter table ledger add column call_out text"',
        _SQL_CASE + "; the column is still declared in lower case as 'call_out', the name _migrate looks for"),
    _sql("SqliteStore._migrate", 'conn.execute("select key, data from ledger")'),
    _sql("SqliteStore._migrate", 'conn.execute("SELECT KEY, DATA FROM LEDGER")'),
    _sql("SqliteStore._migrate", '"update ledger set open = ?, updated_at = ?, call_out = ? where key = ?"'),
    _sql("SqliteStore._migrate", '"UPDATE LEDGER SET OPEN = ?, UPDATED_AT = ?, CALL_OUT = ? WHERE KEY = ?"'),
    # --- every connection's settings -----------------------------------------------------------------------------
    Explanation(_MODULE, "SqliteStore._conn", "sqlite3.connect(self.path, isolation_level=None)", _CONNECT_TIMEOUT),
    Explanation(_MODULE, "SqliteStore._conn", "sqlite3.connect(self.path, timeout=11, isolation_level=None)",
                _CONNECT_TIMEOUT),
    Explanation(_MODULE, "SqliteStore._conn", 'conn.execute("pragma busy_timeout=10000")', _PRAGMA_CASE),
    Explanation(_MODULE, "SqliteStore._conn", 'conn.execute("PRAGMA BUSY_TIMEOUT=10000")', _PRAGMA_CASE),
    Explanation(_MODULE, "SqliteStore._conn", 'conn.execute("pragma synchronous=normal")', _PRAGMA_CASE),
    Explanation(_MODULE, "SqliteStore._conn", 'conn.execute("PRAGMA SYNCHRONOUS=NORMAL")', _PRAGMA_CASE),
    # --- the queries (their columns are read by position) ---------------------------------------------------------
    _sql("SqliteStore.get", '"select data from ledger where key = ?"'),
    _sql("SqliteStore.get", '"SELECT DATA FROM LEDGER WHERE KEY = ?"'),
    _sql("SqliteStore.create", '"insert or ignore into ledger (version, state, order_id, expires_at, data, open,'),
    _sql("SqliteStore.create", '"INSERT OR IGNORE INTO LEDGER (VERSION, STATE, ORDER_ID, EXPIRES_AT, DATA, OPEN,'),
    _sql("SqliteStore.create", '"key) values (?, ?, ?, ?, ?, ?, ?, ?, ?)"'),
    _sql("SqliteStore.create", '"KEY) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"'),
    _sql("SqliteStore.replace", '"update ledger set version = ?, state = ?, order_id = ?, expires_at = ?,'),
    _sql("SqliteStore.replace", '"UPDATE LEDGER SET VERSION = ?, STATE = ?, ORDER_ID = ?, EXPIRES_AT = ?,'),
    _sql("SqliteStore.replace", '"updated_at = ?, call_out = ? where key = ? and version = ?"'),
    _sql("SqliteStore.replace", '"UPDATED_AT = ?, CALL_OUT = ? WHERE KEY = ? AND VERSION = ?"'),
    _sql("SqliteStore.calls_out", '"select key, data from ledger where call_out = ? order by key"'),
    _sql("SqliteStore.calls_out", '"SELECT KEY, DATA FROM LEDGER WHERE CALL_OUT = ? ORDER BY KEY"'),
    Explanation(
        _MODULE, "SqliteStore.compact", '"pragma wal_checkpoint(passive)"',
        "SQLite reads the pragma's name and its mode case-insensitively (pragma.c compares the mode with "
        "sqlite3StrICmp): the same passive checkpoint, which "
        "test_the_sqlite_write_ahead_log_is_folded_back_by_the_sweep_not_by_every_eightieth_order sees fold the log"),
    Explanation(
        _MODULE, "SqliteStore.compact", '"PRAGMA WAL_CHECKPOINT(PASSIVE)"',
        "SQLite reads a pragma's name case-insensitively: the same passive checkpoint"),
]
