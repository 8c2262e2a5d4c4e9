"""Fault injection: errors, latency, lost or broken answers and failed handshakes, on demand.

These are the failures that cannot be provoked against the real service but decide whether a
client's retry logic double-orders: an order committed while the caller saw a timeout, a reset or a
5xx, or (V2) an ApplyCertificate that committed the application while the caller saw an error. Every
fault except a handshake one can be aimed at the calls about one domain name (a name in ``Domain``, the
CSR's CN or SANs, ``Keyword``, or a V2 instance's ID and the names it binds), so that a seeded run injects
the same faults into the same orders whatever the thread timing. Faults queue in order; a call takes the first one
(action-specific before ``action=None``) it matches. The request pipeline (``server.py``) consumes
them through the ``_take_*`` methods; the TLS mechanics live in ``tls.py``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from cryptography import x509

from .protocol import ACTION_CREATE, SERVICE_UNAVAILABLE_MESSAGE, ApiError
from .tls import HANDSHAKE_MODES, HANDSHAKE_UNTRUSTED, TLS_BREAK_GARBAGE, TLS_BREAK_MODES, TlsMode
from .validation import csr_names

ANY_ACTION = "*"


@dataclass
class InjectedError:
    remaining: int
    status: int
    code: str
    message: str
    domain: str | None = None


@dataclass(frozen=True)
class ErrorReply:
    status: int
    code: str
    message: str
    headers: tuple[tuple[str, str], ...] = ()
    #: Sent verbatim (as text/html) instead of the gateway's JSON error body, like a load balancer's page.
    raw_body: str | None = None


@dataclass
class AfterCommit:
    remaining: int
    delay_seconds: float | None  # None (and no error/tls): close the connection without answering
    #: Answer this error instead of the result (the order stays committed): CAS's InternalError case.
    error: ErrorReply | None = None
    #: Break the stream this way (one of TLS_BREAK_MODES) instead of answering.
    tls: str | None = None
    domain: str | None = None


@dataclass
class Drop:
    remaining: int
    domain: str | None = None


FaultT = TypeVar("FaultT", InjectedError, AfterCommit, Drop)


def norm_name(name: str) -> str:
    return name.strip().lower().rstrip(".")


class CallNames:
    """The names one call is about, worked out only if a targeted fault asks: the ``Domain`` list, the
    CSR's CN and DNS SANs, and ``Keyword`` (so that ListUserCertificateOrder can be targeted too). A V2 call
    that names an instance (``InstanceId``, or GetTaskAttribute's ``TaskId``) is also about that instance ID
    and the names the instance binds, which ``instance_names`` looks up: ApplyCertificate carries no name."""

    def __init__(self, params: Mapping[str, str],
                 instance_names: Callable[[str], Iterable[str]] | None = None) -> None:
        self._params = params
        self._instance_names = instance_names
        self._names: frozenset[str] | None = None

    def _compute(self) -> frozenset[str]:
        names = {norm_name(n) for n in (self._params.get("Domain") or "").split(",") if n.strip()}
        keyword = self._params.get("Keyword") or ""
        if keyword.strip():
            names.add(norm_name(keyword))
        csr = self._params.get("Csr") or ""
        if csr:
            with contextlib.suppress(ValueError, ApiError):
                names.update(norm_name(n) for n in csr_names(x509.load_pem_x509_csr(csr.encode("utf-8"))))
        for key in ("InstanceId", "TaskId"):
            instance_id = (self._params.get(key) or "").strip()
            if instance_id and self._instance_names is not None:
                names.update(norm_name(n) for n in self._instance_names(instance_id))
        return frozenset(names)

    def __contains__(self, name: object) -> bool:
        if self._names is None:
            self._names = self._compute()
        return isinstance(name, str) and norm_name(name) in self._names


def _targets(domain: str | None, names: CallNames) -> bool:
    return domain is None or domain in names


def _drop_targeted(table: Mapping[str, list[FaultT]], name: str) -> None:
    for entries in table.values():
        entries[:] = [e for e in entries if e.domain is None or norm_name(e.domain) != name]


def _take_entry(table: Mapping[str, list[FaultT]], action: str, names: CallNames) -> FaultT | None:
    """The first queued fault for ``action`` (then for any action) whose target matches the call."""
    for key in (action, ANY_ACTION):
        entries = table.get(key)
        if not entries:
            continue
        entries[:] = [e for e in entries if e.remaining > 0]
        for entry in entries:
            if _targets(entry.domain, names):
                entry.remaining -= 1
                return entry
    return None


class FaultInjection(TlsMode):
    """The queued faults and the public methods that queue and clear them."""

    _lock: threading.RLock
    _latency_ms: dict[tuple[str, str | None], float]
    _failures: dict[str, list[InjectedError]]
    _after_commit: dict[str, list[AfterCommit]]
    _drops: dict[str, list[Drop]]

    def _init_faults(self) -> None:
        self._latency_ms = {}
        self._failures = {}
        self._after_commit = {}
        self._drops = {}

    # ------------------------------------------------------------------ public controls

    def set_latency(self, milliseconds: float, action: str | None = None, *, domain: str | None = None) -> None:
        """Delay every matching request before processing; ``action=None`` means all; 0 clears."""
        with self._lock:
            key = (action or ANY_ACTION, norm_name(domain) if domain else None)
            if milliseconds > 0:
                self._latency_ms[key] = milliseconds
            else:
                self._latency_ms.pop(key, None)

    def fail_next(self, action: str | None, count: int = 1, *, status: int = 503,
                  code: str = "ServiceUnavailable", message: str = SERVICE_UNAVAILABLE_MESSAGE,
                  domain: str | None = None) -> None:
        """Answer the next ``count`` authenticated, admitted calls with this error and do nothing else."""
        with self._lock:
            self._failures.setdefault(action or ANY_ACTION, []).append(
                InjectedError(count, status, code, message, domain))

    def delay_after_commit(self, action: str | None = ACTION_CREATE, seconds: float = 2.0,
                           count: int = 1, *, domain: str | None = None) -> None:
        """Commit the next ``count`` successful calls but hold the response back ``seconds``.

        Use a delay above the client's read timeout to get "the order exists but the
        caller saw a timeout". Failed calls do not consume this fault.
        """
        self._queue_after_commit(action, AfterCommit(count, seconds, domain=domain))

    def close_after_commit(self, action: str | None = ACTION_CREATE, count: int = 1, *,
                           domain: str | None = None) -> None:
        """Commit the next ``count`` successful calls, then close the connection without answering."""
        self._queue_after_commit(action, AfterCommit(count, None, domain=domain))

    def error_after_commit(self, action: str | None = ACTION_CREATE, count: int = 1, *, status: int = 500,
                           code: str = "InternalError",
                           message: str = "The request processing has failed due to some unknown error.",
                           retry_after_ms: int | None = None, raw_body: str | None = None,
                           domain: str | None = None) -> None:
        """Commit the next ``count`` successful calls, then answer with an error anyway.

        Any status and code: 500 ``InternalError``, a gateway's 502/503/504, even a 400
        ``Throttling.User`` (with ``retry_after_ms``, sent as ``x-acs-retry-after``), all after the
        order was committed. ``raw_body`` replaces the JSON error body with this text (``text/html``),
        as a load balancer's error page would.
        """
        headers = (("x-acs-retry-after", str(retry_after_ms)),) if retry_after_ms is not None else ()
        reply = ErrorReply(status, code, message, headers, raw_body)
        self._queue_after_commit(action, AfterCommit(count, None, error=reply, domain=domain))

    def tls_error_after_commit(self, action: str | None = ACTION_CREATE, count: int = 1, *,
                               mode: str = TLS_BREAK_GARBAGE, domain: str | None = None) -> None:
        """Read the request and commit the next ``count`` successful calls, then break the stream instead of
        answering: ``garbage`` writes plaintext bytes on the TLS stream (the client's TLS layer raises),
        ``close`` closes without an answer or close_notify, ``reset`` resets the connection. Meant for
        ``tls=True`` (on plain HTTP, ``garbage`` is merely an unparsable answer)."""
        if mode not in TLS_BREAK_MODES:
            raise ValueError(f"mode must be one of {TLS_BREAK_MODES}")
        self._queue_after_commit(action, AfterCommit(count, None, tls=mode, domain=domain))

    def _queue_after_commit(self, action: str | None, fault: AfterCommit) -> None:
        with self._lock:
            self._after_commit.setdefault(action or ANY_ACTION, []).append(fault)

    def drop_before_commit(self, action: str | None = ACTION_CREATE, count: int = 1, *,
                           domain: str | None = None) -> None:
        """Close the connection on the next ``count`` calls without checking or changing anything."""
        with self._lock:
            self._drops.setdefault(action or ANY_ACTION, []).append(Drop(count, domain))

    def fail_tls_handshakes(self, count: int = 1, *, mode: str = HANDSHAKE_UNTRUSTED) -> None:
        """Make the next ``count`` TLS handshakes fail (TLS mode only): nothing is read, nothing ordered.

        ``untrusted`` presents a server certificate from a CA the client does not trust (the client's
        ``do_handshake`` raises a certificate verification error); ``garbage`` answers the ClientHello
        with bytes that are not TLS. A handshake cannot be aimed at a domain: nothing has been read yet.
        Kept-alive idle connections are closed at once, so that the client's next call needs a new
        connection, and with it a handshake, instead of reusing a pooled one.
        """
        if self._tls is None:
            raise RuntimeError("TLS handshake faults need tls=True")
        if mode not in HANDSHAKE_MODES:
            raise ValueError(f"mode must be one of {HANDSHAKE_MODES}")
        with self._lock:
            self._handshake_faults.extend([mode] * count)
        self.close_idle_connections()

    def clear_faults(self, *, domain: str | None = None) -> None:
        """Drop queued faults and latency: all of them, or (``domain``) only those aimed at that name."""
        with self._lock:
            if domain is None:
                self._latency_ms.clear()
                self._failures.clear()
                self._after_commit.clear()
                self._drops.clear()
                self._handshake_faults.clear()
                return
            name = norm_name(domain)
            self._latency_ms = {k: v for k, v in self._latency_ms.items() if k[1] != name}
            _drop_targeted(self._failures, name)
            _drop_targeted(self._after_commit, name)
            _drop_targeted(self._drops, name)

    # ------------------------------------------------------------------ taken by the request pipeline

    def _take_drop_and_latency(self, action: str, names: CallNames) -> tuple[bool, float]:
        """Whether to drop this call unread, and else how many milliseconds to hold it first."""
        with self._lock:
            drop = _take_entry(self._drops, action, names) is not None
            latency = sum(ms for (a, d), ms in self._latency_ms.items()
                          if a in (action, ANY_ACTION) and _targets(d, names))
        return drop, latency

    def _take_failure(self, action: str, names: CallNames) -> InjectedError | None:
        with self._lock:
            return _take_entry(self._failures, action, names)

    def _take_after_commit(self, action: str, names: CallNames) -> AfterCommit | None:
        with self._lock:
            return _take_entry(self._after_commit, action, names)
