"""``CasEmulator``: the in-process CAS endpoint, assembled from one class per concern.

The public surface (quotas and orders, faults, request records, the TLS mode) is one object so that
a test needs one handle, but each concern lives in its own module and class: ``state.AccountState``
and ``actions.CasActions`` (V1), ``instances.InstanceState`` and ``instance_actions.InstanceActions``
(V2), ``faults.FaultInjection`` (over ``tls.TlsMode``), ``records.RequestLog``.
They share one re-entrant lock, ``_lock``, because some invariants span them: a queued handshake
fault and the set of idle connections must change together, and ``reset_stats`` clears the request
records and the handshake counts at once. The request pipeline itself is ``server.Exchange``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping

from devkit.loopback import LoopbackHTTPServer, LoopbackServer

from .actions import ActionHandler
from .faults import FaultInjection
from .instance_actions import InstanceActions
from .instances import DEFAULT_APPLICATION_SECONDS
from .lifecycle import Lifecycle, OrderLifecycle
from .pool_spec import InstanceSpec, parse_pool
from .protocol import DEFAULT_QPS, INITIAL_ORDER_STATUS
from .records import RequestLog
from .server import CasRequestHandler, Exchange
from .signature import Authenticator
from .state import RateLimiter


class CasEmulator(FaultInjection, RequestLog, OrderLifecycle, InstanceActions, LoopbackServer):
    """In-process CAS endpoint; start it, hand ``endpoint`` to the SDK, inspect state afterwards.

    All public methods are thread-safe and may be called while requests are in flight.
    """

    name = "cas-emulator"
    handler_class = CasRequestHandler
    not_running_message = "CasEmulator is not running; call start() first"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        access_keys: Mapping[str, str] | None = None,
        sts_keys: Mapping[str, tuple[str, str]] | None = None,
        quotas: Mapping[str, int] | None = None,
        qps: int | None = DEFAULT_QPS,
        throttle_retry_after_ms: int | None = None,
        initial_order_status: str = INITIAL_ORDER_STATUS,
        list_lag_seconds: float = 0.0,
        instances: Iterable[InstanceSpec] | str = (),
        application_seconds: float = DEFAULT_APPLICATION_SECONDS,
        tls: bool = False,
        lifecycle: Lifecycle | None = None,
        clock: Callable[[], float] = time.time,
        verbose: bool = False,
    ) -> None:
        """
        ``access_keys`` maps id -> secret, ``sts_keys`` maps id -> (secret, security token);
        both default to the demo keys. ``quotas`` maps product code -> TotalCount and
        defaults to DEFAULT_QUOTA for every documented product; a product missing from
        it has no package (NotFoundPackage). ``qps`` of None or 0 disables flow control.
        ``throttle_retry_after_ms`` adds ``x-acs-retry-after`` to Throttling answers,
        which turns them into the SDK's ThrottlingException. ``list_lag_seconds`` is how
        long after its creation an order first shows up in ListUserCertificateOrder,
        measured on ``clock`` (the real service's search index lags behind; its lag is
        UNCONFIRMED); for V2 it is how long a change to an instance takes to show in ListInstances.
        ``instances`` is the V2 instance pool (``InstanceSpec``s or their one-line form, see
        ``pool_spec``; empty by default: a V1-only account whose ListInstances is empty), and
        ``application_seconds`` how long an application stays ``processing`` on ``clock``.
        ``tls=True`` serves HTTPS with a server certificate for 127.0.0.1/localhost from a
        throwaway CA whose PEM is at ``ca_file``. ``lifecycle`` (``lifecycle.Lifecycle``) makes V1 orders
        move by themselves, from validation to a certificate or to verify_fail, on the CA's clock. ``clock`` is
        the wall clock used for x-acs-date checks, timestamps and the list lag (flow
        control uses a monotonic clock).
        """
        super().__init__(host=host, port=port, verbose=verbose)
        self._lock = threading.RLock()
        self._clock = clock
        self._init_account(quotas=quotas, initial_order_status=initial_order_status,
                           list_lag_seconds=list_lag_seconds)
        self._init_lifecycle(lifecycle)
        self._init_instances(parse_pool(instances) if isinstance(instances, str) else instances,
                             application_seconds)
        self._throttle_retry_after_ms = throttle_retry_after_ms
        self._init_tls(tls)
        self._auth = Authenticator(access_keys, sts_keys)
        self._limiter = RateLimiter(qps)
        self._init_faults()
        self._init_records()
        self._handlers: dict[str, ActionHandler] = {**self._action_handlers(), **self._instance_handlers()}

    # ------------------------------------------------------------------ lifecycle (start/stop/port: LoopbackServer)

    def _make_server(self) -> LoopbackHTTPServer:
        server = super()._make_server()
        if self._tls is not None:
            server.socket = self._tls.server_context().wrap_socket(server.socket, server_side=True,
                                                                   do_handshake_on_connect=False)
        return server

    @property
    def endpoint(self) -> str:
        """``host:port`` for ``Config(endpoint=..., protocol=emu.protocol)``; the SDK rejects a scheme here."""
        return f"{self._host}:{self.port}"

    def reset_stats(self) -> None:
        """Forget the request records, the counts and the TLS handshake counts."""
        with self._lock:
            self._reset_records()
            self._reset_handshake_counts()

    def _serve(self, handler: CasRequestHandler) -> None:
        Exchange(self, handler).run()
