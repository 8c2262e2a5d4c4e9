"""The HTTPS mode: a throwaway test CA, per-connection handshakes, and broken TLS streams.

With ``tls=True`` the SDK's own TLS stack talks to the emulator, so that a client's handling of
handshake failures and of streams cut after an order was committed can be tested for real. The
handshake runs in the request thread (the listening socket defers it), so that a failure, injected
or genuine, ends that one connection only. Handshake faults need a new connection to bite, which is
why kept-alive idle connections are tracked here and can be closed on demand.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import ssl
import struct
import tempfile
import threading
import weakref
from collections import Counter
from http.server import BaseHTTPRequestHandler

#: How ``tls_error_after_commit`` breaks the stream once the order is committed.
TLS_BREAK_GARBAGE = "garbage"  # plaintext bytes on the TLS stream: the client's TLS layer fails to parse them
TLS_BREAK_CLOSE = "close"  # the TCP connection is closed without an answer and without close_notify
TLS_BREAK_RESET = "reset"  # the TCP connection is reset (RST) without an answer
TLS_BREAK_MODES = (TLS_BREAK_GARBAGE, TLS_BREAK_CLOSE, TLS_BREAK_RESET)
#: How ``fail_tls_handshakes`` makes a handshake fail.
HANDSHAKE_UNTRUSTED = "untrusted"  # the server presents a certificate from a CA the client does not trust
HANDSHAKE_GARBAGE = "garbage"  # the server answers the ClientHello with bytes that are not TLS
HANDSHAKE_MODES = (HANDSHAKE_UNTRUSTED, HANDSHAKE_GARBAGE)
#: What the stream-breaking faults write: a plaintext HTTP answer, which on a TLS stream is not a TLS record.
GARBAGE_BYTES = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nnot TLS data"
HANDSHAKE_TIMEOUT_S = 10.0
#: The names the HTTPS mode's server certificate is issued for.
TLS_SERVER_NAMES = ("127.0.0.1", "localhost", "::1")


def raw_shutdown(conn: socket.socket, how: int = socket.SHUT_RDWR) -> None:
    """Shut the TCP connection down under any TLS layer (``SSLSocket.shutdown`` would also drop its state)."""
    with contextlib.suppress(OSError):
        socket.socket.shutdown(conn, how)


def break_stream(conn: socket.socket, mode: str) -> None:
    """End a connection without a proper answer: bytes that are not TLS, a silent close, or a reset."""
    if mode == TLS_BREAK_GARBAGE:
        with contextlib.suppress(OSError):
            socket.socket.sendall(conn, GARBAGE_BYTES)
        raw_shutdown(conn)
    elif mode == TLS_BREAK_RESET:
        # SO_LINGER 0 makes close() send RST. Detach first: the handler's file objects would otherwise
        # defer the close, and the server's own shutdown(SHUT_WR) would send a FIN before it.
        with contextlib.suppress(OSError):
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            os.close(conn.detach())
    else:
        raw_shutdown(conn)


class TlsMaterial:
    """A throwaway test CA (trustme), a server certificate for loopback, and a CA file for clients."""

    def __init__(self) -> None:
        import trustme

        self.ca = trustme.CA(organization_name="CAS emulator test CA")
        self.server_cert = self.ca.issue_cert(*TLS_SERVER_NAMES)
        self.directory = tempfile.mkdtemp(prefix="cas-emulator-tls-")
        self.ca_file = os.path.join(self.directory, "ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_file)
        self._untrusted: ssl.SSLContext | None = None
        weakref.finalize(self, shutil.rmtree, self.directory, True)

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.server_cert.configure_cert(context)
        return context

    def untrusted_context(self) -> ssl.SSLContext:
        """A server context whose certificate chains to another CA: every client handshake fails."""
        if self._untrusted is None:
            import trustme

            other = trustme.CA(organization_name="not the CAS emulator test CA")
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            other.issue_cert(*TLS_SERVER_NAMES).configure_cert(context)
            self._untrusted = context
        return self._untrusted


class TlsMode:
    """The TLS material (or None on plain HTTP), queued handshake faults, and idle-connection tracking."""

    _lock: threading.RLock
    _tls: TlsMaterial | None
    _handshake_faults: list[str]
    _idle: set[socket.socket]
    _answer_lock: threading.Lock
    _handshakes: Counter[str]

    def _init_tls(self, tls: bool) -> None:
        self._tls = TlsMaterial() if tls else None
        self._handshake_faults = []
        self._idle = set()
        self._answer_lock = threading.Lock()
        self._handshakes = Counter()

    @property
    def protocol(self) -> str:
        """``https`` in TLS mode, else ``http``: the SDK's ``Config.protocol``."""
        return "https" if self._tls is not None else "http"

    @property
    def ca_file(self) -> str:
        """The PEM file of the test CA (TLS mode only): ``RuntimeOptions(ca=...)`` / ``CAS_CA_FILE``."""
        if self._tls is None:
            raise RuntimeError("the emulator serves plain HTTP; construct it with tls=True for a CA file")
        return self._tls.ca_file

    def tls_handshakes(self) -> dict[str, int]:
        """TLS handshakes by result (``ok``, ``failed``, ``injected:<mode>``); empty on plain HTTP."""
        with self._lock:
            return dict(self._handshakes)

    @property
    def tls_handshake_failures(self) -> int:
        """Handshakes that failed, injected or not."""
        with self._lock:
            return sum(n for k, n in self._handshakes.items() if k != "ok")

    def _reset_handshake_counts(self) -> None:
        with self._lock:
            self._handshakes.clear()

    def close_idle_connections(self) -> int:
        """Close every kept-alive connection that is waiting for its next request; return how many."""
        with self._answer_lock, self._lock:  # an answer being written marks its connection idle first
            idle = list(self._idle)
            self._idle.clear()
        for conn in idle:
            raw_shutdown(conn)
        return len(idle)

    def _set_idle(self, conn: socket.socket, *, idle: bool, kept_alive: bool = False) -> bool:
        """Mark a connection idle or busy; False when a kept-alive connection should close instead."""
        with self._lock:
            if not idle:
                self._idle.discard(conn)
                return True
            if kept_alive and self._handshake_faults:
                return False
            self._idle.add(conn)
            return True

    def _write_answer(self, handler: BaseHTTPRequestHandler, data: bytes) -> None:
        """Write an answer's body; a kept-alive TLS connection is idle (closable) once it is out.

        The client may reuse the connection at once (even before this thread runs again). The answer
        lock makes ``close_idle_connections`` wait for the idle mark, so that a handshake fault queued
        right after an answer still finds the connection to close.
        """
        with self._answer_lock:
            if handler.command != "HEAD":
                handler.wfile.write(data)
            handler.wfile.flush()
            if not handler.close_connection and self._tls is not None:
                with self._lock:
                    self._idle.add(handler.connection)

    def _handshake(self, conn: ssl.SSLSocket) -> bool:
        """Run (or, when a fault is queued, fail) the server side of one TLS handshake."""
        assert self._tls is not None
        with self._lock:
            fault = self._handshake_faults.pop(0) if self._handshake_faults else None
        conn.settimeout(HANDSHAKE_TIMEOUT_S)
        if fault == HANDSHAKE_GARBAGE:
            with contextlib.suppress(OSError):
                socket.socket.recv(conn, 65536)  # the ClientHello, read raw and ignored
                socket.socket.sendall(conn, GARBAGE_BYTES)
                socket.socket.shutdown(conn, socket.SHUT_WR)
                socket.socket.recv(conn, 65536)  # until the client gives up, so the close is clean
            return self._count_handshake(f"injected:{fault}", ok=False)
        if fault == HANDSHAKE_UNTRUSTED:
            conn.context = self._tls.untrusted_context()
        try:
            conn.do_handshake()
        except (ssl.SSLError, OSError):
            return self._count_handshake(f"injected:{fault}" if fault else "failed", ok=False)
        if fault is not None:  # the client accepted a certificate it should not trust: still a failure to count
            return self._count_handshake(f"accepted:{fault}", ok=True)
        return self._count_handshake("ok", ok=True)

    def _count_handshake(self, kind: str, *, ok: bool) -> bool:
        with self._lock:
            self._handshakes[kind] += 1
        return ok
