"""The server lifecycle shared by the loopback doubles (CAS emulator, MNS emulator, callback receiver).

Each double is an in-process HTTP server that a test starts, points a real client at and stops. The
lifecycle is subtle enough to write once: bind to an ephemeral port (``port=0``) so parallel tests
never collide, serve from a daemon thread that polls often so ``stop()`` returns quickly, and on stop
cut every kept-alive connection, because SDK connection pools would otherwise keep handler threads
(and replies delayed by injected latency) alive past the end of the test.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, TypeVar, cast

__all__ = ["LoopbackHTTPServer", "LoopbackHandler", "LoopbackServer", "TrackingHandler"]

POLL_INTERVAL_S = 0.02  # how long shutdown() may wait for serve_forever to notice
JOIN_TIMEOUT_S = 5.0

_LoopbackT = TypeVar("_LoopbackT", bound="LoopbackServer")


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
        """For the command-line entry points: serve until Ctrl-C, calling ``tick`` every ``every`` seconds."""
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
