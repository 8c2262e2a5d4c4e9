"""Properties of the whole function: ``index.handler`` on the embedded default (the CAS emulator on loopback).

Whatever bytes FC hands over (arbitrary bytes, or the sample events of every kind damaged in transit),
the handler answers. The only exception it may raise is ``TransientFailure``, FC's signal to deliver
again. With the emulator and the file sink healthy, it never logs an ``internal.error`` (a bug) or a
``sink.failed``, every log line it writes is JSON that stdout can encode as UTF-8, an HTTP event never
gets a 5xx, and neither a direct invocation nor a batch record gets a status of 500 or more.

One emulator serves every example of the module: orders accumulate, which is what production sees.
HTTP events are re-signed after they are damaged (most of the time), so that the damage reaches the
order parsing behind authentication rather than stopping at a 401.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from collections.abc import Iterator
from typing import Any
from xml.etree import ElementTree

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from casrelay.entry.redelivery import TransientFailure
from casrelay.errors import RelayError
from casrelay.products import PRODUCT_CODES
from casrelay.triggers import BatchInvocation, DirectInvocation, HttpInvocation, classify
from devkit.embedded import DEMO_WEBHOOK_SECRET, Embedded, embedded_default
from devkit.fc_local import load_index, make_context, sign_webhook
from tests.property_strategies import (
    DIRECT_EVENTS,
    EVENTS,
    HTTP_EVENTS,
    QUEUE_EVENTS,
    bounded,
    event_bytes,
)


@pytest.fixture(scope="module")
def embedded_module() -> Iterator[Embedded]:
    """One embedded default for the module, with no throttling and packages enough for every example."""
    quotas = {code: 1_000_000 for code in PRODUCT_CODES}
    with embedded_default(extra_env={"CAS_MAX_QPS": "1000"}, qps=None, quotas=quotas) as emb:
        yield emb


class _Collect:
    """Collects the function's log lines (``casrelay.log.lines_to``), checking each is writable JSON."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def write(self, text: str) -> None:
        line = text.rstrip("\n")
        try:
            line.encode("utf-8")  # stdout is UTF-8: a line it cannot encode is lost
            self.events.append(json.loads(line))
        except ValueError:  # UnicodeEncodeError is one
            self.events.append({"event": "unwritable", "line": line[:200]})


@pytest.fixture(scope="module")
def log_lines() -> Iterator[_Collect]:
    from casrelay import log

    collect = _Collect()
    with log.lines_to(collect.write):
        yield collect


def _body_bytes(event: dict[str, Any]) -> bytes | None:
    body = event.get("body", "")
    if body is None:
        return b""
    if not isinstance(body, str):
        return None
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return None
    return body.encode("utf-8", "surrogatepass")


@st.composite
def resigned(draw: st.DrawFn, event: Any) -> Any:
    """A damaged HTTP event with fresh, valid Standard Webhooks headers for whatever body it now has,
    most of the time; other events, and one HTTP event in four, are left as they are."""
    if not (isinstance(event, dict) and isinstance(event.get("headers"), dict) and draw(st.integers(0, 3))):
        return event
    body = _body_bytes(event)
    if body is None:
        return event
    with contextlib.suppress(UnicodeDecodeError):  # a body that is not UTF-8 cannot be signed
        event["headers"].update(sign_webhook(DEMO_WEBHOOK_SECRET, body))
    return event


def handler_events(samples: dict[str, Any]) -> st.SearchStrategy[bytes]:
    """Mostly mutated samples that still parse as JSON: they reach validation and CAS."""
    return event_bytes(samples, finish=resigned, mutated_share=10)


def assert_well_formed_body(result: dict[str, Any]) -> None:
    """The body is the document its Content-Type names: JSON, or XML that an XML parser reads."""
    body = result.get("body")
    assert isinstance(body, str)
    content_type = result["headers"]["Content-Type"]
    if content_type.startswith("application/xml"):
        ElementTree.fromstring(body.encode("utf-8"))
    else:
        assert content_type.startswith("application/json"), content_type
        assert isinstance(json.loads(body), dict)


