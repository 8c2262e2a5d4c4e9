"""FC entry points: ``index.handler`` and the ``index.initialize`` lifecycle hook.

``initialize`` reads the configuration and warms the CAS SDK once per instance, so the first order
does not pay for the import. ``handler`` also initialises on demand, for deployments that do not
configure the hook. A bad configuration does not crash the instance: every invocation is answered
with a 503 that names the variable, which is easier to find than an initializer stack trace.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
from typing import Any

# Start-up allocates many long-lived objects (modules, classes, the SDK's models). Collecting while
# they are being created only walks them again and again; the initializer freezes them instead, so
# later collections skip them too.
gc.disable()

_HERE = os.path.dirname(os.path.abspath(__file__))
_VENDORED = os.path.join(_HERE, "python")  # where s.yaml's pre-deploy step installs dependencies
if os.path.isdir(_VENDORED) and _VENDORED not in sys.path:
    sys.path.insert(0, _VENDORED)

from casrelay import config, log  # noqa: E402
from casrelay.cas.credentials import resolve as resolve_credentials  # noqa: E402
from casrelay.ledger.exceptions import StoreUnavailable  # noqa: E402
from casrelay.relay import Relay, unconfigured_response  # noqa: E402

gc.enable()

_relay: Relay | None = None
_config_error: str | None = None
_init_lock = threading.Lock()


def _setup() -> Relay | None:
    global _relay, _config_error
    with _init_lock:
        if _relay is None and _config_error is None:
            try:
                _relay = Relay(config.load())
            except (config.ConfigError, StoreUnavailable) as exc:
                _config_error = str(exc)
                log.emit("config.invalid", 40, reason=_config_error)
        return _relay


def initialize(context: Any) -> None:
    gc.disable()
    try:
        _initialize(context)
    finally:
        gc.freeze()
        gc.enable()


def _initialize(context: Any) -> None:
    relay = _setup()
    if relay is None:
        return
    creds = resolve_credentials(context)
    relay.gateway.warm(creds)
    if relay.settings.warm_connection and not relay.gateway.warm_connection(creds, relay.settings.default_product_code):
        log.emit("cas.warmup_failed", 30, reason="DescribePackageState failed; the first order sets up the connection")
    if os.environ.get("FC_FUNCTION_NAME") and relay.ledger_config.store_url.startswith("sqlite:"):
        log.emit("ledger.single_instance", 30, store="sqlite",
                 reason="IDEMPOTENCY_STORE is SQLite, which each FC instance keeps to itself; with more than "
                        "one instance a duplicate can be ordered twice. Use redis:// in production.")


def handler(event: Any, context: Any) -> Any:
    relay = _relay or _setup()
    if relay is None:
        return unconfigured_response(event, _config_error or "invalid configuration",
                                     getattr(context, "request_id", None))
    return relay.handle(event, context)


def reset_for_tests() -> None:
    """Forget the instance state so a test can change the environment; FC never calls this."""
    global _relay, _config_error
    with _init_lock:
        _relay = None
        _config_error = None
