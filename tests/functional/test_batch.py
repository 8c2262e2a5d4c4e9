"""Queue batches: every record processed, bad ones acknowledged and reported, transient ones redelivered."""

from __future__ import annotations

import json
import time

import pytest

import index
from casrelay.entry.redelivery import TransientFailure
from devkit.cas_emulator import ACTION_CREATE
from devkit.embedded import embedded_default
from devkit.fc_local import make_context


def _mns_batch(bodies: list[object]) -> bytes:
    events = []
    for i, body in enumerate(bodies):
        text = body if isinstance(body, str) else json.dumps(body)
        events.append({"id": f"ev-{i}", "source": "MNS-test", "specversion": "1.0", "type": "mns:Queue:SendMessage",
                       "data": {"requestId": f"r{i}", "messageId": f"M{i:04d}", "messageBody": text}})
    return json.dumps(events).encode()


def _invoke(event: bytes):
    return index.handler(event, make_context())


def test_a_mixed_batch_acknowledges_permanent_failures_and_redelivers_only_for_transient_ones(monkeypatch):
    monkeypatch.setenv("BATCH_CONCURRENCY", "1")  # records in order, so the injected faults meet the first one
    with embedded_default() as emb:
        emb.emulator.set_quota("geotrust-dv-1-starter", 1, used=1)  # CAS will refuse: NotRemainCount
        bodies = [
            {"Domain": "flaky.example.com"},                                            # transient below
            {"Domain": "not a host"},                                                   # invalid
            "this is not json",                                                         # unreadable
            {"Domain": "refused.example.com", "ProductCode": "geotrust-dv-1-starter"},  # refused by CAS
            {"Domain": "ok.example.com"},
        ]
        # Three throttling answers in a row exhaust casrelay's own retries for the first paid call.
        emb.emulator.fail_next(ACTION_CREATE, count=3, status=400, code="Throttling.User")
        event = _mns_batch(bodies)
        with pytest.raises(TransientFailure, match="1 of 5 record"):
            _invoke(event)
        assert sorted(o.domain for o in emb.emulator.orders()) == ["ok.example.com"]
        # EventBridge redelivers the whole batch: only the transient record is ordered now, nothing twice.
        summary = _invoke(event)
        assert summary["Counts"] == {"duplicate": 1, "invalid": 2, "placed": 1, "refused": 1}, summary
        assert sorted(o.domain for o in emb.emulator.orders()) == ["flaky.example.com", "ok.example.com"]
        assert len(emb.emulator.requests(ACTION_CREATE)) == 3 + 1 + 1 + 1  # throttled, ok, refused, flaky
        failed = [m for m in emb.pushed() if m["Type"] == "certificate.order.failed"]
        assert {m["Error"]["Code"] for m in failed} == {"InvalidParameter", "MalformedMessage", "NotRemainCount"}
        assert {m["Source"]["MessageId"] for m in failed} == {"M0001", "M0002", "M0003"}
        refused = [m for m in failed if m["Error"]["Code"] == "NotRemainCount"]
        assert len({m["Id"] for m in refused}) == 1  # the re-push after redelivery has the same id


def test_a_batch_that_only_has_permanent_failures_succeeds_so_the_stream_is_not_blocked(embedded):
    summary = _invoke(_mns_batch([{"Domain": "bad_name.example.com"}, "[1, 2]"]))
    assert summary["Counts"] == {"invalid": 2}
    assert len([m for m in embedded.pushed() if m["Type"] == "certificate.order.failed"]) == 2


def test_the_same_order_twice_in_one_batch_is_ordered_once(embedded):
    summary = _invoke(_mns_batch([{"Domain": "twin.example.com"}, {"Domain": "twin.example.com"}]))
    assert sorted(summary["Counts"].items()) == [("duplicate", 1), ("placed", 1)]
    assert len(embedded.emulator.orders()) == 1


def test_a_sink_that_is_down_fails_the_batch_and_the_redelivery_pushes_without_ordering_again():
    with embedded_default(sinks=("file", "callback")) as emb:
        emb.receiver.fail_next(3, 503)
        event = _mns_batch([{"Domain": "sinkdown.example.com"}])
        with pytest.raises(TransientFailure):
            _invoke(event)
        assert len(emb.emulator.orders()) == 1
        summary = _invoke(event)
        assert summary["Counts"] == {"duplicate": 1}
        assert len(emb.emulator.orders()) == 1
        [delivered] = emb.receiver.deliveries()
        assert delivered.json()["Order"]["OrderId"] == emb.emulator.orders()[0].order_id


def test_a_hundred_record_batch_at_10_qps_with_latency_never_throttles_itself(capsys):
    with embedded_default(extra_env={"CAS_MAX_QPS": "10", "BATCH_CONCURRENCY": "8"}) as emb:
        emb.emulator.set_latency(300, ACTION_CREATE)
        index.initialize(make_context())  # FC runs the initializer before the first invocation
        event = _mns_batch([{"Domain": f"bulk{i}.example.com"} for i in range(100)])
        started = time.monotonic()
        summary = _invoke(event)
        elapsed = time.monotonic() - started
        assert summary["Counts"] == {"placed": 100}
        assert emb.emulator.throttled_requests() == []
        assert len(emb.emulator.orders()) == 100
        with capsys.disabled():
            print(f"\n  100-record batch at CAS_MAX_QPS=10 with 300 ms latency: {elapsed:.2f} s "
                  f"(floor 10 s: {elapsed / 10:.2f}x), 0 throttles")
