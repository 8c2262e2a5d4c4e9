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
    "kafka-streaming-strings.json": "batch",
    "kafka-streaming.json": "batch",
    "mns-queue-driven.json": "batch",
    "mns-queue-streaming.json": "batch",
    "mns-topic-json.json": "batch",
    "mns-topic-stream.json": "batch",
    "rabbitmq-driven.json": "batch",
    "rabbitmq-streaming.json": "batch",
    "rawdata-mns.json": "batch",
    "rocketmq-driven.json": "batch",
    "rocketmq-streaming.json": "batch",
}


def _trigger_of(name: str) -> str:
    """The trigger a queue sample's name promises; ``mns-queue-*`` and ``rawdata-mns`` are the MNS queue."""
    if name.startswith("mns-topic"):
        return "mns-topic"
    return "mns" if name.startswith(("mns-queue", "rawdata-mns")) else name.split("-", 1)[0]


def test_every_event_file_has_an_expected_outcome():
    assert sorted(p.name for p in EVENTS.glob("*.json")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_event_runs_through_local_invoke(embedded, name):
    expected = EXPECTED[name]
    if expected == "batch":  # until batches are processed: the sample reads into orders of its trigger
        from casrelay.records import OrderRecord
        from casrelay.triggers import BatchInvocation, classify

        invocation = classify((EVENTS / name).read_bytes())
        assert isinstance(invocation, BatchInvocation)
        assert invocation.batch.items
        assert all(isinstance(i, OrderRecord) and i.trigger == _trigger_of(name) for i in invocation.batch.items)
        return
    result = invoke_file(EVENTS / name, embedded.webhook_secret)
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
