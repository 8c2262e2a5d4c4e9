"""Bugs the mutation run (``python3 -m devkit.mutation``) ran into, each pinned by a test that failed on the
code it ran against.

SQLite ledger opened while another connection writes: ``SqliteStore`` used to run ``PRAGMA
journal_mode=WAL`` once; on a file still in rollback-journal mode (every new file starts so) SQLite answers
that pragma with SQLITE_BUSY at once while another connection holds a write lock, without waiting for the
busy timeout. The opener raised ``StoreUnavailable``, ``open_store`` turned it into ``StoreConfigError``,
and ``index._setup`` caches that as the instance's configuration error: every later request got 503.
It showed as ``tests/test_ledger_race.py::test_two_processes_on_one_sqlite_file_never_both_win_a_key``
failing now and then under load (two processes opening one new file).
"""

from __future__ import annotations

import sqlite3
import threading
import time

from casrelay.ledger import LedgerRecord, open_store


def test_opening_a_sqlite_ledger_while_another_connection_writes_to_it_waits_instead_of_failing(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE scratch (x)")  # a file in rollback-journal mode, as a new one is
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO scratch VALUES (1)")
    done = threading.Timer(0.5, lambda: other.execute("COMMIT"))
    done.start()
    try:
        started = time.monotonic()
        store = open_store(f"sqlite://{path}")
        assert time.monotonic() - started >= 0.4  # it waited for the writer
        assert store.create(LedgerRecord(key="k", payload_hash="h", state="claimed"))
        assert store.get("k") is not None
        store.close()
    finally:
        done.join()
        other.close()
