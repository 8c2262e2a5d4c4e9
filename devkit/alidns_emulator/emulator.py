"""``AlidnsEmulator``: the in-process Alidns endpoint (API 2015-01-09), for the order lifecycle's DNS step.

It is the CAS emulator's request pipeline with another API behind it, not a copy of it: the same
``devkit.cas_emulator.server.Exchange`` (route, then ACS3 or RPC signature with one nonce store, then flow
control answering ``Throttling.User``, then injected errors, the commit, and the after-commit faults), the
same ``Authenticator`` and demo keys (one account, as a function's role holds both the CAS and the Alidns
actions), the same ``FaultInjection`` and ``RequestLog``. Only the route (``API_VERSION``, the six actions),
the error body's ``HostId`` and ``Recommend`` product, and the account (``zones.ZoneBook``) are its own.

Faults are aimed by action: ``fail_next("AddDomainRecord")``, ``error_after_commit("AddDomainRecord")`` (the
record exists, the caller saw a 500: what "find before add" must survive). The ``domain=`` targeting of the
CAS faults reads CAS's parameters (``Domain``, a CSR) and so matches no Alidns call. Alidns's own flow-control
limits are UNVERIFIED (``Throttling.User`` itself is reported by gardener/external-dns-management #71); the
default here is CAS's 10 calls per second per key and action.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, cast

from devkit.cas_emulator.faults import FaultInjection
from devkit.cas_emulator.protocol import DEFAULT_QPS, ApiError
from devkit.cas_emulator.records import RequestLog
from devkit.cas_emulator.server import CasRequestHandler, Exchange, WireRequest
from devkit.cas_emulator.signature import Authenticator
from devkit.cas_emulator.state import RateLimiter
from devkit.loopback import LoopbackHTTPServer, LoopbackServer

from .actions import ALIDNS_ACTIONS, API_VERSION, HOST_ID, AlidnsActions

if TYPE_CHECKING:
    from devkit.cas_emulator.emulator import CasEmulator


class AlidnsRequestHandler(CasRequestHandler):
    server_version = "AlidnsEmulator/1.0"


class AlidnsExchange(Exchange):
    """One Alidns request: CAS's pipeline with Alidns's route and error body."""

    host_id = HOST_ID
    product = "Alidns"

    def route(self, request: WireRequest) -> None:
        if request.method not in ("GET", "POST"):
            raise ApiError(400, "UnsupportedHTTPMethod", f"Specified http method {request.method} is not supported.")
        if request.raw_path not in ("/", "") or request.action not in ALIDNS_ACTIONS:
            raise ApiError(404, "InvalidApi.NotFound", "Specified api is not found, please check your url and method.")
        if request.version != API_VERSION:
            raise ApiError(400, "InvalidVersion", f"Specified parameter Version {request.version!r} is not valid.")


class AlidnsEmulator(FaultInjection, RequestLog, AlidnsActions, LoopbackServer):
    """In-process Alidns endpoint: start it, hand ``endpoint`` to the SDK's ``Config``, inspect records after.

    ``zones`` are the zones the account holds (``example.com``, ``example.com.cn``, a delegated
    ``dev.example.org``); a record can be added only under one of them. The keys, ``qps``,
    ``throttle_retry_after_ms``, ``tls`` and ``clock`` (the x-acs-date check and record timestamps) mean what
    they mean for ``CasEmulator``. All public methods are thread-safe.
    """

    name = "alidns-emulator"
    handler_class = AlidnsRequestHandler
    not_running_message = "AlidnsEmulator is not running; call start() first"

    def __init__(self, zones: Iterable[str] = (), *, host: str = "127.0.0.1", port: int = 0,
                 access_keys: Mapping[str, str] | None = None,
                 sts_keys: Mapping[str, tuple[str, str]] | None = None, qps: int | None = DEFAULT_QPS,
                 throttle_retry_after_ms: int | None = None, tls: bool = False,
                 clock: Callable[[], float] = time.time, verbose: bool = False) -> None:
        super().__init__(host=host, port=port, verbose=verbose)
        self._lock = threading.RLock()
        self._clock = clock
        self._init_zones(zones)
        self._throttle_retry_after_ms = throttle_retry_after_ms
        self._init_tls(tls)
        self._auth = Authenticator(access_keys, sts_keys)
        self._limiter = RateLimiter(qps)
        self._init_faults()
        self._init_records()
        self._handlers = self._alidns_handlers()

    def _make_server(self) -> LoopbackHTTPServer:
        server = super()._make_server()
        if self._tls is not None:
            server.socket = self._tls.server_context().wrap_socket(server.socket, server_side=True,
                                                                   do_handshake_on_connect=False)
        return server

    @property
    def endpoint(self) -> str:
        """``host:port`` for ``Config(endpoint=..., protocol=dns.protocol)``; the SDK rejects a scheme here."""
        return f"{self._host}:{self.port}"

    def reset_stats(self) -> None:
        """Forget the request records, the counts and the TLS handshake counts."""
        with self._lock:
            self._reset_records()
            self._reset_handshake_counts()

    def _instance_names(self, instance_id: str) -> list[str]:
        """No V2 instances here; the pipeline's fault targeting asks all the same."""
        return []

    def _serve(self, handler: AlidnsRequestHandler) -> None:
        # The pipeline uses only what this class shares with CasEmulator (faults, records, keys, limiter,
        # handlers, clock), so it is handed this double in CasEmulator's place.
        AlidnsExchange(cast("CasEmulator", self), handler).run()
