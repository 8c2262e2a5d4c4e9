"""Every HTTP trigger event is answered as HTTP, even one that cannot be read.

FC turns a result without ``statusCode`` into HTTP 200 with that result as the body, so a bare
error document would tell the caller that all went well. An event is an HTTP event when its
``version`` is ``v1`` and it has ``requestContext`` or ``rawPath``; when a part of it cannot be read,
the answer is a 400 whose body names that part.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

import index
from devkit.fc_local import http_event, make_context, sign_webhook

BODY = json.dumps({"Domain": "www.example.com"}).encode()


def good_event(secret: str) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", **sign_webhook(secret, BODY)}
    return http_event("POST", "/", {}, headers, BODY)


def _set(path: tuple[str, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def damage(event: dict[str, Any]) -> None:
        target = event
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return damage


DAMAGE = {
    "requestContext is a string": (_set(("requestContext",), "POST /"), "requestContext"),
    "requestContext is an array": (_set(("requestContext",), []), "requestContext"),
    "requestContext.http is a string": (_set(("requestContext", "http"), "POST"), "requestContext.http"),
    "method is a number": (_set(("requestContext", "http", "method"), 1), "requestContext.http.method"),
    "method is an object": (_set(("requestContext", "http", "method"), {"v": "POST"}), "requestContext.http.method"),
    "path is a number": (_set(("requestContext", "http", "path"), 7), "requestContext.http.path"),
    "headers is an array": (_set(("headers",), ["Content-Type: application/json"]), "headers"),
    "headers is a string": (_set(("headers",), "Content-Type: application/json"), "headers"),
    "a header value is a number": (_set(("headers", "content-length"), 17), "headers"),
    "a header value is an object": (_set(("headers", "x-trace"), {"id": 1}), "headers"),
    "a header value is null": (_set(("headers", "x-trace"), None), "headers"),
    "queryParameters is a string": (_set(("queryParameters",), "Format=XML"), "queryParameters"),
    "a query value is a number": (_set(("queryParameters", "Format"), 1), "queryParameters"),
    "a query value is an array of objects": (_set(("queryParameters", "Format"), [{"x": 1}]), "queryParameters"),
    "body is an object": (_set(("body",), {"Domain": "www.example.com"}), "body"),
    "body is a number": (_set(("body",), 12), "body"),
    "body is marked base64 but is not": (lambda e: e.update(isBase64Encoded=True, body="not base64 !"), "body"),
    "isBase64Encoded is a string": (_set(("isBase64Encoded",), "true"), "isBase64Encoded"),
}


def run(event: Any) -> Any:
    raw = event if isinstance(event, bytes) else json.dumps(event).encode()
    return index.handler(raw, make_context())


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_an_unreadable_http_event_is_answered_as_http_400_naming_the_field(embedded, case):
    damage, field = DAMAGE[case]
    event = good_event(embedded.webhook_secret)
    damage(event)
    result = run(event)
    assert isinstance(result, dict) and result["statusCode"] == 400, result
    assert result["headers"]["Content-Type"].startswith("application/json")
    doc = json.loads(result["body"])
    assert doc["Code"] == "MalformedRequest"
    assert [e["Field"] for e in doc["Errors"]] == [field]
    assert field in doc["Message"]
    assert embedded.emulator.orders() == []


def test_an_event_with_only_raw_path_is_an_http_event_too(embedded):
    event = {"version": "v1", "rawPath": "/health", "headers": {}, "queryParameters": {}, "body": ""}
    result = run(event)
    assert result["statusCode"] == 200 and json.loads(result["body"]) == {"Status": "ok"}
    event["rawPath"] = ["/health"]
    result = run(event)
    assert result["statusCode"] == 400
    assert json.loads(result["body"])["Errors"][0]["Field"] == "rawPath"


def test_an_http_event_that_repeats_a_key_is_answered_as_http_400(embedded):
    event = json.dumps(good_event(embedded.webhook_secret))
    raw = event.replace('"body":', '"body": "", "body":', 1).encode()
    result = run(raw)
    assert isinstance(result, dict) and result["statusCode"] == 400, result
    assert json.loads(result["body"])["Errors"][0]["Field"] == "body"
    assert embedded.emulator.orders() == []


def test_what_the_400_says_about_a_damaged_part_never_shows_its_content(embedded):
    event = good_event(embedded.webhook_secret)
    event["headers"]["x-contact"] = {"email": "tom.zhang@example.com"}
    result = run(event)
    assert result["statusCode"] == 400
    assert "tom.zhang" not in result["body"] and "x-contact" not in result["body"]


def test_an_unreadable_http_event_gets_the_http_503_while_the_function_is_not_configured(embedded, monkeypatch):
    monkeypatch.setenv("BATCH_CONCURRENCY", "many")
    index.reset_for_tests()
    event = good_event(embedded.webhook_secret)
    event["requestContext"] = "broken"
    result = run(event)
    assert isinstance(result, dict) and result["statusCode"] == 503, result
    assert "BATCH_CONCURRENCY" in json.loads(result["body"])["Message"]


def test_a_readable_http_event_still_places_its_order(embedded):
    result = run(good_event(embedded.webhook_secret))
    assert result["statusCode"] == 200, result["body"]
    assert len(embedded.emulator.orders()) == 1
