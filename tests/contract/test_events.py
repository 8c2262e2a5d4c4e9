"""Every sample in events/ runs through the local invoke with the outcome its name promises."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devkit.__main__ import invoke_file

EVENTS = Path(__file__).resolve().parents[2] / "events"
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
    "timer-sweep.json": "sweep",
}


def _trigger_of(name: str) -> str:
    """The trigger a queue sample's name promises; ``mns-queue-*`` and ``rawdata-mns`` are the MNS queue."""
    if name.startswith("mns-topic"):
        return "mns-topic"
    return "mns" if name.startswith(("mns-queue", "rawdata-mns")) else name.split("-", 1)[0]


def test_every_event_file_has_an_expected_outcome():
    assert sorted(p.name for p in EVENTS.glob("*.json")) == sorted(EXPECTED)


def _schema_validator():
    import jsonschema

    schema = json.loads((EVENTS.parent / "schemas" / "order-message.v1.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_event_runs_through_local_invoke(embedded, name):
    expected = EXPECTED[name]
    result = invoke_file(EVENTS / name, embedded.webhook_secret)
    placed = {o.order_id for o in embedded.emulator.orders()}
    if expected == "batch":
        from casrelay.triggers import BatchInvocation, classify

        invocation = classify((EVENTS / name).read_bytes())
        assert isinstance(invocation, BatchInvocation)
        assert all(i.trigger == _trigger_of(name) for i in invocation.batch.items)
        assert result["Counts"] == {"placed": len(invocation.batch.items)}, result
        assert {int(r["OrderId"]) for r in result["Results"]} == placed
    elif expected == "sweep":
        assert result["Trigger"] == "sweep" and result["Remaining"] == 0 and result["StoppedEarly"] is False
    elif expected == "placed":
        assert isinstance(result, dict) and result["OrderIdString"] == str(result["OrderId"])
        assert placed == {result["OrderId"]}
    else:
        assert result["statusCode"] == expected, result.get("body")
        if expected == 200 and name != "http-health.json":
            body = result["body"]
            if "xml" in name:
                assert "<OrderId>" in body
            else:
                assert json.loads(body)["OrderId"] in placed
    # every placed order reached the sink, in a message that follows the published schema
    validator = _schema_validator()
    pushed = embedded.pushed()
    for message in pushed:
        validator.validate(message)
    created = {m["Order"]["OrderId"] for m in pushed if m["Type"] == "certificate.order.created"}
    assert created == placed


@pytest.fixture()
def every_sink():
    from devkit.embedded import embedded_default

    with embedded_default(sinks=("file", "callback", "mns", "sqs")) as emb:
        yield emb


def test_the_queue_and_http_samples_together_reach_every_sink_kind(every_sink):
    names = [n for n, e in EXPECTED.items() if e in ("batch", "placed") or e == 200]
    for name in names:
        invoke_file(EVENTS / name, every_sink.webhook_secret)
    placed = {o.order_id for o in every_sink.emulator.orders()}
    assert len(placed) >= 20
    validator = _schema_validator()
    by_sink = every_sink.pushed_by_sink()
    assert set(by_sink) == {"file", "callback", "mns", "sqs"}
    for sink, pairs in by_sink.items():
        for msg_id, message in pairs:
            validator.validate(message)
            assert msg_id == message["Id"], sink
        created = {m["Order"]["OrderId"] for _, m in pairs if m["Type"] == "certificate.order.created"}
        assert created == placed, sink
