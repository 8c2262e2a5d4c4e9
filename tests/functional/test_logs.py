"""Logs: one JSON line per order outcome, contacts masked, no secret or credential anywhere."""

from __future__ import annotations

import json

from casrelay.log import mask_email, mask_phone
from devkit import cas_emulator
from tests.conftest import HttpClient

ORDER = {"Domain": "log.example.com", "Email": "tom.zhang@example.com", "Phone": "13012345678"}


def _lines(captured: str) -> list[dict]:
    return [json.loads(line) for line in captured.splitlines() if line.startswith("{")]


def test_placed_order_logs_one_line_with_masked_contacts(embedded, capsys):
    HttpClient(embedded).request(ORDER)
    out = capsys.readouterr().out
    lines = [x for x in _lines(out) if x["event"] == "order.placed"]
    assert len(lines) == 1
    line = lines[0]
    assert line["domains"] == ["log.example.com"] and line["outcome"] == "placed"
    assert line["email"] == "t***@example.com" and line["phone"] == "***5678"
    assert "tom.zhang" not in out and "13012345678" not in out


def test_no_secret_reaches_the_log_even_on_failures(embedded, capsys, monkeypatch):
    client = HttpClient(embedded)
    client.request(ORDER, signed=False)
    embedded.emulator.fail_next(cas_emulator.ACTION_CREATE, status=400, code="SignatureDoesNotMatch")
    client.request(ORDER)
    out = capsys.readouterr().out
    for secret in (cas_emulator.DEMO_ACCESS_KEY_SECRET, embedded.webhook_secret, embedded.webhook_secret[6:]):
        assert secret not in out
    assert "Traceback" not in out


def test_masking_helpers():
    assert mask_email("a@b.cn") == "a***@b.cn"
    assert mask_phone("+86 130 1234 5678") == "***5678"
    assert mask_phone("12") == "***"


def test_a_failed_order_logs_one_line_naming_key_domains_product_and_outcome(embedded, capsys):
    embedded.emulator.set_quota("symantec-free-1-free", 1, used=1)
    HttpClient(embedded).request(ORDER)
    lines = [x for x in _lines(capsys.readouterr().out) if x["event"] == "order.failed"]
    assert len(lines) == 1
    line = lines[0]
    assert line["key"].startswith("auto:") and line["domains"] == ["log.example.com"]
    assert line["product"] == "symantec-free-1-free" and line["outcome"] == "failed"
    assert line["code"] == "NotRemainCount" and line["cas_request_id"] and line["fc_request_id"]
    assert isinstance(line["latency_ms"], float)


def test_metrics_are_structured_lines_for_orders_cas_latency_throttles_and_sink_failures(embedded, capsys):
    client = HttpClient(embedded)
    client.request(ORDER)
    embedded.emulator.fail_next(cas_emulator.ACTION_CREATE, status=400, code="Throttling.User")
    client.request({"Domain": "metrics.example.com"})
    metrics = [x for x in _lines(capsys.readouterr().out) if x["event"] == "metric"]
    names = {m["metric"] for m in metrics}
    assert {"orders", "cas.latency", "cas.throttles"} <= names
    latency = [m for m in metrics if m["metric"] == "cas.latency"]
    assert all(m["unit"] == "Milliseconds" and m["value"] >= 0 for m in latency)
    assert {m["outcome"] for m in metrics if m["metric"] == "orders"} == {"placed"}


def test_sink_failures_are_counted(capsys):
    from devkit.embedded import embedded_default

    with embedded_default(sinks=("callback",), extra_env={"CALLBACK_MAX_ATTEMPTS": "1"}) as emb:
        emb.receiver.fail_next(1, 503)
        HttpClient(emb).request({"Domain": "sinkfail.example.com"})
    metrics = [x for x in _lines(capsys.readouterr().out) if x.get("metric") == "sink.failures"]
    assert len(metrics) == 1 and metrics[0]["sink"].startswith("http://127.0.0.1")


def test_contacts_echoed_in_a_cas_message_are_masked_before_they_reach_a_caller_or_a_sink():
    from alibabacloud_tea_openapi.exceptions import ClientException

    from casrelay.cas.errors import map_exception

    err = map_exception(ClientException(code="InvalidParameter.Email", status_code=400, data={
        "RequestId": "R", "Code": "InvalidParameter.Email",
        "Message": "Email tom.zhang@example.com or phone 13000000000 is invalid for order 98987582437920968"}))
    text = err.message + " ".join(e.message for e in err.errors)
    assert "tom.zhang@example.com" not in text and "13000000000" not in text
    assert "t***@example.com" in text and "98987582437920968" in text
