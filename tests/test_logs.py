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
