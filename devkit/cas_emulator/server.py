"""The HTTP(S) front end: the request handler, and one request's way from the socket to the answer.

The order of the steps is the contract the tests rely on, so it is written out once, in
``Exchange.run``: read the request; take a drop or latency fault (before anything is checked); check
the route, the signature and the flow control; take an injected error; run the action (the commit);
then take an after-commit fault or answer. Every request is recorded, whatever its fate, except one
whose body cannot be framed (``devkit.loopback.read_body``: a chunked body is read, both or a bad
``Content-Length`` is refused), which is answered and its connection closed.
"""

from __future__ import annotations

import contextlib
import json
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from devkit import acs3
from devkit.loopback import BodyError, DispatchingHandler, read_body

from .actions import Call
from .faults import AfterCommit, CallNames
from .protocol import (
    API_VERSION,
    HOST_ID,
    MAX_BODY_BYTES,
    OUTCOME_CLOSED_AFTER_COMMIT,
    OUTCOME_DELAYED_AFTER_COMMIT,
    OUTCOME_DROPPED,
    OUTCOME_ERROR_AFTER_COMMIT,
    OUTCOME_OK,
    OUTCOME_TLS_ERROR_AFTER_COMMIT,
    SUPPORTED_ACTIONS,
    THROTTLING_CODE,
    THROTTLING_MESSAGE,
    ApiError,
    new_request_id,
)
from .signature import SignatureRejected, redact_headers
from .tls import break_stream, raw_shutdown

if TYPE_CHECKING:
    from .emulator import CasEmulator


#: The code of a body that cannot be framed, per status. What the real gateway answers is UNCONFIRMED.
FRAMING_CODES = {400: "InvalidParameter", 413: "RequestEntityTooLarge", 501: "NotImplemented"}


class CasRequestHandler(DispatchingHandler):
    """One connection: the deferred TLS handshake, keep-alive with idle tracking, then ``Exchange``."""

    protocol_version = "HTTP/1.1"  # the SDK pools keep-alive connections; so do we
    server_version = "CasEmulator/1.0"
    timeout = 60  # drop idle keep-alive connections eventually
    tcp_nodelay = True  # "11 calls in one second" must not depend on Nagle's algorithm

    @property
    def emulator(self) -> CasEmulator:
        return cast("CasEmulator", self.loopback)

    def setup(self) -> None:
        # In HTTPS mode the handshake runs here, in the request thread (the listening socket defers it),
        # so that an injected or genuine handshake failure ends this connection only.
        self.tls_failed = False
        if isinstance(self.request, ssl.SSLSocket):
            self.tls_failed = not self.emulator._handshake(self.request)
        super().setup()

    def handle(self) -> None:
        if self.tls_failed:
            return
        with contextlib.suppress(ConnectionError, TimeoutError, ssl.SSLError):
            super().handle()

    def handle_one_request(self) -> None:
        # Idle while waiting for the next request line: ``close_idle_connections`` may cut it then. A
        # kept-alive connection that comes back to idle while a handshake fault is queued closes itself,
        # so that the client's next call needs a new connection (and with it a handshake).
        served = getattr(self, "served", 0)
        if not self.emulator._set_idle(self.connection, idle=True, kept_alive=served > 0):
            self.close_connection = True
            raw_shutdown(self.connection)
            return
        try:
            super().handle_one_request()  # parse_request marks the connection busy, the answer idle again
        finally:
            self.served = served + 1

    def parse_request(self) -> bool:
        self.emulator._set_idle(self.connection, idle=False)
        return super().parse_request()

    def finish(self) -> None:
        self.emulator._set_idle(self.connection, idle=False)
        with contextlib.suppress(OSError):
            super().finish()


@dataclass(frozen=True)
class WireRequest:
    """A request as read off the wire: the parameters merged from the query and a form body."""

    method: str
    raw_path: str
    raw_query: str
    body: bytes
    headers: list[tuple[str, str]]
    params: dict[str, str]
    action: str
    version: str


def check_route(method: str, path: str, action: str, version: str) -> None:
    """The gateway's checks before the signature: method, path and action, API version."""
    if method not in ("GET", "POST"):
        raise ApiError(400, "UnsupportedHTTPMethod", f"Specified http method {method} is not supported.")
    if path not in ("/", "") or action not in SUPPORTED_ACTIONS:
        raise ApiError(404, "InvalidApi.NotFound",
                       "Specified api is not found, please check your url and method.")
    if version != API_VERSION:
        raise ApiError(400, "InvalidVersion", f"Specified parameter Version {version!r} is not valid.")


