"""The server lifecycle shared by the loopback doubles (CAS emulator, MNS emulator, callback receiver).

Each double is an in-process HTTP server that a test starts, points a real client at and stops. The
lifecycle is subtle enough to write once: bind to an ephemeral port (``port=0``) so parallel tests
never collide, serve from a daemon thread that polls often so ``stop()`` returns quickly, and on stop
cut every kept-alive connection, because SDK connection pools would otherwise keep handler threads
(and replies delayed by injected latency) alive past the end of the test.

``read_body`` is the one place where every devkit server (the doubles and the local HTTP trigger)
frames a request body. Clients other than Python's (Alibaba's Node SDK, curl with a stream, Go's
``net/http`` for a body of unknown length) send ``Transfer-Encoding: chunked``; a server that reads by
``Content-Length`` alone sees an empty body and then parses the chunks as the next request of the
kept-alive connection. Framing is written once so that all of them agree with RFC 9112.
"""

from __future__ import annotations

import contextlib
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BufferedIOBase
from types import FrameType, TracebackType
from typing import Any, ClassVar, TypeVar, cast

__all__ = ["BodyError", "LoopbackHTTPServer", "LoopbackHandler", "LoopbackServer", "TrackingHandler", "read_body",
           "stop_on_sigterm"]

POLL_INTERVAL_S = 0.02  # how long shutdown() may wait for serve_forever to notice
JOIN_TIMEOUT_S = 5.0

_LoopbackT = TypeVar("_LoopbackT", bound="LoopbackServer")

#: The longest chunk-size line or trailer field a server reads; longer means a broken or hostile client.
MAX_FRAMING_LINE = 4096
MAX_TRAILER_FIELDS = 64
_DECIMAL = re.compile(r"[0-9]{1,19}")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def stop_on_sigterm() -> None:
    """Make SIGTERM (a supervisor, ``kill``, a test's ``terminate()``) unwind like Ctrl-C, so that every
    ``with`` block and ``finally`` of a command runs: servers stop, scratch folders and test CAs are
    removed. Command-line entry points call it first thing; only the main thread may set a handler."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)


class BodyError(Exception):
    """A request whose body cannot be framed. The server answers ``status`` and must close the
    connection: after a body it could not delimit it cannot know where the next request starts."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def read_body(handler: BaseHTTPRequestHandler, max_bytes: int) -> bytes:
    """The request's body, framed as RFC 9112 section 6 says; ``BodyError`` when it cannot be.

    - ``Transfer-Encoding: chunked`` is de-chunked (chunk extensions and trailer fields are read and
      dropped). A request that also has ``Content-Length`` is refused (400): the two disagree about where
      the body ends, the classic request-smuggling shape. A coding list that does not end in
      ``chunked`` cannot be framed (400); another coding before ``chunked`` is not understood (501).
    - ``Content-Length`` must be one decimal number (repeats must agree); fewer bytes than it promises
      is a 400, not a short body.
    - Neither header: the body is empty, as the RFC says for a request.

    More than ``max_bytes`` is refused with 413 before it is read.
    """
    headers = handler.headers
    encodings = headers.get_all("Transfer-Encoding") or []
    lengths = headers.get_all("Content-Length") or []
    if encodings:
        if lengths:
            raise BodyError(400, "the request has both Transfer-Encoding and Content-Length; send one of them")
        codings = [c.strip().lower() for value in encodings for c in value.split(",") if c.strip()]
        if not codings or codings[-1] != "chunked":
            raise BodyError(400, f"Transfer-Encoding {', '.join(codings) or '(empty)'} does not end in chunked, "
                                 "so the body's end cannot be found")
        if codings != ["chunked"]:
            raise BodyError(501, f"transfer coding {', '.join(codings[:-1])} is not supported; only chunked is")
        return _read_chunked(handler.rfile, max_bytes)
    if lengths:
        values = {v.strip() for value in lengths for v in value.split(",")}
        value = values.pop() if len(values) == 1 else ""
        if not _DECIMAL.fullmatch(value):
            raise BodyError(400, "Content-Length must be one decimal number")
        length = int(value)
        if length > max_bytes:
            raise BodyError(413, f"the body has {length} bytes; at most {max_bytes} are accepted")
        data = handler.rfile.read(length) if length else b""
        if len(data) != length:
            raise BodyError(400, f"the body ended after {len(data)} of its {length} bytes")
        return data
    return b""


def _framing_line(rfile: BufferedIOBase, what: str) -> bytes:
    line = rfile.readline(MAX_FRAMING_LINE + 1)
    if not line.endswith(b"\n"):
        raise BodyError(400, f"the chunked body ended or ran too long inside a {what}")
    return line.rstrip(b"\r\n")


