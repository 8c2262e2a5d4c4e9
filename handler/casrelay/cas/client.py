"""The signed calls beneath every ordering backend: one SDK client per credential set, the pacer and
the call metrics.

The SDK signs with its default ACS3-HMAC-SHA256. Its automatic retry stays off (``autoretry=False``,
one attempt): a retried paid call can place a second order, so retrying is a decision made above
this layer with the outcome in hand. The SDK is imported on first use (``warm()`` does it from
``initialize``), and one client is kept per credential set because FC rotates STS tokens.
"""

from __future__ import annotations

import time
from typing import Any

from .. import log
from ..config import Settings
from ..errors import CasThrottled, missing_credentials
from .credentials import Credentials
from .errors import map_exception
from .ratelimit import CallPacer, Pacer
from .sdk_clients import Endpoint, SdkClients


class CasClient:
    def __init__(self, settings: Settings, pacer: CallPacer | None = None) -> None:
        """``pacer`` is chosen by the composition root (shared through a Redis ledger, else this instance's
        own); every call of every API waits on it, the paid call and the sweep's alike."""
        self.settings = settings
        self.pacer: CallPacer = Pacer(settings.cas_max_qps) if pacer is None else pacer
        self._sdk = SdkClients(Endpoint(settings.cas_endpoint, settings.cas_protocol, settings.cas_region,
                                        settings.cas_connect_timeout_ms, settings.cas_read_timeout_ms,
                                        settings.cas_ca_file), _cas_client_class)

    def warm(self, creds: Credentials | None = None) -> None:
        """Import the SDK and build the client now, in the initializer, instead of during the first order:
        a cold first call arrives tens of milliseconds late, which eats into the pacer's margin."""
        import alibabacloud_cas20200407.client
        import alibabacloud_cas20200407.models  # noqa: F401

        if creds is not None:
            self.sdk_client(creds)

    def sdk_client(self, creds: Credentials) -> Any:
        return self._sdk.get(creds)

    def _runtime(self) -> Any:
        return self._sdk.runtime()

    def call(self, action: str, method: str, request: Any, creds: Credentials | None) -> Any:
        """One signed call of ``action`` through the SDK method ``method``, paced; raises a mapped
        ``RelayError`` that says what the failure proves."""
        if creds is None:
            raise missing_credentials()
        client = self.sdk_client(creds)
        self.pacer.wait(action)
        started = time.monotonic()
        try:
            result = getattr(client, method)(request, self._runtime())
        except Exception as exc:
            err = map_exception(exc)
            _measured(action, started, err.cas_code or err.code, isinstance(err, CasThrottled))
            raise err from None
        _measured(action, started, "ok", False)
        return result


def _cas_client_class() -> Any:
    from alibabacloud_cas20200407.client import Client

    return Client


def _measured(action: str, started: float, result: str, throttled: bool) -> None:
    """A call made for an order is counted on the order's line; any other (the sweep's, the warm-up) gets
    metric lines of its own."""
    ms = round((time.monotonic() - started) * 1000, 1)
    if log.add_to_tally(cas_ms=ms, cas_calls=1, cas_throttles=1 if throttled else 0):
        return
    log.metric("cas.latency", ms, "Milliseconds", action=action, result=result)
    if throttled:
        log.metric("cas.throttles", 1, action=action)
