"""Every trigger logs each order once: the order flow writes the line, the invocation binds its context.

Queue orders used to log only a batch summary; they now log ``order.placed`` (and count in the
order line, which is also its metric) like HTTP and direct orders, each line carrying FC's request id and the record's
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
    assert all(x["cas_calls"] == 1 and x["cas_ms"] > 0 for x in placed)  # each order's own CAS call, on its line
    assert not [x for x in lines if x["event"] == "metric"]  # the order lines are the metrics
    summary = [x for x in lines if x["event"] == "batch.summary"]
    assert len(summary) == 1 and summary[0]["fc_request_id"] == "1-batch-ctx"


def test_every_line_of_an_invocation_carries_its_request_id_without_it_being_passed(embedded, capsys):
    invoke_direct({"Domain": "ctx.example.com", "ValidateType": "DNS"})
    lines = _lines(capsys.readouterr().out)
    assert lines and all(x.get("fc_request_id") for x in lines)
    assert [x["event"] for x in lines] == ["order.placed"]  # one line per order, its metrics on it
    [placed] = lines
    assert placed["trigger"] == "invoke" and placed["key"].startswith("auto:")


def test_the_context_of_one_invocation_does_not_leak_into_the_next(embedded, capsys):
    call_handler(json.dumps({"Domain": "a.ctx.example.com", "ValidateType": "DNS"}).encode(),
                 "1-first")
    call_handler(json.dumps({"Domain": "b.ctx.example.com", "ValidateType": "DNS"}).encode(),
                 "1-second")
    placed = [x for x in _lines(capsys.readouterr().out) if x["event"] == "order.placed"]
    assert [(x["fc_request_id"], x["domains"]) for x in placed] == [
        ("1-first", ["a.ctx.example.com"]), ("1-second", ["b.ctx.example.com"])]


def test_twin_records_of_one_batch_wait_for_each_other_without_a_failure_line_per_wait(embedded, capsys):
    from devkit.cas_emulator import ACTION_CREATE

    embedded.emulator.set_latency(300, ACTION_CREATE)  # the first twin holds the key while the others wait
    twin = json.loads((EVENTS / "kafka-streaming.json").read_text())[0]
    event = [dict(twin, id=f"twin-{i}") for i in range(3)]
    call_handler(json.dumps(event).encode(), "1-twins")
    lines = _lines(capsys.readouterr().out)
    outcomes = sorted(x["outcome"] for x in lines if x["event"].startswith("order."))
    assert outcomes == ["duplicate", "duplicate", "placed"]
    assert not [x for x in lines if x["event"] == "metric"]


def test_metric_lines_carry_the_request_id_but_no_per_order_context(capsys):
    from casrelay import log

    with log.bound(fc_request_id="1-metric", key="auto:k", message_id="m-1"):
        log.metric("cas.latency", 12.5, "Milliseconds", action="ListUserCertificateOrder", result="ok")
    [line] = _lines(capsys.readouterr().out)
    assert line["fc_request_id"] == "1-metric" and line["metric"] == "cas.latency" and line["value"] == 12.5
    assert "key" not in line and "message_id" not in line


def test_a_cas_call_made_outside_an_order_gets_a_metric_line_and_one_inside_an_order_rides_on_its_line(capsys):
    from casrelay import log
    from casrelay.cas.client import _measured

    _measured("DescribePackageState", 0.0, "ok", False)
    with log.tallied() as tally:
        _measured("CreateCertificateForPackageRequest", 0.0, "Throttling.User", True)
        _measured("CreateCertificateForPackageRequest", 0.0, "ok", False)
    lines = _lines(capsys.readouterr().out)
    assert [(x["metric"], x["action"]) for x in lines] == [("cas.latency", "DescribePackageState")]
    assert tally["cas_calls"] == 2 and tally["cas_throttles"] == 1 and tally["cas_ms"] > 0


def test_a_refused_http_request_is_logged_under_the_request_id_its_answer_carries(embedded, capsys):
    from devkit.fc_local import http_event

    event = http_event("PUT", "/", {}, {}, b"")
    answer = call_handler(json.dumps(event).encode(), "1-fc-context")
    body = json.loads(answer["body"])
    [line] = [x for x in _lines(capsys.readouterr().out) if x["event"] == "http.rejected"]
    assert answer["statusCode"] == 405 and line["fc_request_id"] == body["RequestId"] == event["requestContext"][
        "requestId"]


def test_an_order_that_asks_for_xml_gets_its_idempotency_key_refusal_in_xml(embedded, monkeypatch):
    import index

    monkeypatch.setenv("WEBHOOK_AUTH", "none")
    index.reset_for_tests()
    from devkit.fc_local import http_event

    body = json.dumps({"Domain": "xml.example.com", "Format": "XML"}).encode()
    event = http_event("POST", "/", {}, {"Content-Type": "application/json", "Idempotency-Key": "k" * 300}, body)
    answer = call_handler(json.dumps(event).encode())
    assert answer["statusCode"] == 400 and answer["headers"]["Content-Type"].startswith("application/xml")
    assert "<Error>" in answer["body"]
