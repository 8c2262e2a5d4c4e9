"""Promise: no OrderId lost, even when nobody re-sends. The timer-driven sweep finishes what was left open.

Each test leaves work the way bad luck does (a sink down and a caller that never retries, an answer
lost, a process killed), then sends only timer events, and checks that the order reaches every sink
exactly once, is never placed twice, and that what cannot be settled is parked for a person.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

import index
from devkit import ledger_admin
from devkit.cas_emulator import ACTION_CREATE, ACTION_LIST_ORDERS
from devkit.embedded import embedded_default
from devkit.fc_local import make_context
from tests.conftest import HttpClient, invoke_direct

ROOT = Path(__file__).resolve().parents[2]
ORDER = {"Domain": "sweep.example.com", "ValidateType": "DNS"}
TIMER = json.dumps({"triggerTime": "2026-12-01T00:00:00Z", "triggerName": "casrelay-sweep", "payload": ""}).encode()


class Crash(BaseException):
    """Stands for the process dying on that line: nothing in casrelay catches a BaseException."""


def sweep(context=None) -> dict:
    result = index.handler(TIMER, context or make_context())
    assert isinstance(result, dict) and "Counts" in result, result
    return result


def created(emb) -> list[dict]:
    return [m for m in emb.pushed() if m["Type"] == "certificate.order.created"]


def relay():
    r = index._app or index._setup()
    assert r is not None
    return r


def lapse_claim(key: str | None = None) -> None:
    """Let the claim's lifetime pass (the function's timeout) without waiting for it."""
    store = relay().ledger.store
    [record] = [r for r in store.scan() if key is None or r.key == key]
    assert store.replace(replace(record, version=record.version + 1, claim_expires_at=0.0), record.version)


@pytest.fixture()
def emb():
    with embedded_default(extra_env={"SWEEP_MIN_AGE_SECONDS": "0", "CALLBACK_MAX_ATTEMPTS": "1"},
                          sinks=("file", "callback")) as e:
        yield e


def test_an_order_whose_sink_was_down_reaches_it_through_the_sweep_when_the_caller_never_retries(emb):
    emb.receiver.fail_next(1, 503)
    res = HttpClient(emb).request(ORDER)
    assert res["statusCode"] == 503 and json.loads(res["body"])["Code"] == "DeliveryPending"
    [order] = emb.emulator.orders()
    assert emb.receiver.deliveries() == []
    summary = sweep()
    assert summary["Counts"].get("delivered") == 1 and summary["Remaining"] == 0
    assert [a.json()["Order"]["OrderId"] for a in emb.receiver.deliveries()] == [order.order_id]
    assert [m["Order"]["OrderId"] for m in created(emb)] == [order.order_id]  # the file sink got it once
    assert sweep()["Counts"] == {}  # nothing is left, and nothing is pushed again


def test_an_answer_lost_after_cas_committed_is_adopted_by_the_sweep_and_delivered(emb):
    emb.emulator.error_after_commit(ACTION_CREATE)
    emb.emulator.fail_next(ACTION_LIST_ORDERS, status=503, code="ServiceUnavailable")  # the inline search fails
    res = HttpClient(emb).request(ORDER)
    assert res["statusCode"] == 502 and json.loads(res["body"])["Code"] == "CasOutcomeUnknown"
    assert created(emb) == []
    summary = sweep()
    assert summary["Counts"].get("adopted") == 1
    [order] = emb.emulator.orders()
    assert [m["Order"]["OrderId"] for m in created(emb)] == [order.order_id]
    assert len(emb.emulator.requests(ACTION_CREATE)) == 1  # reconciled, never ordered again
    again = HttpClient(emb).request(ORDER)
    assert json.loads(again["body"])["OrderId"] == order.order_id


def test_a_claim_that_lapsed_after_the_paid_call_left_is_reconciled_by_the_sweep(emb, monkeypatch):
    def die(*args, **kwargs):
        raise Crash

    monkeypatch.setattr(relay().ledger, "ordered", die)  # dies between CAS's answer and the ledger write
    with pytest.raises(Crash):
        HttpClient(emb).request(ORDER)
    monkeypatch.undo()
    index.reset_for_tests()
    [order] = emb.emulator.orders()
    assert sweep()["Counts"].get("in_progress") == 1  # the claim is still live: the sweep leaves it alone
    lapse_claim()
    assert sweep()["Counts"].get("adopted") == 1
    assert [m["Order"]["OrderId"] for m in created(emb)] == [order.order_id]
    assert len(emb.emulator.requests(ACTION_CREATE)) == 1


def test_a_claim_that_lapsed_before_the_paid_call_is_given_back_and_nothing_was_ordered(monkeypatch):
    def die(*args, **kwargs):
        raise Crash

    # With the quota pre-check the attempt mark is a write of its own, so a claim can lapse without it.
    with embedded_default(extra_env={"SWEEP_MIN_AGE_SECONDS": "0", "PRECHECK_QUOTA": "true"}) as emb:
        monkeypatch.setattr(relay().ledger, "attempting", die)
        _lapsed_unattempted_claim_is_released(emb, monkeypatch)


def test_a_claim_that_carried_the_attempt_mark_and_lapsed_is_reconciled_before_the_key_orders_again(monkeypatch):
    from casrelay.ordering.package import PackageBackend

    def die(*args, **kwargs):
        raise Crash  # the process dies after the claim (which says the call may leave), before the call

    with embedded_default(extra_env={"SWEEP_MIN_AGE_SECONDS": "0", "RECONCILE_LIST_LAG_SECONDS": "0"}) as emb:
        monkeypatch.setattr(PackageBackend, "place", die)
        with pytest.raises(Crash):
            HttpClient(emb).request(ORDER)
        monkeypatch.undo()
        index.reset_for_tests()
        lapse_claim()
        counts = sweep()["Counts"]
        assert counts == {"not_ordered": 1}, counts  # reconciled, not simply released
        assert len(emb.emulator.requests(ACTION_LIST_ORDERS)) >= 1  # proved absent from CAS's list, not assumed
        assert HttpClient(emb).request(ORDER)["statusCode"] == 200
        assert len(emb.emulator.orders()) == 1


def _lapsed_unattempted_claim_is_released(emb, monkeypatch) -> None:
    with pytest.raises(Crash):
        HttpClient(emb).request(ORDER)
    monkeypatch.undo()
    index.reset_for_tests()
    lapse_claim()
    assert sweep()["Counts"].get("released") == 1
    assert emb.emulator.orders() == [] and emb.emulator.requests(ACTION_LIST_ORDERS) == []
    assert HttpClient(emb).request(ORDER)["statusCode"] == 200
    assert len(emb.emulator.orders()) == 1


CHILD = """
import json, os, signal, sys
sys.path.insert(0, "handler")
import index
from casrelay.ordering.package import PackageBackend
from devkit.fc_local import make_context

