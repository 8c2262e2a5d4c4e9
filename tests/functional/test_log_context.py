"""Every trigger logs each order once: the order flow writes the line, the invocation binds its context.

Queue orders used to log only a batch summary; they now log ``order.placed`` (and count in the
``orders`` metric) like HTTP and direct orders, each line carrying FC's request id and the record's
own trigger, batch threads included.
"""

from __future__ import annotations

import json
from pathlib import Path

from devkit.fc_local import call_handler
from tests.conftest import invoke_direct

EVENTS = Path(__file__).resolve().parents[2] / "events"


def _lines(out: str) -> list[dict]:
    return [json.loads(x) for x in out.splitlines() if x.startswith("{")]


def test_each_order_of_a_queue_batch_logs_its_own_line_with_the_invocations_request_id(embedded, capsys):
    event = json.loads((EVENTS / "kafka-streaming.json").read_text())
    call_handler(json.dumps(event).encode(), "1-batch-ctx")
    lines = _lines(capsys.readouterr().out)
    placed = [x for x in lines if x["event"] == "order.placed"]
    assert len(placed) == len(event) >= 1
    assert {x["fc_request_id"] for x in placed} == {"1-batch-ctx"}
    assert {x["trigger"] for x in placed} == {"kafka"}
    metrics = [x for x in lines if x["event"] == "metric" and x["metric"] == "orders"]
    assert len(metrics) == len(event) and {m["trigger"] for m in metrics} == {"kafka"}
    summary = [x for x in lines if x["event"] == "batch.summary"]
    assert len(summary) == 1 and summary[0]["fc_request_id"] == "1-batch-ctx"


def test_every_line_of_an_invocation_carries_its_request_id_without_it_being_passed(embedded, capsys):
    invoke_direct({"Domain": "ctx.example.com", "ValidateType": "DNS"})
    lines = _lines(capsys.readouterr().out)
    assert lines and all(x.get("fc_request_id") for x in lines)
    assert {x["event"] for x in lines} >= {"order.placed", "metric"}
    [placed] = [x for x in lines if x["event"] == "order.placed"]
    assert placed["trigger"] == "invoke" and placed["key"].startswith("auto:")


def test_the_context_of_one_invocation_does_not_leak_into_the_next(embedded, capsys):
    call_handler(json.dumps({"Domain": "a.ctx.example.com", "ValidateType": "DNS"}).encode(),
                 "1-first")
    call_handler(json.dumps({"Domain": "b.ctx.example.com", "ValidateType": "DNS"}).encode(),
                 "1-second")
    placed = [x for x in _lines(capsys.readouterr().out) if x["event"] == "order.placed"]
    assert [(x["fc_request_id"], x["domains"]) for x in placed] == [
        ("1-first", ["a.ctx.example.com"]), ("1-second", ["b.ctx.example.com"])]