def _read_chunked(rfile: BufferedIOBase, max_bytes: int) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        size_text = _framing_line(rfile, "chunk-size line").split(b";", 1)[0].strip()
        if not _HEX.fullmatch(size_text):
            raise BodyError(400, "a chunk size is not a hexadecimal number")
        size = int(size_text, 16)
        if size == 0:
            break
        total += size
        if total > max_bytes:
            raise BodyError(413, f"the chunked body has more than {max_bytes} bytes")
        data = rfile.read(size)
        if len(data) != size:
            raise BodyError(400, "the chunked body ended inside a chunk")
        parts.append(data)
        if _framing_line(rfile, "chunk") != b"":
            raise BodyError(400, "a chunk is longer than its size says")
    for _ in range(MAX_TRAILER_FIELDS + 1):
        if _framing_line(rfile, "trailer section") == b"":
            return b"".join(parts)
    raise BodyError(400, f"the chunked body has more than {MAX_TRAILER_FIELDS} trailer fields")


class LoopbackHTTPServer(ThreadingHTTPServer):
    """A threading server that knows the double it serves, so handlers can reach its state."""

    daemon_threads = True  # a stuck handler must never keep the test process alive

    def __init__(self, address: tuple[str, int], handler_class: type[BaseHTTPRequestHandler],
                 owner: LoopbackServer) -> None:
        self.owner = owner  # set before binding: handlers may run as soon as the socket listens
        super().__init__(address, handler_class)


class LoopbackHandler(BaseHTTPRequestHandler):
    """Request handler base: reaches the owning double and logs only when it is verbose."""

    sys_version = ""

    @property
    def loopback(self) -> LoopbackServer:
        return cast(LoopbackHTTPServer, self.server).owner

    def log_message(self, format: str, *args: Any) -> None:
        owner = self.loopback
        if owner.verbose:
            sys.stderr.write(f"{owner.name} {self.address_string()} {format % args}\n")


class TrackingHandler(LoopbackHandler):
    """Registers its connection with the double for the connection's lifetime, so ``stop()`` can cut it.

    Needed by doubles that speak HTTP/1.1 keep-alive: a pooled client socket would otherwise keep its
    handler thread blocked in ``readline`` after the server has stopped.
    """

    # Headers and body go out as separate writes; without TCP_NODELAY, Nagle plus the client's delayed
    # ACK adds ~40 ms to every call, which makes timing assertions ("11 calls in one second") flaky.
    tcp_nodelay: ClassVar[bool] = False

    def setup(self) -> None:
        super().setup()
        if self.tcp_nodelay:
            with contextlib.suppress(OSError):
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.loopback._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.loopback._track(self.connection, add=False)


class DispatchingHandler(TrackingHandler):
    """Hands every request, whatever its method, to the double's ``_serve``: like the real services, the
    doubles answer an unsupported method themselves, with their own error format."""

    def _dispatch(self) -> None:
        self.loopback._serve(self)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _dispatch


class LoopbackServer:
    """Start/stop/port/context-manager for a double; subclasses set ``name``, ``handler_class`` and
    ``not_running_message``, and may override ``_make_server`` (e.g. to wrap the socket in TLS)."""

    name: ClassVar[str]  # thread name prefix and log prefix, e.g. "cas-emulator"
    handler_class: ClassVar[type[LoopbackHandler]]
    not_running_message: ClassVar[str] = "the server is not running"

    def __init__(self, *, host: str, port: int, verbose: bool = False) -> None:
        self._host = host
        self._requested_port = port
        self.verbose = verbose
        self._server: LoopbackHTTPServer | None = None
        self._thread: threading.Thread | None = None
        # Set by stop(); handlers sleep on it (injected latency) so that stop() wakes them at once.
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle

    def _make_server(self) -> LoopbackHTTPServer:
        """Bind the listening socket; a hook so a double can wrap it (TLS) before serving starts."""
        return LoopbackHTTPServer((self._host, self._requested_port), self.handler_class, self)

    def start(self: _LoopbackT) -> _LoopbackT:
        """Serve in a daemon thread; starting a running double is a no-op so fixtures may nest."""
        if self._server is not None:
            return self
        self._stopping.clear()
        server = self._make_server()
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": POLL_INTERVAL_S},
                                        name=f"{self.name}-{self.port}", daemon=True)
        self._thread.start()
        return self

    def _serve(self, handler: Any) -> None:
        """Answer one request; doubles that use ``DispatchingHandler`` implement it."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop serving and cut open connections so pooled SDK sockets and delayed replies end now."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        with self._conn_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                # The plain socket's shutdown: on a TLS connection ``SSLSocket.shutdown`` would also drop
                # the TLS state under the handler thread that is reading from it.
                socket.socket.shutdown(conn, socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=JOIN_TIMEOUT_S)
            self._thread = None

    def serve_until_interrupted(self, tick: Callable[[], None] | None = None, every: float = 3600.0) -> None:
        """For the command-line entry points: serve until Ctrl-C or SIGTERM, calling ``tick`` every ``every``
        seconds. SIGTERM unwinds like Ctrl-C, so that what the double made on disk (the TLS mode's test CA)
        is removed at exit instead of left behind by a killed process."""
        stop_on_sigterm()
        try:
            while True:
                time.sleep(every)
                if tick is not None:
                    tick()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self: _LoopbackT) -> _LoopbackT:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (the ephemeral one when constructed with ``port=0``)."""
        if self._server is None:
            raise RuntimeError(self.not_running_message)
        return int(self._server.server_address[1])

    # ------------------------------------------------------------------ connection tracking

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._conn_lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)
