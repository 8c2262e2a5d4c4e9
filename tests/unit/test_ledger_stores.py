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
