"""Every ledger store honours the two conditional writes the ledger is built on."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from casrelay.ledger import CLAIMED, FAILED, ORDERED, UNKNOWN, LedgerRecord, open_store
from casrelay.ledger.exceptions import StoreConfigError
from casrelay.ledger.persistence.base import LedgerStore


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store(request, tmp_path) -> Iterator[LedgerStore]:
    if request.param == "memory":
        s = open_store("memory://")
    elif request.param == "sqlite":
        s = open_store(f"sqlite://{tmp_path}/ledger.sqlite3")
    else:
        s = open_store(request.getfixturevalue("redis_url"))
    yield s
    s.close()


def _rec(key: str = "auto:1", state: str = CLAIMED, version: int = 1, **kw) -> LedgerRecord:
    return LedgerRecord(key=key, payload_hash="h", state=state, version=version, **kw)


def test_create_succeeds_once_per_key(store):
    assert store.create(_rec())
    assert not store.create(_rec())
    assert store.get("auto:1").state == CLAIMED


def test_replace_succeeds_only_on_the_version_that_was_read(store):
    store.create(_rec())
    assert store.replace(_rec(state=ORDERED, version=2, order_id=5), expected_version=1)
    assert not store.replace(_rec(state=FAILED, version=3), expected_version=1)
    assert store.get("auto:1").state == ORDERED


def test_delete_is_conditional_on_the_version(store):
    store.create(_rec())
    assert not store.delete("auto:1", expected_version=7)
    assert store.delete("auto:1", expected_version=1)
    assert store.get("auto:1") is None


def test_order_ids_are_indexed_to_their_key(store):
    store.create(_rec())
    store.replace(_rec(state=ORDERED, version=2, order_id=98987582437920968), 1)
    assert store.find_by_order_id(98987582437920968) == "auto:1"
    assert store.find_by_order_id(1) is None


def test_scan_filters_by_state(store):
    store.create(_rec("key:a", UNKNOWN))
    store.create(_rec("key:b", FAILED))
    store.create(_rec("key:c", CLAIMED))
    assert [r.key for r in store.scan([UNKNOWN, FAILED])] == ["key:a", "key:b"]
    assert len(store.scan()) == 3


def test_records_round_trip_every_field(store):
    rec = _rec(order_id=98987582437920968, cas_request_id="R", order={"domains": ["a.example.com"]},
               source={"trigger": "mns", "message_id": "m"}, error={"Code": "X"}, deliveries={"stdout:": 1.5},
               expires_at=4_102_444_800.0, attempted_at=2.0, note="n")
    store.create(rec)
    assert store.get(rec.key) == rec


def test_only_one_of_many_concurrent_creators_wins(store):
    wins = []
    barrier = threading.Barrier(8)

    def worker(i: int) -> None:
        barrier.wait()
        if store.create(_rec(source={"i": i})):
            wins.append(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1


def test_unknown_store_scheme_is_a_config_error_naming_the_variable():
    with pytest.raises(StoreConfigError, match="IDEMPOTENCY_STORE"):
        open_store("postgres://x")
    with pytest.raises(StoreConfigError, match="absolute path"):
        open_store("sqlite://relative.db")


# --- the index of calls that are out (reconciliation's rivals) ----------------------------------------------------

def _out(key: str, domains: list[str], state: str = CLAIMED, version: int = 1, **kw) -> LedgerRecord:
    kw.setdefault("attempted_at", 100.0)
    return _rec(key, state, version, order={"domains": domains, "product": "digicert-free-1-free"}, **kw)


def test_every_call_that_is_out_for_the_same_names_is_found_however_many_records_are_open(store):
    for i in range(1200):  # a backlog of open orders for other names, all older than the two calls out
        store.create(_rec(f"key:backlog-{i:04d}", ORDERED, order_id=10_000 + i, updated_at=1.0,
                          order={"domains": [f"n{i}.example.com"], "product": "digicert-free-1-free"}))
    store.create(_out("key:a", ["a.example.com", "b.example.com"], updated_at=5000.0))
    store.create(_out("key:b", ["B.example.com", "a.example.com"], UNKNOWN, updated_at=6000.0))
    store.create(_rec("key:other-product", CLAIMED, attempted_at=100.0, updated_at=6000.0,
                      order={"domains": ["a.example.com", "b.example.com"], "product": "x"}))
    store.create(_out("key:fewer-names", ["a.example.com"], updated_at=6000.0))
    store.create(_out("key:not-sent", ["a.example.com", "b.example.com"], attempted_at=None))
    probe = _out("key:probe", ["b.example.com", "a.example.com"])
    assert sorted(r.key for r in store.calls_out(probe.names_key)) == ["key:a", "key:b"]


def test_a_call_leaves_the_index_once_its_order_id_is_recorded_or_its_record_is_deleted(store):
    store.create(_out("key:a", ["a.example.com"]))
    store.create(_out("key:b", ["a.example.com"], UNKNOWN))
    names = _out("probe", ["a.example.com"]).names_key
    assert store.replace(_out("key:a", ["a.example.com"], ORDERED, version=2, order_id=7), expected_version=1)
    assert store.delete("key:b", expected_version=1)
    assert store.calls_out(names) == []
    assert store.create(_out("key:b", ["a.example.com"]))  # the same key ordered again is out again
    assert [r.key for r in store.calls_out(names)] == ["key:b"]


def test_a_failed_refusal_is_no_rival(store):
    store.create(_out("key:a", ["a.example.com"]))
    store.replace(_out("key:a", ["a.example.com"], FAILED, version=2), expected_version=1)
    assert store.calls_out(_out("probe", ["a.example.com"]).names_key) == []


def test_a_ledger_written_before_the_rivals_index_is_migrated_so_its_calls_out_are_found(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE ledger (key TEXT PRIMARY KEY, version INTEGER NOT NULL, state TEXT NOT NULL, "
                       "order_id INTEGER, expires_at REAL, data TEXT NOT NULL, open INTEGER NOT NULL DEFAULT 1, "
                       "updated_at REAL NOT NULL DEFAULT 0)")
    for record in (_out("key:a", ["a.example.com"], UNKNOWN), _out("key:b", ["a.example.com"], ORDERED, order_id=3)):
        conn.execute("INSERT INTO ledger VALUES (?, ?, ?, ?, ?, ?, 1, 0)",
                     (record.key, record.version, record.state, record.order_id, None, record.to_json()))
    conn.commit()
    conn.close()
    store = open_store(f"sqlite://{path}")
    assert [r.key for r in store.calls_out(_out("probe", ["a.example.com"]).names_key)] == ["key:a"]
    store.close()


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_a_damaged_rival_stops_the_lookup_rather_than_being_skipped(kind, tmp_path, request):
    from casrelay.ledger.exceptions import RecordUnreadable

    record = _out("key:a", ["a.example.com"])
    if kind == "sqlite":
        store = open_store(f"sqlite://{tmp_path}/l.sqlite3")
        store.create(record)
        store._run("UPDATE ledger SET data = '{' WHERE key = ?", ("key:a",))
    else:
        store = open_store(request.getfixturevalue("redis_url"))
        store.create(record)
        store._client.hset("casrelay:ledger:key:a", "d", "{")
    with pytest.raises(RecordUnreadable):
        store.calls_out(record.names_key)
    store.close()


def test_a_redis_rival_that_redis_expired_is_dropped_from_its_set(redis_url):
    store = open_store(redis_url)
    record = _out("key:a", ["a.example.com"])
    store.create(record)
    store._client.delete("casrelay:ledger:key:a")
    assert store.calls_out(record.names_key) == []
    assert store._client.smembers("casrelay:calls-out:" + record.names_key) == set()
    store.close()


def test_no_sqlite_query_of_the_order_path_or_the_sweep_reads_the_whole_table(tmp_path):
    """Every write updates the indexes its row is in, and a read that scans the table grows with the ledger:
    each query must find its rows through an index (the operator's ``scan`` is the one exception)."""
    store = open_store(f"sqlite://{tmp_path}/plan.sqlite3")
    queries = [
        ("SELECT data FROM ledger WHERE key = ?", ("k",)),
        ("SELECT key FROM ledger WHERE order_id = ?", (1,)),
        ("SELECT key, data FROM ledger WHERE open = 1 AND updated_at <= ? ORDER BY updated_at, key LIMIT ?", (1, 2)),
        ("SELECT key, data FROM ledger WHERE call_out = ? ORDER BY key", ("x",)),
        ("SELECT key FROM ledger WHERE expires_at IS NOT NULL AND expires_at < ? AND open = 0 LIMIT ?", (1, 2)),
        ("SELECT key, data FROM ledger WHERE next_poll_at IS NOT NULL AND next_poll_at <= ? "
         "ORDER BY next_poll_at, key LIMIT ?", (1, 2)),
    ]
    for sql, args in queries:
        plan = " | ".join(row[3] for row in store._conn().execute("EXPLAIN QUERY PLAN " + sql, args))
        assert "SEARCH ledger USING" in plan and "SCAN ledger" not in plan, (sql, plan)
    indexes = {row[0] for row in store._conn().execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "ledger_state" not in indexes  # an index no query of the order path needs costs every write
    store.close()


def test_the_sqlite_write_ahead_log_is_folded_back_by_the_sweep_not_by_every_eightieth_order(tmp_path):
    import sqlite3

    path = tmp_path / "wal.sqlite3"

    def rows_in_the_database_file() -> int:
        """What the main file holds, ignoring the log (``immutable`` reads the file as it is)."""
        conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
        try:
            if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'ledger'").fetchone():
                return 0  # even the table is still only in the log
            return int(conn.execute("SELECT count(*) FROM ledger").fetchone()[0])
        finally:
            conn.close()

    store = open_store(f"sqlite://{path}")
    for i in range(900):  # about 3 log pages each: past SQLite's default of 1000, short of casrelay's bound
        store.create(_rec(f"key:{i:04d}", order={"domains": [f"n{i}.example.com"], "product": "p"}))
    assert (tmp_path / "wal.sqlite3-wal").stat().st_size > 1000 * 4096
    assert rows_in_the_database_file() == 0  # no order paid for a checkpoint
    store.compact()  # what the sweep runs
    assert rows_in_the_database_file() == 900
    store.close()


def test_a_redis_rival_that_expired_does_not_hide_the_live_rivals_listed_after_it(redis_url):
    store = open_store(redis_url)
    store.create(_out("key:a-gone", ["a.example.com"]))
    store.create(_out("key:b-live", ["a.example.com"]))
    store.create(_out("key:c-live", ["a.example.com"]))
    store._client.delete("casrelay:ledger:key:a-gone")  # Redis expired it; its set entry is left behind
    names = _out("probe", ["a.example.com"]).names_key
    assert [r.key for r in store.calls_out(names)] == ["key:b-live", "key:c-live"]
    store.close()


def test_redis_records_written_before_the_calls_out_sets_are_found_after_the_sweep_backfills_them(redis_url):
    store = open_store(redis_url)
    record = _out("key:old-parked", ["old.example.com"], UNKNOWN)
    store.create(record)
    store._client.delete("casrelay:calls-out:" + record.names_key, "casrelay:calls-out-backfilled")  # as before
    assert store.calls_out(record.names_key) == []
    store.compact()  # the sweep's housekeeping
    assert [r.key for r in store.calls_out(record.names_key)] == ["key:old-parked"]
    store._client.srem("casrelay:calls-out:" + record.names_key, "key:old-parked")
    store.compact()  # once per ledger: the marker stops a second scan
    assert store.calls_out(record.names_key) == []
    store.close()


def test_two_processes_migrating_one_old_sqlite_ledger_both_open_it(tmp_path):
    import sqlite3
    import subprocess
    import sys

    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE ledger (key TEXT PRIMARY KEY, version INTEGER NOT NULL, state TEXT NOT NULL, "
                 "order_id INTEGER, expires_at REAL, data TEXT NOT NULL)")
    for i in range(300):
        record = _out(f"key:{i:03d}", [f"n{i}.example.com"], UNKNOWN)
        conn.execute("INSERT INTO ledger VALUES (?, ?, ?, NULL, NULL, ?)",
                     (record.key, record.version, record.state, record.to_json()))
    conn.commit()
    conn.close()
    script = ("import sys; sys.path.insert(0, 'handler'); from casrelay.ledger import open_store; "
              f"s = open_store('sqlite://{path}'); print(len(s.scan_open(1e12, 1000)[0]))")
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    results = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    assert [out.strip() for out, _ in results] == ["300", "300"]


# --- the follower's schedule (issue 13) ---------------------------------------------------------

def _placed(key: str, next_poll_at: float | None, version: int = 1) -> LedgerRecord:
    return _rec(key, ORDERED, version, order_id=abs(hash(key)) % 10**9 + 1, next_poll_at=next_poll_at,
                follow={"phase": "waiting", "since": 1.0, "polls": 0})


def test_the_orders_due_for_a_poll_are_read_soonest_first_up_to_the_limit(store):
    for key, due in (("key:c", 30.0), ("key:a", 10.0), ("key:b", 20.0), ("key:later", 99.0), ("key:none", None)):
        store.create(_placed(key, due))
    records, damaged = store.due_follow(25.0, 10)
    assert [r.key for r in records] == ["key:a", "key:b"] and damaged == []
    assert [r.key for r in store.due_follow(50.0, 2)[0]] == ["key:a", "key:b"]
    assert records[0].follow == {"phase": "waiting", "since": 1.0, "polls": 0}


def test_an_order_leaves_the_follow_schedule_when_its_next_poll_is_cleared_or_its_record_deleted(store):
    store.create(_placed("key:a", 10.0))
    store.create(_placed("key:b", 10.0))
    assert store.replace(_placed("key:a", None, version=2), 1)
    assert store.delete("key:b", 1)
    assert store.due_follow(100.0, 10) == ([], [])
    assert store.replace(_placed("key:a", 50.0, version=3), 2)
    assert [r.key for r in store.due_follow(100.0, 10)[0]] == ["key:a"]


def test_a_ledger_written_before_the_follower_is_migrated_and_its_orders_are_not_followed(tmp_path):
    import sqlite3

    path = tmp_path / "before-follow.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE ledger (key TEXT PRIMARY KEY, version INTEGER NOT NULL, state TEXT NOT NULL, "
                       "order_id INTEGER, expires_at REAL, data TEXT NOT NULL, open INTEGER NOT NULL DEFAULT 1, "
                       "updated_at REAL NOT NULL DEFAULT 0, call_out TEXT)")
    old = _rec("key:old", ORDERED, order_id=5)
    conn.execute("INSERT INTO ledger VALUES (?, ?, ?, ?, ?, ?, 1, 0, NULL)",
                 (old.key, old.version, old.state, old.order_id, None, old.to_json()))
    conn.commit()
    conn.close()
    store = open_store(f"sqlite://{path}")
    assert store.due_follow(1e12, 10) == ([], [])
    assert store.get("key:old") == old
    store.create(_placed("key:new", 5.0))
    assert [r.key for r in store.due_follow(10.0, 10)[0]] == ["key:new"]
    store.close()


def test_a_damaged_record_on_the_follow_schedule_is_reported_not_skipped_silently(tmp_path):
    store = open_store(f"sqlite://{tmp_path}/damaged.sqlite3")
    store.create(_placed("key:a", 1.0))
    store.create(_placed("key:b", 2.0))
    store._conn().execute("UPDATE ledger SET data = '{' WHERE key = 'key:a'")
    records, damaged = store.due_follow(10.0, 10)
    assert [r.key for r in records] == ["key:b"] and damaged == ["key:a"]
    store.close()
