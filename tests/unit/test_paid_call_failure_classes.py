"""Promise: never two paid orders. Only proof that CAS did not act allows the paid call to be resent.

Each failure is produced for real at its stage, against a loopback server that misbehaves on cue,
through the real SDK (darabonba, requests, urllib3, ssl): before a byte of the request left (refused
connect, failed name resolution, connect timeout, failed TLS handshake), and after it may have left
(a TLS error while answering, a reset, a read timeout, any 5xx, a gateway page, a code on no list).
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Iterator

import pytest
import trustme

from casrelay.cas.credentials import Credentials
from casrelay.cas.errors import resend_is_safe
from casrelay.config import Settings
from casrelay.errors import CasFailed, CasOutcomeUnknown, CasRefused, CasThrottled, CasUnavailable, RelayError
from casrelay.order import Order
from casrelay.ordering import OrderingBackend, open_backend

CREDS = Credentials("LTAI-test", "test-secret")
ORDER = Order(product_code="symantec-free-1-free", domains=("www.example.com",), domain_param="www.example.com",
              validate_type="DNS")


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    conn.settimeout(5)
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


class RawServer:
    """Accepts connections on loopback and hands each one to ``behave``; counts requests it read."""

    def __init__(self, behave: Callable[[socket.socket, RawServer], None],
                 tls: ssl.SSLContext | None = None) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.behave = behave
        self.tls = tls
        self.requests_read = 0
        self._stop = False
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError, ssl.SSLError):
            self.behave(conn, self)
        with contextlib.suppress(OSError):
            conn.close()

    def read(self, conn: socket.socket) -> bytes:
        data = _read_request(conn)
        if data:
            self.requests_read += 1
        return data

    def close(self) -> None:
        self._stop = True
        self.sock.close()


@pytest.fixture()
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture()
def ca_file(ca: trustme.CA, tmp_path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def _server_context(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    return ctx


def _gateway(port: int, protocol: str = "http", ca_file: str | None = None) -> OrderingBackend:
    return open_backend(Settings(cas_endpoint=f"127.0.0.1:{port}", cas_protocol=protocol, cas_ca_file=ca_file,
                               cas_connect_timeout_ms=400, cas_read_timeout_ms=600, cas_max_qps=0))


def _place(gateway: OrderingBackend) -> RelayError:
    with pytest.raises(RelayError) as info:
        gateway.place(ORDER, CREDS)
    return info.value


@contextlib.contextmanager
def server(behave: Callable[[socket.socket, RawServer], None], tls: ssl.SSLContext | None = None
           ) -> Iterator[RawServer]:
    srv = RawServer(behave, tls)
    try:
        yield srv
    finally:
        srv.close()


def _answer(status: int, body: bytes, content_type: str = "application/json;charset=utf-8"
            ) -> Callable[[socket.socket, RawServer], None]:
    def behave(conn: socket.socket, srv: RawServer) -> None:
        srv.read(conn)
        conn.sendall(f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                     "Connection: close\r\n\r\n".encode() + body)
    return behave


def _cas_error(status: int, code: str) -> Callable[[socket.socket, RawServer], None]:
    body = json.dumps({"RequestId": "R-1", "HostId": "cas.aliyuncs.com", "Code": code, "Message": "m"}).encode()
    return _answer(status, body)


# --- before a byte left: CAS did not act, a resend is safe ------------------------------------------


def test_a_refused_connection_proves_nothing_was_sent():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    err = _place(_gateway(port))
    assert isinstance(err, CasUnavailable) and resend_is_safe(err)


def test_a_failed_name_resolution_proves_nothing_was_sent(monkeypatch):
    def no_such_host(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)  # the real resolver would leave loopback
    gateway = open_backend(Settings(cas_endpoint="cas.example.com", cas_protocol="https", cas_max_qps=0,
                                  cas_connect_timeout_ms=400, cas_read_timeout_ms=600))
    err = _place(gateway)
    assert isinstance(err, CasUnavailable) and resend_is_safe(err)


def test_a_connect_timeout_proves_nothing_was_sent():
    # A listening socket whose accept queue is full: the kernel drops further SYNs, so connect times out.
    sink = socket.socket()
    sink.bind(("127.0.0.1", 0))
    sink.listen(0)
    port = sink.getsockname()[1]
    fillers = []
    for _ in range(8):
        s = socket.socket()
        s.setblocking(False)
        with contextlib.suppress(BlockingIOError, OSError):
            s.connect(("127.0.0.1", port))
        fillers.append(s)
    try:
        err = _place(_gateway(port))
    finally:
        for s in fillers:
            s.close()
        sink.close()
    assert isinstance(err, CasUnavailable) and resend_is_safe(err)


def test_a_tls_handshake_refused_for_an_untrusted_certificate_proves_nothing_was_sent(ca):
    other = trustme.CA()  # the client trusts the system store only, not this test CA

    def behave(conn: socket.socket, srv: RawServer) -> None:
        tls = _server_context(other).wrap_socket(conn, server_side=True)
        srv.read(tls)

    with server(behave) as srv:
        err = _place(_gateway(srv.port, "https"))
    assert srv.requests_read == 0
    assert isinstance(err, CasUnavailable) and resend_is_safe(err)


def test_a_server_that_speaks_no_tls_fails_the_handshake_and_proves_nothing_was_sent(ca_file):
    def behave(conn: socket.socket, srv: RawServer) -> None:
        conn.recv(1024)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    with server(behave) as srv:
        err = _place(_gateway(srv.port, "https", ca_file))
    assert isinstance(err, CasUnavailable)


# --- after the request may have left: unknown, never resent -----------------------------------------


def test_a_tls_error_after_the_request_was_sent_leaves_the_outcome_unknown(ca, ca_file):
    def behave(conn: socket.socket, srv: RawServer) -> None:
        tls = _server_context(ca).wrap_socket(conn, server_side=True)
        srv.read(tls)
        conn.sendall(b"\x17\x03\x03\x00\x10garbage-not-tls")  # a broken record on the raw socket

    with server(behave) as srv:
        err = _place(_gateway(srv.port, "https", ca_file))
    assert srv.requests_read == 1
    assert isinstance(err, CasOutcomeUnknown) and not resend_is_safe(err)


def test_a_tls_stream_cut_without_an_answer_leaves_the_outcome_unknown(ca, ca_file):
    def behave(conn: socket.socket, srv: RawServer) -> None:
        tls = _server_context(ca).wrap_socket(conn, server_side=True)
        srv.read(tls)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()  # RST under the TLS session

    with server(behave) as srv:
        err = _place(_gateway(srv.port, "https", ca_file))
    assert srv.requests_read == 1
    assert isinstance(err, CasOutcomeUnknown)


def test_a_reset_after_the_request_was_read_leaves_the_outcome_unknown():
    def behave(conn: socket.socket, srv: RawServer) -> None:
        srv.read(conn)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()

    with server(behave) as srv:
        err = _place(_gateway(srv.port))
    assert srv.requests_read == 1
    assert isinstance(err, CasOutcomeUnknown) and not resend_is_safe(err)


def test_a_connection_closed_without_an_answer_leaves_the_outcome_unknown():
    def behave(conn: socket.socket, srv: RawServer) -> None:
        srv.read(conn)

    with server(behave) as srv:
        err = _place(_gateway(srv.port))
    assert isinstance(err, CasOutcomeUnknown)


def test_a_read_timeout_leaves_the_outcome_unknown():
    release = threading.Event()

    def behave(conn: socket.socket, srv: RawServer) -> None:
        srv.read(conn)
        release.wait(5)

    with server(behave) as srv:
        err = _place(_gateway(srv.port))
        release.set()
    assert isinstance(err, CasOutcomeUnknown) and not resend_is_safe(err)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
@pytest.mark.parametrize("code", ["InternalError", "ServiceUnavailable", "Throttling.User", "NotRemainCount"])
def test_any_5xx_answer_leaves_the_outcome_unknown_whatever_its_code(status, code):
    with server(_cas_error(status, code)) as srv:
        err = _place(_gateway(srv.port))
    assert isinstance(err, CasOutcomeUnknown) and not resend_is_safe(err)


def test_a_gateway_page_that_is_not_json_leaves_the_outcome_unknown():
    with server(_answer(502, b"<html>Bad Gateway</html>", "text/html")) as srv:
        err = _place(_gateway(srv.port))
    assert isinstance(err, CasOutcomeUnknown)


@pytest.mark.parametrize("code", ["DeductQuotaFailed", "CreateOrderFailed", "SomethingNew", "OrderStateError"])
def test_a_4xx_code_on_no_list_leaves_the_outcome_unknown(code):
    with server(_cas_error(400, code)) as srv:
        err = _place(_gateway(srv.port))
    assert isinstance(err, CasOutcomeUnknown)


def test_a_2xx_answer_without_an_order_id_leaves_the_outcome_unknown():
    with server(_answer(200, b'{"RequestId":"R-1"}')) as srv:
        err = _place(_gateway(srv.port))
    assert isinstance(err, CasOutcomeUnknown)


# --- answers on the lists -----------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "cls", "safe"), [
    ("Throttling.User", CasThrottled, True),
    ("Throttling", CasThrottled, True),
    ("SignatureNonceUsed", CasFailed, True),
    ("InvalidTimeStamp.Expired", CasFailed, True),
    ("SignatureDoesNotMatch", CasFailed, False),
    ("InvalidAccessKeyId.NotFound", CasFailed, False),
    ("Forbidden.RAM", CasFailed, False),
    ("NotRemainCount", CasRefused, False),
    ("NotFoundPackage", CasRefused, False),
    ("InvalidParameter.Domain", CasRefused, False),
    ("MissingParameter", CasRefused, False),
])
def test_codes_on_the_lists_prove_cas_refused_before_acting(code, cls, safe):
    with server(_cas_error(400 if not code.startswith("NotR") else 404, code)) as srv:
        err = _place(_gateway(srv.port))
    assert isinstance(err, cls)
    assert resend_is_safe(err) is safe


def _cas_error_with_retry_after(status: int, code: str) -> Callable[[socket.socket, RawServer], None]:
    body = json.dumps({"RequestId": "R-1", "HostId": "cas.aliyuncs.com", "Code": code, "Message": "m"}).encode()

    def behave(conn: socket.socket, srv: RawServer) -> None:
        srv.read(conn)
        conn.sendall(f"HTTP/1.1 {status} X\r\nContent-Type: application/json;charset=utf-8\r\n"
                     f"x-acs-retry-after: 500\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                     + body)
    return behave


@pytest.mark.parametrize(("status", "code"), [(400, "DeductQuotaFailed"), (429, "SomethingNew"), (429, "")])
def test_a_retry_after_header_or_a_429_is_no_proof_without_a_throttling_code(status, code):
    """The SDK turns any 4xx with x-acs-retry-after into ThrottlingException; only the code is proof."""
    with server(_cas_error_with_retry_after(status, code)) as srv:
        err = _place(_gateway(srv.port))
    assert isinstance(err, CasOutcomeUnknown) and not resend_is_safe(err)
