"""A loopback receiver for casrelay's signed order callbacks (Standard Webhooks).

Tests and local runs point a ``https://`` / ``http://`` sink at it. It verifies every request the way
a careful receiver would (the ``standardwebhooks`` package: HMAC, 5-minute tolerance, constant-time
comparison), answers 401 to a bad signature, and records every attempt, so a test can prove that a
retry carries the same ``webhook-id`` and that a redirect was not followed. Faults (5xx, 429 with
``Retry-After``, redirects, latency) are queued per request because a real receiver cannot be made
to fail on demand. Faults can be aimed at the messages that contain a given text (``fail_matching``,
``set_down``), so that a run can fail, or keep failing until told otherwise, the pushes for one order
while every other order goes through.

It speaks HTTP/1.1 with keep-alive and reads a chunked body (``devkit.loopback.read_body``), as real
receivers do for senders that pool connections or stream. Optional TLS (``ssl_context``) lets a test
check that the sink connects to a pinned address while SNI and certificate verification still use the
host name; the SNI names seen are recorded.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import ssl
import sys
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from devkit.loopback import (
    BodyError,
    DispatchingHandler,
    LoopbackHTTPServer,
    LoopbackServer,
    read_body,
    stop_on_sigterm,
)

#: Far above any order message; a larger body is refused (413) before it is read.
MAX_BODY_BYTES = 1 << 20


@dataclass(frozen=True)
class Attempt:
    """One request as received, and what the receiver answered."""

    webhook_id: str | None
    timestamp: str | None
    signature: str | None
    body: bytes
    path: str
    host: str | None
    content_type: str | None
    status: int
    verified: bool
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Fault:
    status: int
    headers: dict[str, str]
    #: Only requests whose body contains this text take the fault; None: any request.
    match: str | None = None


class _Handler(DispatchingHandler):
    # HTTP/1.1 with keep-alive, as real receivers (and the senders that pool connections) speak it; the
    # connections are tracked so that ``stop()`` can cut the idle ones.
    protocol_version = "HTTP/1.1"
    server_version = "CallbackReceiver/1.0"
    timeout = 10

    @property
    def receiver(self) -> CallbackReceiver:
        return cast(CallbackReceiver, self.loopback)

    def setup(self) -> None:
        # TLS handshakes run here, in the request thread, so a refused handshake (the test that proves
        # certificate checking) ends this connection quietly instead of printing a server traceback.
        self.tls_failed = False
        if isinstance(self.request, ssl.SSLSocket):
            try:
                self.request.settimeout(self.timeout)
                self.request.do_handshake()
            except (ssl.SSLError, OSError):
                self.tls_failed = True
        super().setup()

    def handle(self) -> None:
        if self.tls_failed:
            self.receiver._count_tls_failure()
            return
        with contextlib.suppress(ConnectionError, TimeoutError, ssl.SSLError):
            super().handle()

    def _reply(self, status: int, body: dict[str, Any] | None, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)


class CallbackReceiver(LoopbackServer):
    """Start it, give ``url`` to a callback sink, then inspect ``attempts()`` / ``deliveries()``."""

    name = "callback-receiver"
    handler_class = _Handler
    not_running_message = "the receiver is not running"

    def __init__(self, secrets: str | Iterable[str], *, host: str = "127.0.0.1", port: int = 0,
                 ssl_context: ssl.SSLContext | None = None, success_status: int = 204,
                 verbose: bool = False) -> None:
        super().__init__(host=host, port=port, verbose=verbose)
        secret_list = [secrets] if isinstance(secrets, str) else list(secrets)
        self._hooks = [Webhook(s) for s in secret_list]
        self._ssl_context = ssl_context
        self.success_status = success_status
        self._lock = threading.Lock()
        self._attempts: list[Attempt] = []
        self._faults: deque[_Fault] = deque()
        self._down: dict[str, int] = {}  # body substring -> status, until cleared
        self._latency_s = 0.0
        self._tls_failures = 0
        self._sni: list[str | None] = []
        if ssl_context is not None:
            ssl_context.sni_callback = self._record_sni

    # ------------------------------------------------------------------ lifecycle

    def _make_server(self) -> LoopbackHTTPServer:
        """Wrap the listening socket in TLS when asked; the handshake is deferred to the request thread
        (see ``_Handler.setup``) so a refused handshake cannot stall or crash the accept loop."""
        server = super()._make_server()
        if self._ssl_context is not None:
            server.socket = self._ssl_context.wrap_socket(server.socket, server_side=True,
                                                          do_handshake_on_connect=False)
        return server

    def url(self, path: str = "/hooks/cas", host: str | None = None) -> str:
        """The callback URL; ``host`` replaces the address (e.g. a name an injected resolver knows)."""
        scheme = "https" if self._ssl_context is not None else "http"
        return f"{scheme}://{host or self._host}:{self.port}{path}"

    # ------------------------------------------------------------------ faults

    def fail_next(self, count: int = 1, status: int = 500, *, retry_after: str | None = None,
                  headers: dict[str, str] | None = None) -> None:
        """Answer the next ``count`` correctly signed requests with ``status`` (and ``Retry-After``)."""
        extra = dict(headers or {})
        if retry_after is not None:
            extra["Retry-After"] = retry_after
        with self._lock:
            self._faults.extend(_Fault(status, extra) for _ in range(count))

    def redirect_next(self, count: int = 1, location: str = "http://127.0.0.1:9/elsewhere", status: int = 307) -> None:
        self.fail_next(count, status, headers={"Location": location})

    def fail_matching(self, substring: str, count: int = 1, status: int = 503, *,
                      retry_after: str | None = None) -> None:
        """Answer the next ``count`` correctly signed requests whose body contains ``substring`` (a domain,
        an OrderId, a message id) with ``status``; other requests pass these faults by."""
        if not substring:
            raise ValueError("substring must not be empty")
        extra = {"Retry-After": retry_after} if retry_after is not None else {}
        with self._lock:
            self._faults.extend(_Fault(status, dict(extra), substring) for _ in range(count))

    def set_down(self, substring: str, status: int = 503) -> None:
        """Answer ``status`` to every correctly signed request whose body contains ``substring``, until
        ``clear_down``: the receiver is down for those messages and up for every other one."""
        if not substring:
            raise ValueError("substring must not be empty")
        with self._lock:
            self._down[substring] = status

    def clear_down(self, substring: str | None = None) -> None:
        """Bring the receiver back up for ``substring`` (or for everything)."""
        with self._lock:
            if substring is None:
                self._down.clear()
            else:
                self._down.pop(substring, None)

    def clear_faults(self, substring: str | None = None) -> None:
        """Drop queued faults: all of them (and every down mode), or those aimed at ``substring``."""
        with self._lock:
            if substring is None:
                self._faults.clear()
                self._down.clear()
            else:
                self._faults = deque(f for f in self._faults if f.match != substring)

    def set_latency(self, seconds: float) -> None:
        with self._lock:
            self._latency_s = seconds

    # ------------------------------------------------------------------ inspection

    def attempts(self) -> list[Attempt]:
        with self._lock:
            return list(self._attempts)

    def deliveries(self) -> list[Attempt]:
        """Attempts that were verified and answered 2xx."""
        return [a for a in self.attempts() if a.verified and 200 <= a.status < 300]

    def delivered_ids(self) -> list[str]:
        """Distinct webhook-ids of successful deliveries, in order: what a deduplicating receiver keeps."""
        return list(dict.fromkeys(a.webhook_id or "" for a in self.deliveries()))

    @property
    def tls_failures(self) -> int:
        with self._lock:
            return self._tls_failures

    @property
    def sni_names(self) -> list[str | None]:
        with self._lock:
            return list(self._sni)

    def reset(self) -> None:
        with self._lock:
            self._attempts.clear()
            self._faults.clear()
            self._down.clear()
            self._latency_s = 0.0
            self._tls_failures = 0
            self._sni.clear()

    # ------------------------------------------------------------------ serving

    def _record_sni(self, sslobj: ssl.SSLObject, name: str | None, context: ssl.SSLContext) -> None:
        with self._lock:
            self._sni.append(name)

    def _count_tls_failure(self) -> None:
        with self._lock:
            self._tls_failures += 1

    def _serve(self, handler: _Handler) -> None:
        try:
            body = read_body(handler, MAX_BODY_BYTES)
        except BodyError as err:  # cannot be framed: answered, and the connection closed (not an attempt)
            handler.close_connection = True
            handler._reply(err.status, {"error": err.message})
            return
        if handler.command != "POST":
            handler._reply(405, {"error": "callbacks are POSTed"}, {"Allow": "POST"})
            return
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._lock:
            latency = self._latency_s
        if latency and self._stopping.wait(latency):
            return

        status, reply, extra = self._decide(headers, body)
        attempt = Attempt(
            webhook_id=headers.get("webhook-id"), timestamp=headers.get("webhook-timestamp"),
            signature=headers.get("webhook-signature"), body=body, path=handler.path, host=headers.get("host"),
            content_type=headers.get("content-type"), status=status, verified=status != 401, headers=headers)
        with self._lock:
            self._attempts.append(attempt)
        handler._reply(status, reply, extra)

    def _decide(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
        reason = self._verify(headers, body)
        if reason is not None:
            return 401, {"error": reason}, {"WWW-Authenticate": 'StandardWebhooks realm="callback-receiver"'}
        if (headers.get("content-type") or "").split(";")[0].strip().lower() != "application/json":
            return 415, {"error": "Content-Type must be application/json"}, {}
        fault = self._take_fault(body)
        if fault is not None:
            return fault.status, {"error": "injected fault"}, fault.headers
        try:
            json.loads(body)
        except ValueError:
            return 400, {"error": "the body is not JSON"}, {}
        return self.success_status, None, {}

    def _take_fault(self, body: bytes) -> _Fault | None:
        """Down for this body first, then the first queued fault that matches it (untargeted ones match all)."""
        text = body.decode("utf-8", "replace")
        with self._lock:
            for substring, status in self._down.items():
                if substring in text:
                    return _Fault(status, {}, substring)
            for fault in self._faults:
                if fault.match is None or fault.match in text:
                    self._faults.remove(fault)
                    return fault
        return None

    def _verify(self, headers: dict[str, str], body: bytes) -> str | None:
        subset = {k: headers.get(k, "") for k in ("webhook-id", "webhook-timestamp", "webhook-signature")}
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return "the body is not UTF-8"
        reason = "no secret configured"
        for hook in self._hooks:
            try:
                hook.verify(text, subset, json_parse=False)
                return None
            except (WebhookVerificationError, ValueError) as exc:
                reason = str(exc) or type(exc).__name__
        return reason


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Receive and verify casrelay's signed order callbacks.")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--secret", required=True, help="the whsec_ secret the sender signs with")
    args = parser.parse_args(argv)
    stop_on_sigterm()
    receiver = CallbackReceiver(args.secret, port=args.port, verbose=True).start()
    print(f"callback receiver on {receiver.url()} (any path); Ctrl-C to stop", flush=True)
    seen = 0

    def show_new_attempts() -> None:
        nonlocal seen
        attempts = receiver.attempts()
        for a in attempts[seen:]:
            print(f"{a.status} webhook-id={a.webhook_id} {a.body.decode('utf-8', 'replace')}", flush=True)
        seen = len(attempts)

    receiver.serve_until_interrupted(show_new_attempts, every=0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
