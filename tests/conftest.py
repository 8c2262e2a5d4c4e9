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
def listing_lags(embedded: Embedded, monkeypatch: pytest.MonkeyPatch) -> None:
    """CAS as it may be in production: a new order may not be listed yet, so an empty search proves nothing
    (``RECONCILE_LIST_LAG_SECONDS`` is 0 in the embedded default, whose emulator lists at once)."""
    import index

    monkeypatch.setenv("RECONCILE_LIST_LAG_SECONDS", "300")
    index.reset_for_tests()


@pytest.fixture()
def client(embedded: Embedded) -> HttpClient:
    return HttpClient(embedded)


def invoke_direct(order: Mapping[str, Any]) -> Any:
    import index  # imported after the embedded fixture set the environment

    return index.handler(json.dumps(order).encode(), make_context())


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """A real redis-server: ``CASRELAY_TEST_REDIS_URL`` when CI started one, else one of our own on a free port."""
    import os
    import shutil
    import subprocess
    import time

    url = os.environ.get("CASRELAY_TEST_REDIS_URL")
    if url:
        yield url
        return
    binary = shutil.which("redis-server")
    assert binary, "redis-server is needed for the Redis ledger tests: apt-get install redis-server"
    port = _free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis

    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture()
def redis_url(redis_server: str) -> str:
    """A clean database for each test."""
    import redis

    redis.Redis.from_url(redis_server).flushdb()
    return redis_server


@pytest.fixture()
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any connection that is not to loopback: the push tests must never reach a real host."""
    from tests.sink_fixtures import forbid_non_loopback

    forbid_non_loopback(monkeypatch)


@pytest.fixture()
def receiver() -> Iterator[Any]:
    """A Standard Webhooks callback receiver on loopback, verifying with the sink tests' secret."""
    from devkit.callback_receiver import CallbackReceiver
    from tests.sink_fixtures import CALLBACK_SECRET

    with CallbackReceiver(CALLBACK_SECRET) as r:
        yield r
