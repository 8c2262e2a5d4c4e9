"""Every sample in events/ runs through the local invoke with the outcome its name promises."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devkit.__main__ import invoke_file

EVENTS = Path(__file__).resolve().parent.parent / "events"
EXPECTED = {
    "http-health.json": 200,
    "http-order-csr.json": 200,
    "http-order-form.json": 200,
    "http-order-invalid.json": 400,
    "http-order-json.json": 200,
    "http-order-query-xml.json": 200,
    "http-order-tags-wildcard.json": 200,
    "http-order-unsigned.json": 401,
    "invoke-order.json": "placed",
}


def test_every_event_file_has_an_expected_outcome():
    assert sorted(p.name for p in EVENTS.glob("*.json")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_event_runs_through_local_invoke(embedded, name):
    result = invoke_file(EVENTS / name, embedded.webhook_secret)
    expected = EXPECTED[name]
    if expected == "placed":
        assert isinstance(result, dict) and result["OrderIdString"] == str(result["OrderId"])
        return
    assert result["statusCode"] == expected, result.get("body")
    if expected == 200 and name != "http-health.json":
        body = result["body"]
        if "xml" in name:
            assert "<OrderId>" in body
        else:
            assert json.loads(body)["OrderId"] in {o.order_id for o in embedded.emulator.orders()}