class Exchange:
    """One request and its answer; ``access_key_id`` is known once the signature check got that far.

    Another loopback double of an Alibaba Cloud RPC API (``devkit.alidns_emulator``) reuses this pipeline
    whole, so that its signature, nonce, flow-control and fault behaviour is CAS's by construction: it sets
    ``host_id`` and ``product`` (the error body's ``HostId`` and ``Recommend``) and overrides ``route``.
    """

    request: WireRequest  # set by ``run`` once the request is read
    host_id = HOST_ID
    product = "cas"

    def __init__(self, emulator: CasEmulator, handler: CasRequestHandler) -> None:
        self.emu = emulator
        self.handler = handler
        self.received_at = emulator._clock()
        self.request_id = new_request_id()
        self.access_key_id: str | None = None
        self.extra_headers: dict[str, str] = {}

    def run(self) -> None:
        request = self.read()
        if request is None:
            return
        self.request = request
        names = CallNames(request.params, self.emu._instance_names)
        drop, latency = self.emu._take_drop_and_latency(request.action, names)
        if drop:
            self.record(OUTCOME_DROPPED, None)
            self.handler.close_connection = True
            return
        if latency > 0:
            self.emu._stopping.wait(latency / 1000.0)
        try:
            result = self.commit(names)
            after = self.emu._take_after_commit(request.action, names)
        except ApiError as err:
            self.record(err.code, err.status)
            self.send_error(err, self.extra_headers)
            return
        except Exception as exc:  # a bug in the double must still look like a server error, not a hang
            internal = ApiError(500, "InternalError", "The request processing has failed due to some "
                                                      f"unknown error ({type(exc).__name__}).")
            self.record(internal.code, internal.status)
            self.send_error(internal)
            return
        self.answer({"RequestId": self.request_id, **result}, after)

    def read(self) -> WireRequest | None:
        """The request, or None when its body could not be framed (answered, connection closing)."""
        handler = self.handler
        raw_path, _, raw_query = handler.path.partition("?")
        try:
            body = read_body(handler, MAX_BODY_BYTES)
        except BodyError as err:
            handler.close_connection = True
            self.send_error(ApiError(err.status, FRAMING_CODES.get(err.status, "InvalidParameter"), err.message))
            return None
        header_items = list(handler.headers.items())
        folded = acs3.fold_headers(header_items)
        params = dict(acs3.parse_wire_query(raw_query))
        if folded.get("content-type", "").startswith("application/x-www-form-urlencoded") and body:
            params.update(acs3.parse_wire_query(body.decode("utf-8", "replace")))
        if "SecurityToken" in params:  # an RPC-signed STS call: the token must reach no record or diff
            params["SecurityToken"] = "<redacted>"
        return WireRequest(method=handler.command, raw_path=raw_path, raw_query=raw_query, body=body,
                           headers=header_items, params=params,
                           action=folded.get("x-acs-action") or params.get("Action", ""),
                           version=folded.get("x-acs-version") or params.get("Version", ""))

    def commit(self, names: CallNames) -> dict[str, Any]:
        """Route, signature, flow control and injected errors, then the action itself."""
        request, emu = self.request, self.emu
        self.route(request)
        try:
            self.access_key_id = emu._auth.authenticate(
                method=request.method, path=request.raw_path, raw_query=request.raw_query,
                headers=request.headers, body=request.body, now=emu._clock())
        except SignatureRejected as err:
            self.access_key_id = err.access_key_id
            raise
        if not emu._limiter.admit(self.access_key_id, request.action, time.monotonic()):
            if emu._throttle_retry_after_ms:
                self.extra_headers["x-acs-retry-after"] = str(emu._throttle_retry_after_ms)
            raise ApiError(400, THROTTLING_CODE, THROTTLING_MESSAGE)
        injected = emu._take_failure(request.action, names)
        if injected is not None:
            raise ApiError(injected.status, injected.code, injected.message)
        call = Call(self.access_key_id, self.request_id, int(emu._clock() * 1000))
        return emu._handlers[request.action](request.params, call)

    def route(self, request: WireRequest) -> None:
        """The gateway's checks before the signature (``check_route``); a subclass names its own API."""
        check_route(request.method, request.raw_path, request.action, request.version)

    def answer(self, payload: dict[str, Any], after: AfterCommit | None) -> None:
        """Answer a committed call, unless an after-commit fault says to break, fail, cut or delay it."""
        handler = self.handler
        if after is not None and after.tls is not None:
            self.record(OUTCOME_TLS_ERROR_AFTER_COMMIT, None)
            handler.close_connection = True
            break_stream(handler.connection, after.tls)
            return
        if after is not None and after.error is not None:
            reply = after.error
            self.record(OUTCOME_ERROR_AFTER_COMMIT, reply.status)
            if reply.raw_body is not None:
                self.send_bytes(reply.status, reply.raw_body.encode("utf-8"), "text/html;charset=utf-8",
                                dict(reply.headers))
            else:
                self.send_error(ApiError(reply.status, reply.code, reply.message), dict(reply.headers))
            return
        if after is not None and after.delay_seconds is None:
            self.record(OUTCOME_CLOSED_AFTER_COMMIT, None)
            handler.close_connection = True
            return
        if after is not None and after.delay_seconds is not None:
            self.record(OUTCOME_DELAYED_AFTER_COMMIT, 200)
            if self.emu._stopping.wait(after.delay_seconds):
                handler.close_connection = True
                return
        else:
            self.record(OUTCOME_OK, 200)
        self.send_json(200, payload)

    def record(self, outcome: str, status: int | None) -> None:
        request = self.request
        self.emu._record(action=request.action, access_key_id=self.access_key_id, outcome=outcome, status=status,
                         request_id=self.request_id, params=request.params,
                         headers=redact_headers(request.headers), received_at=self.received_at)

    def send_error(self, err: ApiError, extra_headers: Mapping[str, str] | None = None) -> None:
        request_id = self.request_id
        body = {
            "RequestId": request_id,
            "HostId": self.host_id,
            "Code": err.code,
            "Message": err.message,
            "Recommend": f"https://api.aliyun.com/troubleshoot?q={err.code}&product={self.product}&requestId={request_id}",
        }
        self.send_json(err.status, body, extra_headers)

    def send_json(self, status: int, payload: Mapping[str, Any],
                  extra_headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        self.send_bytes(status, data, "application/json;charset=utf-8", extra_headers)

    def send_bytes(self, status: int, data: bytes, content_type: str,
                   extra_headers: Mapping[str, str] | None = None) -> None:
        handler = self.handler
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(data)))
            handler.send_header("x-acs-request-id", self.request_id)
            for name, value in (extra_headers or {}).items():
                handler.send_header(name, value)
            handler.end_headers()
            self.emu._write_answer(handler, data)
        except OSError:  # the client gave up (e.g. read timeout during a delayed reply)
            handler.close_connection = True
