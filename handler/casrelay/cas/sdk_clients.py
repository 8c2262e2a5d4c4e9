"""The Alibaba Cloud SDK clients one API is called through: one per credential set, and the call options.

CAS and Alidns are reached the same way (tea-openapi ``Config``, ACS3 signing, darabonba ``RuntimeOptions``), so
both keep their clients here. One client is kept per credential set because FC rotates STS tokens; the SDK's
own retry stays off (``autoretry=False``, one attempt): a retried paid call can place a second order, so retrying
is decided above, with the outcome in hand. Each SDK is imported on first use.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .credentials import Credentials

#: Clients kept at once; older STS tokens are dropped rather than kept forever.
MAX_CLIENTS = 8


@dataclass(frozen=True)
class Endpoint:
    host: str
    protocol: str
    region: str
    connect_timeout_ms: int
    read_timeout_ms: int
    ca_file: str | None = None


class SdkClients:
    def __init__(self, endpoint: Endpoint, client_class: Callable[[], Any]) -> None:
        """``client_class`` returns the SDK's ``Client`` class, imported when the first client is built."""
        self.endpoint = endpoint
        self._client_class = client_class
        self._clients: dict[tuple[str, str | None], Any] = {}
        self._lock = threading.Lock()
        self._runtime_options: Any = None

    def get(self, creds: Credentials) -> Any:
        key = (creds.access_key_id, creds.security_token)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                from alibabacloud_tea_openapi.utils_models import Config

                e = self.endpoint
                client = self._client_class()(Config(
                    access_key_id=creds.access_key_id, access_key_secret=creds.access_key_secret,
                    security_token=creds.security_token, endpoint=e.host, protocol=e.protocol, region_id=e.region,
                    connect_timeout=e.connect_timeout_ms, read_timeout=e.read_timeout_ms,
                ))
                if len(self._clients) >= MAX_CLIENTS:
                    self._clients.clear()
                self._clients[key] = client
            return client

    def runtime(self) -> Any:
        """The per-call options, built once: they depend only on the settings, and the SDK only reads them."""
        if self._runtime_options is None:
            from darabonba.runtime import RuntimeOptions

            e = self.endpoint
            self._runtime_options = RuntimeOptions(
                connect_timeout=e.connect_timeout_ms, read_timeout=e.read_timeout_ms, autoretry=False,
                max_attempts=1, ca=e.ca_file)
        return self._runtime_options
