"""Ledger rules pinned where the mutation run found ``casrelay.ledger`` (the transitions, the record, the
stores) free to change unnoticed. Most run on every store, because a record that only the memory store
accepts (a ``None`` where a flag belongs) would read back as damaged from SQLite or Redis. Fields such as
``note`` and ``claim_token`` are asserted because ``ledger_admin list --json`` shows the whole record to the
operator."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from casrelay.ledger import CLAIMED, DELIVERED, FAILED, ORDERED, UNKNOWN, Ledger, LedgerConfig, LedgerRecord, open_store
from casrelay.ledger.exceptions import RecordUnreadable
from casrelay.ledger.persistence.base import LedgerStore
from tests.flow_support import Clock

SUMMARY = {"domains": ["a.example.com"], "product": "symantec-free-1-free", "validate": "DNS"}
SOURCE = {"trigger": "http", "message_id": "m"}


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


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def ledger(store, clock) -> Ledger:
    return Ledger(store, LedgerConfig(retention_seconds=3600), clock=clock)


def _attempted(ledger: Ledger, key: str = "auto:k", seconds: float = 60) -> LedgerRecord:
    claim = ledger.claim(key, "h-" + key, SUMMARY, SOURCE, seconds)
    assert claim.owned
    return ledger.attempting(claim.record)


def _read(ledger: Ledger, key: str = "auto:k") -> LedgerRecord:
    record = ledger.get(key)
    assert record is not None
    return record


# --- boundaries of time ------------------------------------------------------------------------------

def test_a_claim_has_lapsed_at_the_very_instant_it_expires(ledger, clock):
    record = _attempted(ledger, seconds=10)
    assert not record.claim_lapsed(clock.now + 9.999)
    assert record.claim_lapsed(record.claim_expires_at)


def test_a_record_has_expired_at_the_very_instant_its_retention_ends():
    record = LedgerRecord(key="k", payload_hash="h", state=FAILED, expires_at=100.0)
    assert not record.expired(99.999) and record.expired(100.0)


# --- a claim that lapsed after the paid call left -----------------------------------------------------

def test_a_claim_that_lapsed_after_the_call_left_reads_back_as_unknown_from_every_store(ledger, clock):
    _attempted(ledger, seconds=10)
    clock.now += 11
    claim = ledger.claim("auto:k", "h-auto:k", SUMMARY, SOURCE, 60)
    assert not claim.owned
    record = _read(ledger)
    assert record.state == UNKNOWN and record.settled is False and record.deliveries == {}
    assert record.claim_token is None and record.claim_expires_at is None
    assert "lapsed" in (record.note or "")


def test_a_claim_turned_unknown_by_an_arrival_counts_as_just_written_for_the_sweep(ledger, clock):
    """The sweep leaves records alone until their last write is SWEEP_MIN_AGE_SECONDS old."""
    _attempted(ledger, seconds=10)
    clock.now += 500
    ledger.claim("auto:k", "h-auto:k", SUMMARY, SOURCE, 60)
    assert _read(ledger).updated_at == clock.now
    assert ledger.open_records(60, 10)[0] == []


def test_the_sweep_s_lapse_reads_back_from_every_store(ledger, clock):
    record = _attempted(ledger, seconds=10)
    clock.now += 11
    ledger.lapse(record)
    lapsed = _read(ledger)
    assert lapsed.state == UNKNOWN and lapsed.settled is False and "lapsed" in (lapsed.note or "")


# --- refusals, unknown outcomes, parking ----------------------------------------------------------

def test_a_refusal_reads_back_from_every_store_with_its_error_and_note(ledger):
    record = ledger.failed(_attempted(ledger), {"Code": "NotRemainCount", "Message": "none left"}, note="why")
    back = _read(ledger)
    assert back == record
    assert back.state == FAILED and back.settled is False and back.error == {"Code": "NotRemainCount",
                                                                              "Message": "none left"}
    assert back.note == "why" and back.claim_token is None and back.claim_expires_at is None
    assert back.open  # its message still has to reach the sinks


def test_an_unknown_outcome_keeps_the_error_and_the_note_that_made_it_unknown(ledger):
    error = {"Code": "CasOutcomeUnknown", "Message": "read timeout", "RequestId": "REQ-7", "Status": 504}
    ledger.unknown(_attempted(ledger), error, note="the call timed out")
    back = _read(ledger)
    assert back.state == UNKNOWN and back.error == error and back.note == "the call timed out"
    assert back.claim_token is None and back.claim_expires_at is None and back.expires_at is None


def test_a_parked_record_reads_back_unsettled_so_its_message_is_still_owed(ledger):
    unknown = ledger.unknown(_attempted(ledger), {"Code": "CasOutcomeUnknown"}, note="x")
    parked = ledger.park(unknown)
    back = _read(ledger)
    assert back == parked and back.parked_at is not None
    assert back.settled is False and back.open


def test_a_refusal_after_a_parked_unknown_is_owed_to_every_sink_again(ledger):
    unknown = ledger.unknown(_attempted(ledger), {"Code": "CasOutcomeUnknown"}, note="x")
    parked = ledger.delivered(ledger.park(unknown), ["file"], ["file"])
    assert parked.settled and parked.deliveries
    refused = ledger.failed(parked, {"Code": "CasNotOrdered"}, note="none placed")
    assert refused.deliveries == {} and refused.settled is False and refused.parked_at is None
    assert _read(ledger).open


# --- the operator -------------------------------------------------------------------------------------

def test_an_order_adopted_by_the_operator_keeps_the_operator_s_note_and_invents_no_request_id(ledger):
    unknown = ledger.unknown(_attempted(ledger), {"Code": "CasOutcomeUnknown"}, note="x")
    adopted = ledger.resolve(unknown.key, 4242, note="checked in the console")
    assert adopted is not None and adopted.order_id == 4242 and adopted.state == ORDERED
    assert adopted.note == "checked in the console"
    assert adopted.cas_request_id in ("", None)
    assert ledger.owner_of(4242) == unknown.key


def test_the_operator_list_shows_orders_undelivered_from_exactly_the_threshold_and_never_settled_ones(ledger,
                                                                                                         clock):
    ordered = ledger.ordered(_attempted(ledger, "auto:o"), 1, "R")
    done = ledger.ordered(_attempted(ledger, "auto:d"), 2, "R")
    done = ledger.delivered(done, ["file"], ["file"])
    assert done.state == DELIVERED
    assert ledger.needs_person(undelivered_after=900) == []
    clock.now = ordered.updated_at + 900
    assert [r.key for r in ledger.needs_person(undelivered_after=900)] == ["auto:o"]
    clock.now = ordered.updated_at + 899.5
    assert ledger.needs_person(undelivered_after=900) == []
    clock.now += 10_000
    assert [r.key for r in ledger.needs_person()] == []  # without the threshold, pending orders wait


def test_the_operator_list_shows_lapsed_claims_but_not_live_ones(ledger, clock):
    _attempted(ledger, "auto:c", seconds=10)
    assert ledger.needs_person() == []
    clock.now += 10
    assert [r.state for r in ledger.needs_person()] == [CLAIMED]


# --- the stores ---------------------------------------------------------------------------------------

def test_a_sqlite_store_can_be_used_again_after_it_was_closed(tmp_path):
    store = open_store(f"sqlite://{tmp_path}/ledger.sqlite3")
    assert store.create(LedgerRecord(key="k", payload_hash="h", state=CLAIMED))
    store.close()
    assert store.get("k") is not None
    store.close()
    store.close()  # closing twice is harmless


def test_closing_a_sqlite_store_checkpoints_its_write_ahead_log(tmp_path):
    """The last connection to close folds the WAL into the database file and removes it."""
    path = Path(tmp_path) / "ledger.sqlite3"
    store = open_store(f"sqlite://{path}")
    assert store.create(LedgerRecord(key="k", payload_hash="h", state=CLAIMED))
    assert Path(f"{path}-wal").exists()
    store.close()
    assert not Path(f"{path}-wal").exists()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM ledger").fetchone() == (1,)


def test_a_damaged_row_is_reported_under_its_own_key_by_every_store(store):
    store.create(LedgerRecord(key="k", payload_hash="h", state=CLAIMED))
    if hasattr(store, "_client"):
        store._client.hset("casrelay:ledger:k", "d", b"{not json")
    elif hasattr(store, "path"):
        with sqlite3.connect(store.path) as db:
            db.execute("UPDATE ledger SET data = '{not json' WHERE key = 'k'")
    else:
        pytest.skip("the memory store keeps objects, not text")
    with pytest.raises(RecordUnreadable) as caught:
        store.get("k")
    assert caught.value.key == "k"
    assert [r.key for r in store.scan()] == []  # the operator's scan skips what it cannot read


def test_every_store_scan_keeps_going_past_a_damaged_row(store):
    for key in ("a", "b", "c"):
        store.create(LedgerRecord(key=key, payload_hash="h", state=UNKNOWN))
    if hasattr(store, "_client"):
        store._client.hset("casrelay:ledger:a", "d", b"{not json")
    elif hasattr(store, "path"):
        with sqlite3.connect(store.path) as db:
            db.execute("UPDATE ledger SET data = '{not json' WHERE key = 'a'")
    else:
        pytest.skip("the memory store keeps objects, not text")
    assert [r.key for r in store.scan()] == ["b", "c"]
    assert [r.key for r in store.scan([UNKNOWN])] == ["b", "c"]


def _many_with_damaged(store, damaged_store_write) -> None:
    for i in range(20):
        store.create(LedgerRecord(key=f"k{i:02d}", payload_hash="h", state=UNKNOWN))
    for i in range(0, 20, 2):
        damaged_store_write(f"k{i:02d}")


def test_every_scan_returns_all_readable_rows_whatever_order_the_damaged_ones_come_in(store):
    if hasattr(store, "_client"):
        def damage(key: str) -> None:
            store._client.hset(f"casrelay:ledger:{key}", "d", b"{not json")
    elif hasattr(store, "path"):
        def damage(key: str) -> None:
            with sqlite3.connect(store.path) as db:
                db.execute("UPDATE ledger SET data = '{not json' WHERE key = ?", (key,))
    else:
        pytest.skip("the memory store keeps objects, not text")
    _many_with_damaged(store, damage)
    assert [r.key for r in store.scan()] == [f"k{i:02d}" for i in range(1, 20, 2)]


def test_the_sweep_s_work_list_holds_open_records_old_enough_and_nothing_else(store):
    store.create(LedgerRecord(key="old-open", payload_hash="h", state=UNKNOWN, updated_at=10.0))
    store.create(LedgerRecord(key="new-open", payload_hash="h", state=UNKNOWN, updated_at=30.0))
    store.create(LedgerRecord(key="old-done", payload_hash="h", state=DELIVERED, order_id=5, settled=True,
                              updated_at=10.0))
    records, damaged = store.scan_open(20.0, 10)
    assert [r.key for r in records] == ["old-open"] and damaged == []
    assert [r.key for r in store.scan_open(30.0, 10)[0]] == ["old-open", "new-open"]
    assert [r.key for r in store.scan_open(30.0, 1)[0]] == ["old-open"]


def test_the_purge_removes_only_settled_records_whose_retention_ended_and_frees_their_order_id(store):
    if hasattr(store, "_client"):
        assert store.purge_expired(1e12, 100) == 0  # Redis expires records itself; nothing to purge or count
        return
    store.create(LedgerRecord(key="gone", payload_hash="h", state=DELIVERED, order_id=7, settled=True,
                              expires_at=100.0))
    store.create(LedgerRecord(key="kept", payload_hash="h", state=DELIVERED, order_id=8, settled=True,
                              expires_at=500.0))
    store.create(LedgerRecord(key="open", payload_hash="h", state=ORDERED, order_id=9, expires_at=100.0))
    assert store.purge_expired(200.0, 100) == 1
    assert store.get("gone") is None and store.find_by_order_id(7) is None
    assert store.get("kept") is not None and store.find_by_order_id(8) == "kept"
    assert store.get("open") is not None


def test_redis_forgets_a_record_when_its_retention_ends(redis_url):
    import time

    store = open_store(redis_url)
    ends = time.time() + 1.0  # long enough for the first read to come before it on a busy machine
    store.create(LedgerRecord(key="short", payload_hash="h", state=DELIVERED, order_id=11, settled=True,
                              expires_at=ends))
    store.create(LedgerRecord(key="kept", payload_hash="h", state=UNKNOWN))
    assert store.get("short") is not None and store.find_by_order_id(11) == "short"
    while (store.get("short") is not None or store.find_by_order_id(11) is not None) and time.time() < ends + 5:
        time.sleep(0.05)
    assert time.time() >= ends  # not before its retention ended
    assert store.get("short") is None and store.find_by_order_id(11) is None
    assert store.get("kept") is not None
    store.close()


def test_redis_drops_records_it_expired_from_the_work_list_and_still_returns_the_others(redis_url):
    store = open_store(redis_url)
    for key, when in (("a", 1.0), ("b", 2.0), ("c", 3.0)):
        store.create(LedgerRecord(key=key, payload_hash="h", state=UNKNOWN, updated_at=when))
    store._client.delete("casrelay:ledger:a", "casrelay:ledger:b")  # what Redis does when they expire
    records, damaged = store.scan_open(10.0, 10)
    assert [r.key for r in records] == ["c"] and damaged == []
    assert store._client.zrange("casrelay:open", 0, -1) == [b"c"]
    store.close()


def test_a_sweep_lease_ending_at_this_very_instant_no_longer_keeps_another_sweep_off(ledger, clock):
    record = _attempted(ledger)
    taken = ledger.take_for_sweep(record, 30)
    assert taken is not None and taken.swept_until == clock.now + 30
    assert ledger.take_for_sweep(_read(ledger), 30) is None
    clock.now += 30
    assert ledger.take_for_sweep(_read(ledger), 30) is not None


def test_an_unknown_outcome_reads_back_from_every_store_unsettled_no_sink_has_been_told_of_it(ledger):
    ledger.unknown(_attempted(ledger), {"Code": "CasOutcomeUnknown"}, note="the call timed out")
    back = _read(ledger)
    assert back.settled is False and back.deliveries == {} and back.open


# --- a refusal the ledger could not record --------------------------------------------------------------
#
# When CAS refuses and the ``failed`` write fails, the flow still pushes the refusal. Before 9236a7e it pushed
# it from the claim and noted the sinks' confirmations on that claim, which then carried deliveries,
# ``settled`` and a retention expiry. Whatever comes of that claim next (a lapse, a take-over and a timed-out
# call, a second refusal) must read back as what it is: an outcome that may have placed an order never
# expires, and a message no sink has seen does not read as delivered.

def _refusal_the_ledger_could_not_record(w: Any, store: Any, *, attempted: bool) -> None:
    from casrelay.errors import RelayError, cas_refused

    store.failing_once.add("replace:failed")
    if attempted:
        w.backend.answers = [cas_refused("InvalidParameter.Domain", "refused", "REQ-1")]
    else:
        w.backend.remaining = 0  # PRECHECK_QUOTA refuses before the attempt mark
    with pytest.raises(RelayError):
        w.place()
    claim = w.only_record()
    assert claim.state == CLAIMED and (claim.attempted_at is not None) is attempted
    assert claim.claim_expires_at is not None
    w.clock.now = claim.claim_expires_at + 1


def _flaky_world(**config: Any) -> tuple[Any, Any]:
    from tests.flow_support import FlakyStore, world

    store = FlakyStore()
    return world(store=store, reconcile_list_lag_seconds=300, retention_seconds=3600, **config), store


class _Enough:
    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def test_a_lapsed_claim_after_a_refusal_the_ledger_could_not_record_is_an_unknown_outcome_that_never_expires():
    w, store = _flaky_world()
    _refusal_the_ledger_could_not_record(w, store, attempted=True)
    assert w.sweeper.run(_Enough())["Counts"] == {"unresolved": 1}
    back = w.only_record()
    assert back.state == UNKNOWN and back.expires_at is None
    assert back.deliveries == {} and back.settled is False and back.open
    assert not back.expired(w.clock.now + 10 * 3600)


def test_a_timed_out_call_on_a_claim_taken_over_after_an_unrecorded_refusal_is_an_unknown_outcome_never_expiring():
    from casrelay.errors import CasOutcomeUnknown, cas_outcome_unknown

    w, store = _flaky_world(precheck_quota=True)
    _refusal_the_ledger_could_not_record(w, store, attempted=False)
    w.backend.remaining = 10
    w.backend.answers = [cas_outcome_unknown("read timeout")]
    with pytest.raises(CasOutcomeUnknown):
        w.place()  # takes the lapsed claim over (its call never left) and times out
    back = w.only_record()
    assert back.state == UNKNOWN and back.attempted_at is not None and back.expires_at is None
    assert back.deliveries == {} and back.settled is False and back.open
    assert not back.expired(w.clock.now + 10 * 3600)


def test_a_refusal_on_a_claim_taken_over_after_an_unrecorded_refusal_never_expires_while_a_sink_lacks_it():
    from casrelay.errors import RelayError
    from tests.flow_support import RecordingSink, sink_down

    good, down = RecordingSink("good"), RecordingSink("bad")
    w, store = _flaky_world(precheck_quota=True, sinks=[good, down])
    _refusal_the_ledger_could_not_record(w, store, attempted=False)
    w.delivery.sinks = [good, sink_down("bad")]
    with pytest.raises(RelayError):
        w.place()  # takes the lapsed claim over and is refused again; "bad" is down now
    back = w.only_record()
    assert back.state == FAILED and back.error is not None and back.error["Code"] == "NotRemainCount"
    assert set(back.deliveries) == {"good"} and back.settled is False and back.open
    assert back.expires_at is None


def test_redis_indexes_an_order_id_only_for_records_that_hold_one(redis_url):
    """``casrelay:order:<OrderId>`` names the key that owns an order; a record without an OrderId adds no entry."""
    store = open_store(redis_url)
    ledger = Ledger(store, LedgerConfig(retention_seconds=3600), clock=Clock())
    attempted = _attempted(ledger)
    ledger.unknown(ledger.attempting(ledger.claim("auto:other", "h-o", SUMMARY, SOURCE, 60).record),
                   {"Code": "CasOutcomeUnknown"}, note="timeout")
    assert store._client.keys("casrelay:order:*") == []
    ledger.ordered(attempted, 77, "REQ")
    assert store._client.keys("casrelay:order:*") == [b"casrelay:order:77"]
    assert store.find_by_order_id(77) == "auto:k"
    store.close()


def test_a_redis_failure_names_the_driver_s_error_type_and_never_the_url_s_password():
    import socket

    from casrelay.ledger.exceptions import StoreUnavailable

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = open_store(f"redis://:hunter2-secret@127.0.0.1:{port}/0")  # nothing listens there
    with pytest.raises(StoreUnavailable) as caught:
        store.get("auto:k")
    assert "ConnectionError" in str(caught.value) and "hunter2" not in str(caught.value)
    store.close()


def test_a_sqlite_store_can_be_closed_from_a_thread_that_never_used_it(tmp_path):
    """Batch threads share one store (a connection per thread); closing must not depend on which thread does it."""
    import threading

    store = open_store(f"sqlite://{tmp_path}/ledger.sqlite3")
    errors: list[BaseException] = []

    def close() -> None:
        try:
            store.close()
        except BaseException as exc:  # reported to the test thread
            errors.append(exc)

    worker = threading.Thread(target=close)
    worker.start()
    worker.join()
    assert errors == []
    assert store.create(LedgerRecord(key="k", payload_hash="h", state=CLAIMED))
    store.close()


# --- saving the OrderId ---------------------------------------------------------------------------------

def test_a_saved_order_id_reads_back_from_every_store_as_an_order_no_claim_holds_any_more(ledger):
    ordered = ledger.ordered(_attempted(ledger), 98987582437920968, "REQ-1")
    back = _read(ledger)
    assert back == ordered and back.state == ORDERED and back.order_id == 98987582437920968
    assert back.claim_token is None and back.claim_expires_at is None
    assert back.cas_request_id == "REQ-1" and back.expires_at is None and back.open


def test_an_order_adopted_for_a_parked_announced_outcome_is_owed_to_every_sink_and_carries_no_error_or_park(ledger):
    unknown = ledger.unknown(_attempted(ledger), {"Code": "CasOutcomeUnknown", "Message": "timeout"}, note="x")
    announced = ledger.delivered(ledger.park(unknown), ["file"], ["file"])
    assert announced.settled and announced.parked_at is not None
    adopted = ledger.resolve(announced.key, 4242, note="checked in the console")
    back = _read(ledger)
    assert adopted == back and back.state == ORDERED and back.order_id == 4242
    assert back.error is None and back.parked_at is None
    assert back.deliveries == {} and back.settled is False and back.expires_at is None and back.open


def test_an_order_adopted_for_a_settled_refusal_never_expires_before_every_sink_has_it(ledger, clock):
    refused = ledger.failed(_attempted(ledger), {"Code": "NotRemainCount"})
    settled = ledger.delivered(refused, ["file"], ["file"])
    assert settled.expires_at is not None  # a settled refusal may be forgotten after its retention
    ledger.resolve(settled.key, 4242, note="the order was placed after all")
    back = _read(ledger)
    assert back.state == ORDERED and back.expires_at is None and not back.settled
    assert not back.expired(clock.now + 10 * 3600)


def test_an_order_id_whose_record_vanished_is_reported_under_the_record_s_key(ledger):
    from casrelay.ledger.exceptions import StoreUnavailable

    attempted = _attempted(ledger)
    assert ledger.store.delete(attempted.key, attempted.version)
    with pytest.raises(StoreUnavailable) as caught:
        ledger.ordered(attempted, 4242, "REQ")
    assert attempted.key in str(caught.value)


def test_an_order_id_that_could_not_be_saved_over_the_races_is_reported_under_the_record_s_key():
    from casrelay.ledger.exceptions import StoreUnavailable
    from casrelay.ledger.persistence.memory import MemoryStore

    class EveryWriteLoses(MemoryStore):
        def replace(self, record: LedgerRecord, expected_version: int) -> bool:
            return record.state != ORDERED and super().replace(record, expected_version)

    ledger = Ledger(EveryWriteLoses(), LedgerConfig(), clock=Clock())
    attempted = _attempted(ledger)
    with pytest.raises(StoreUnavailable) as caught:
        ledger.ordered(attempted, 4242, "REQ")
    assert attempted.key in str(caught.value)


# --- recording deliveries ------------------------------------------------------------------------------

def test_noting_deliveries_every_sink_had_already_changes_nothing_in_any_store(ledger, clock):
    """A repeated refused order pushes to no sink and notes nothing: its retention does not start again."""
    settled = ledger.delivered(ledger.failed(_attempted(ledger), {"Code": "NotRemainCount"}), ["file"], ["file"])
    clock.now += 600
    assert ledger.delivered(settled, [], ["file"]) == settled
    assert _read(ledger) == settled


def test_deliveries_that_could_not_be_noted_over_the_races_are_reported_under_the_record_s_key():
    from casrelay.ledger.exceptions import StoreUnavailable
    from casrelay.ledger.persistence.memory import MemoryStore

    class EveryDeliveryLoses(MemoryStore):
        def replace(self, record: LedgerRecord, expected_version: int) -> bool:
            return not record.deliveries and super().replace(record, expected_version)

    ledger = Ledger(EveryDeliveryLoses(), LedgerConfig(), clock=Clock())
    ordered = ledger.ordered(_attempted(ledger), 4242, "REQ")
    with pytest.raises(StoreUnavailable) as caught:
        ledger.delivered(ordered, ["file"], ["file"])
    assert ordered.key in str(caught.value)


def test_a_settled_refusal_that_a_newly_configured_sink_still_lacks_no_longer_expires(ledger, clock):
    settled = ledger.delivered(ledger.failed(_attempted(ledger), {"Code": "NotRemainCount"}), ["file"], ["file"])
    assert settled.expires_at is not None
    # ORDER_SINKS now also names "mns" (which took the refusal) and "callback" (which is down)
    again = ledger.delivered(settled, ["mns"], ["file", "mns", "callback"])
    assert again.settled is False and again.open
    assert again.expires_at is None
