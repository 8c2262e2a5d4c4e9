"""Shared fixtures: the function on the embedded default (the CAS emulator on loopback)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from devkit.embedded import Embedded, embedded_default
from devkit.fc_local import call_handler, http_event, make_context, sign_webhook


@pytest.fixture()
def embedded() -> Iterator[Embedded]:
    with embedded_default() as emb:
        yield emb


class HttpClient:
    """Builds FC3 HTTP events and calls ``index.handler`` with them, signed unless told otherwise."""

    def __init__(self, emb: Embedded) -> None:
        self.emb = emb

    def request(self, body: bytes | str | Mapping[str, Any] | None = None, *, method: str = "POST",
                path: str = "/", query: Mapping[str, str] | None = None,
                headers: Mapping[str, str] | None = None, signed: bool = True,
                secret: str | None = None) -> dict[str, Any]:
        if isinstance(body, Mapping):
            raw = json.dumps(body).encode()
            base_headers = {"Content-Type": "application/json"}
        else:
            raw = body.encode() if isinstance(body, str) else (body or b"")
            base_headers = {}
        all_headers = {**base_headers, **(headers or {})}
        if signed:
            all_headers.update(sign_webhook(secret or self.emb.webhook_secret, raw))
        event = http_event(method, path, query or {}, all_headers, raw)
        result = call_handler(json.dumps(event).encode())
        assert isinstance(result, dict) and "statusCode" in result
        return result

    @staticmethod
    def json(result: Mapping[str, Any]) -> dict[str, Any]:
        data = json.loads(result["body"])
        assert isinstance(data, dict)
        return data


@pytest.fixture()
def client(embedded: Embedded) -> HttpClient:
    return HttpClient(embedded)


def invoke_direct(order: Mapping[str, Any]) -> Any:
    import index  # imported after the embedded fixture set the environment

    return index.handler(json.dumps(order).encode(), make_context())