real = PackageBackend.place
def create_then_die(self, *args, **kwargs):
    placed = real(self, *args, **kwargs)
    print(json.dumps({"OrderId": placed.order_id}), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # CAS answered; the ledger write never happens
PackageBackend.place = create_then_die
ctx = make_context()
ctx.get_remaining_time_in_millis = lambda: 0  # the shortest claim casrelay takes (5 s)
index.handler(json.dumps({"Domain": "killed.example.com", "ValidateType": "DNS"}).encode(), ctx)
print("not killed", flush=True)
"""


def test_a_process_killed_between_the_cas_answer_and_the_ledger_write_is_finished_by_the_sweep(emb):
    child = subprocess.run([sys.executable, "-c", CHILD], cwd=ROOT, env={**os.environ, **emb.env},
                           capture_output=True, text=True, timeout=60)
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    order_id = json.loads(child.stdout.strip().splitlines()[-1])["OrderId"]
    [order] = emb.emulator.orders()
    assert order.order_id == order_id and created(emb) == []  # paid, and nobody downstream knows of it
    [record] = relay().ledger.store.scan()
    assert record.state == "claimed" and record.attempted_at is not None
    assert [r.key for r in relay().ledger.needs_person()] == []  # not lapsed yet
    time.sleep(max(0.0, record.claim_expires_at - time.time()) + 0.2)
    assert [r.key for r in relay().ledger.needs_person()] == [record.key]  # a lapsed claim is listed
    summary = sweep()
    assert summary["Counts"].get("adopted") == 1, summary
    assert [m["Order"]["OrderId"] for m in created(emb)] == [order_id]
    assert [a.json()["Order"]["OrderId"] for a in emb.receiver.deliveries()] == [order_id]
    assert len(emb.emulator.orders()) == 1


def test_an_attempt_that_cas_never_placed_becomes_not_ordered_and_the_next_arrival_orders_once():
    extra = {"SWEEP_MIN_AGE_SECONDS": "0", "RECONCILE_LIST_LAG_SECONDS": "1"}
    with embedded_default(extra_env=extra) as emb:
        emb.emulator.drop_before_commit(ACTION_CREATE)  # the call never reached CAS, but nobody can tell yet
        res = HttpClient(emb).request(ORDER)
        assert res["statusCode"] == 504
        assert sweep()["Counts"].get("unresolved") == 1  # too early: CAS might not list it yet
        time.sleep(1.1)
        assert sweep()["Counts"].get("not_ordered") == 1
        [failed] = [m for m in emb.pushed() if m["Type"] == "certificate.order.failed"]
        assert failed["Error"]["Code"] == "CasNotOrdered"
        assert emb.emulator.orders() == []
        again = HttpClient(emb).request(ORDER)
        assert again["statusCode"] == 200
        assert len(emb.emulator.orders()) == 1
        assert [m["Order"]["OrderId"] for m in created(emb)] == [emb.emulator.orders()[0].order_id]
        assert sweep()["Counts"] == {}


def test_what_the_sweep_cannot_resolve_is_parked_after_the_bounded_tries_and_announced_once(capsys):
    from casrelay.cas.credentials import resolve
    from casrelay.config import load
    from casrelay.ordering import open_backend
    from casrelay.validation import validate_order

    with embedded_default(extra_env={"SWEEP_MIN_AGE_SECONDS": "0", "SWEEP_MAX_TRIES": "2"}) as emb:
        settings = load(emb.env)
        open_backend(settings).place(validate_order(ORDER, settings), resolve(None))  # a look-alike order
        emb.emulator.error_after_commit(ACTION_CREATE)
        assert HttpClient(emb).request(ORDER)["statusCode"] == 502  # two orders match: ambiguous
        assert sweep()["Counts"].get("unresolved") == 1
        assert sweep()["Counts"].get("parked") == 1
        assert sweep()["Counts"] == {}  # parked and announced: the sweep leaves it to a person
        unknown = [m for m in emb.pushed() if m["Type"] == "certificate.order.unknown"]
        assert len(unknown) == 1 and unknown[0]["Order"]["Domains"] == ["sweep.example.com"]
        assert len(emb.emulator.orders()) == 2  # never a third
        capsys.readouterr()
        assert ledger_admin.main(["list"]) == 0
        out = capsys.readouterr().out
        assert "unknown" in out and "parked" in out and "sweep.example.com" in out


def test_the_sweep_leaves_records_younger_than_the_minimum_age_alone():
    with embedded_default(extra_env={"SWEEP_MIN_AGE_SECONDS": "60", "CALLBACK_MAX_ATTEMPTS": "1"},
                          sinks=("file", "callback")) as emb:
        emb.receiver.fail_next(1, 503)
        HttpClient(emb).request(ORDER)
        summary = sweep()
        assert summary["Seen"] == 0 and summary["Counts"] == {}
        assert emb.receiver.deliveries() == []


def test_two_sweeps_at_once_on_redis_never_push_or_reconcile_the_same_record_twice(redis_url):
    from casrelay import config
    from casrelay.app import App

    # A sweep leaves alone what was written within SWEEP_MIN_AGE_SECONDS, which is what keeps a second sweep
    # that starts after the first one finished a record from taking it again (with 0, how far apart the two
    # threads start would decide it).
    extra = {"SWEEP_MIN_AGE_SECONDS": "1", "IDEMPOTENCY_STORE": redis_url, "RECONCILE_LIST_LAG_SECONDS": "300"}
    with embedded_default(extra_env=extra) as emb:
        emb.emulator.set_latency(20, ACTION_LIST_ORDERS)
        client = HttpClient(emb)
        n = 12
        for i in range(n):
            emb.emulator.drop_before_commit(ACTION_CREATE)
            assert client.request({"Domain": f"two{i}.example.com"})["statusCode"] == 504
        emb.emulator.clear_faults()
        time.sleep(1.1)  # every record is now old enough to sweep
        before = len(emb.emulator.requests(ACTION_LIST_ORDERS))
        relays = [App(config.load()) for _ in range(2)]  # two instances, one Redis
        barrier = threading.Barrier(2)
        results: list[dict] = []

        def run(r: App) -> None:
            barrier.wait()
            results.append(r.sweeper.run(make_context()))

        threads = [threading.Thread(target=run, args=(r,)) for r in relays]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        searches = [r.params.get("Keyword") for r in emb.emulator.requests(ACTION_LIST_ORDERS)[before:]]
        assert Counter(searches) == {f"two{i}.example.com": 1 for i in range(n)}, results
        worked = sum(sum(v for k, v in r["Counts"].items() if k in ("unresolved", "adopted")) for r in results)
        assert worked == n


def test_the_sweep_stops_before_the_invocation_runs_out_of_time_and_the_next_one_resumes(listing_lags, embedded):
    monkey_env = {"SWEEP_MIN_AGE_SECONDS": "0"}
    os.environ.update(monkey_env)
    index.reset_for_tests()
    client = HttpClient(embedded)
    for i in range(6):
        embedded.emulator.drop_before_commit(ACTION_CREATE)
        client.request({"Domain": f"slow{i}.example.com"})
    embedded.emulator.set_latency(300, ACTION_LIST_ORDERS)
    reserve = relay().sweeper._reserve()
    ctx = make_context()
    started = time.monotonic()
    ctx.get_remaining_time_in_millis = lambda: max(0.0, reserve + 0.7 - (time.monotonic() - started)) * 1000
    first = sweep(ctx)
    assert first["StoppedEarly"] is True and 0 < first["Counts"].get("unresolved", 0) < 6
    second = sweep()
    assert first["Counts"]["unresolved"] + second["Counts"]["unresolved"] >= 6
    keywords = Counter(r.params.get("Keyword") for r in embedded.emulator.requests(ACTION_LIST_ORDERS))
    assert set(keywords) == {f"slow{i}.example.com" for i in range(6)}
    os.environ.pop("SWEEP_MIN_AGE_SECONDS", None)


def test_expired_records_are_purged_by_the_sweep_and_not_on_the_order_path(emb):
    HttpClient(emb).request(ORDER)
    store = relay().ledger.store
    [record] = store.scan()
    assert store.replace(replace(record, version=record.version + 1, expires_at=1.0), record.version)
    HttpClient(emb).request({"Domain": "other.example.com"})
    assert {r.key for r in store.scan()} >= {record.key}  # an order does not scan or purge the table
    assert sweep()["Counts"].get("purged") == 1
    assert record.key not in {r.key for r in store.scan()}


def test_a_damaged_ledger_row_is_answered_503_with_the_key_in_the_log_and_never_ordered(emb, capsys):
    import sqlite3

    HttpClient(emb).request(ORDER)
    [record] = relay().ledger.store.scan()
    path = emb.env["IDEMPOTENCY_STORE"].removeprefix("sqlite://")
    for damage in ('{"key": 1}', "not json", json.dumps({**json.loads(record.to_json()), "state": "weird"})):
        with sqlite3.connect(path) as db:
            db.execute("UPDATE ledger SET data = ?, open = 1 WHERE key = ?", (damage, record.key))
        capsys.readouterr()
        res = HttpClient(emb).request(ORDER)
        assert res["statusCode"] == 503 and json.loads(res["body"])["Code"] == "LedgerUnavailable"
        logged = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
        assert any(x.get("key") == record.key and x["event"] in ("ledger.unavailable", "order.failed")
                   for x in logged)
        assert len(emb.emulator.orders()) == 1
        summary = sweep()  # the sweep names it and goes on
        assert summary["Counts"].get("damaged") == 1


def test_the_sweep_logs_one_summary_line_with_its_counts(emb, capsys):
    emb.receiver.fail_next(1, 503)
    HttpClient(emb).request(ORDER)
    capsys.readouterr()
    sweep()
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    [summary] = [x for x in lines if x["event"] == "sweep.summary"]
    assert summary["counts"] == {"delivered": 1} and summary["remaining"] == 0 and summary["trigger"]


def test_any_timer_event_runs_the_sweep_and_it_never_raises(emb):
    for name in ("casrelay-sweep", "every-5m", "x"):
        event = json.dumps({"triggerTime": "2026-12-01T00:00:00Z", "triggerName": name, "payload": "{}"})
        result = index.handler(event.encode(), make_context())
        assert result["Trigger"] == name and "Counts" in result


def test_delivery_pending_is_never_answered_as_success_on_any_trigger(emb):
    """Promise: no OrderId lost. While a sink lacks the order, the caller is told to come back."""
    emb.receiver.fail_next(3, 503)
    res = HttpClient(emb).request(ORDER)
    assert res["statusCode"] == 503
    doc = json.loads(res["body"])
    assert doc["Code"] == "DeliveryPending" and doc["PendingSinks"] and doc["OrderIdString"]
    from casrelay.entry.redelivery import TransientFailure

    with pytest.raises(TransientFailure, match="DeliveryPending"):
        invoke_direct(ORDER)
    batch = [{"id": "e1", "source": "MNS-t", "specversion": "1.0", "type": "mns:Queue:SendMessage",
              "data": {"requestId": "r", "messageId": "M1", "messageBody": json.dumps(ORDER)}}]
    with pytest.raises(TransientFailure, match="1 of 1"):
        index.handler(json.dumps(batch).encode(), make_context())
    assert len(emb.emulator.orders()) == 1


def test_a_sweep_with_the_ledger_down_answers_with_an_error_and_does_not_raise(emb, monkeypatch):
    from casrelay.ledger.exceptions import StoreUnavailable

    def down(*args, **kwargs):
        raise StoreUnavailable("gone")

    monkeypatch.setattr(relay().ledger.store, "scan_open", down)
    result = sweep()
    assert "ledger is unavailable" in result["Error"]


def test_the_sweep_shares_the_cas_pacer_with_the_orders(emb):
    r = relay()
    assert r.sweeper.reconciler.backend is r.backend