#: Log events that mean a bug here: the emulator and the file sink are healthy, so nothing may fail inside.
BUG_EVENTS = ("internal.error", "unwritable", "sink.failed")


def run_handler(raw: bytes, log_lines: _Collect) -> None:
    index = load_index()
    try:
        kind: type | None = type(classify(raw))
    except RelayError:
        kind = None
    log_lines.events.clear()
    try:
        result = index.handler(raw, make_context())
    except TransientFailure:
        result = None
    bugs = [e for e in log_lines.events if e.get("event") in BUG_EVENTS]
    assert not bugs, f"the handler hit a bug: {bugs}"
    if kind is HttpInvocation:
        assert isinstance(result, dict) and isinstance(result.get("statusCode"), int), result
        assert result["statusCode"] < 500, result
        assert_well_formed_body(result)
    elif kind is DirectInvocation and result is not None:
        assert isinstance(result, dict) and result.get("Status", 200) < 500, result
    elif kind is BatchInvocation and result is not None:
        assert isinstance(result, dict) and result["Records"] == len(result["Results"]), result
        assert all(r.get("Status", 200) < 500 for r in result["Results"]), result
    elif kind is None:
        assert isinstance(result, dict) and result.get("Code") == "MalformedRequest", result


#: The placeholder signature of the HTTP samples in events/; ``signed_now`` replaces it with a real one.
PLACEHOLDER_SIGNATURE = "v1,signed-at-invoke"


def sample_bytes(name: str) -> bytes:
    return json.dumps(EVENTS[name]).encode()


def signed_now(raw: bytes) -> bytes:
    """An HTTP event that still carries the samples' placeholder signature, signed now: an ``@example`` is
    built when the module is collected, and a signature made then could be stale when the test runs."""
    try:
        event = json.loads(raw)
    except (ValueError, RecursionError):
        return raw
    headers = event.get("headers") if isinstance(event, dict) else None
    if not (isinstance(headers, dict) and headers.get("webhook-signature") == PLACEHOLDER_SIGNATURE):
        return raw
    body = _body_bytes(event)
    if body is not None:
        headers.update(sign_webhook(DEMO_WEBHOOK_SECRET, body))
    return json.dumps(event).encode()


@given(st.binary(max_size=128))
@bounded(40)
@example(b"")
@example(b"\xff")
@example(b"[" * 100_000)
def test_handler_answers_arbitrary_bytes(embedded_module, log_lines, raw):
    run_handler(raw, log_lines)


@given(handler_events(HTTP_EVENTS))
@bounded(80)
@example(sample_bytes("http-order-json.json"))
@example(sample_bytes("http-order-csr.json"))
@example(sample_bytes("http-order-query-xml.json").replace(b'"Format": "XML"', b'"Format": "XML", "Do\\u0000": "1"'))
@example(sample_bytes("http-health.json").replace(b'"/health"', b'"/\\ud800"'))
def test_handler_answers_damaged_http_events_below_500(embedded_module, log_lines, raw):
    run_handler(signed_now(raw), log_lines)


@given(handler_events(DIRECT_EVENTS))
@bounded(50)
@example(json.dumps({"Domain": "www.example.com", "Domian\ud800": "x"}).encode())
def test_handler_answers_damaged_direct_invocations(embedded_module, log_lines, raw):
    run_handler(raw, log_lines)


@given(handler_events(QUEUE_EVENTS))
@bounded(60)
def test_handler_answers_damaged_queue_events(embedded_module, log_lines, raw):
    run_handler(raw, log_lines)


def test_a_json_error_body_echoing_a_lone_surrogate_is_utf8_text(embedded_module):
    body = '{"Domain": "www.example.com", "Domian\\ud800": "x"}'
    event = json.loads(sample_bytes("http-order-json.json"))
    event["body"] = body
    result = load_index().handler(signed_now(json.dumps(event).encode()), make_context())
    assert result["statusCode"] == 400
    result["body"].encode("utf-8")
