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


def test_an_orders_cas_time_calls_and_throttles_ride_on_its_one_line_and_no_metric_line_is_written(embedded, capsys):
    client = HttpClient(embedded)
    client.request(ORDER)
    embedded.emulator.fail_next(cas_emulator.ACTION_CREATE, status=400, code="Throttling.User")
    client.request({"Domain": "metrics.example.com"})  # throttled once, then placed on the retry
    lines = _lines(capsys.readouterr().out)
    assert not [x for x in lines if x["event"] == "metric"]
    first, second = [x for x in lines if x["event"] == "order.placed"]
    assert first["cas_calls"] == 1 and first["cas_ms"] > 0 and "cas_throttles" not in first
    assert second["cas_calls"] == 2 and second["cas_throttles"] == 1
    assert second["cas_ms"] >= 0 and second["latency_ms"] >= second["cas_ms"]


def test_sink_failures_are_counted_by_their_one_line(capsys):
    from devkit.embedded import embedded_default

    with embedded_default(sinks=("callback",), extra_env={"CALLBACK_MAX_ATTEMPTS": "1"}) as emb:
        emb.receiver.fail_next(1, 503)
        HttpClient(emb).request({"Domain": "sinkfail.example.com"})
    lines = _lines(capsys.readouterr().out)
    failed = [x for x in lines if x["event"] == "sink.failed"]
    assert len(failed) == 1 and failed[0]["sink"].startswith("http://127.0.0.1") and failed[0]["transient"] is True
    assert not [x for x in lines if x["event"] == "metric"]
