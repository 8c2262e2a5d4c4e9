"""FC entry points: ``index.handler`` and the ``index.initialize`` lifecycle hook.

``initialize`` reads the configuration and warms the CAS SDK once per instance, so the first order
does not pay for the import. ``handler`` also initialises on demand, for deployments that do not
configure the hook. A bad configuration does not crash the instance: every invocation is answered
with a 503 that names the variable, which is easier to find than an initializer stack trace.

Each value is checked where it is read, so the 503 says what is wrong with it. Behind those checks
is a last line of defence: anything else that fails while the relay is built becomes the same 503,
naming the variables of the part that failed (``COMPONENT_VARIABLES``) and logged by the exception's
type only, since its text may hold a secret. ``initialize`` raises nothing (the warm-up included),
and ``handler`` raises only ``TransientFailure``, on purpose, so that FC or the trigger redelivers.
"""

from __future__ import annotations

import gc
import json
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
from casrelay.app import App, unconfigured_response  # noqa: E402
from casrelay.cas.credentials import resolve as resolve_credentials  # noqa: E402
from casrelay.entry.redelivery import TransientFailure  # noqa: E402
from casrelay.errors import internal_error  # noqa: E402
from casrelay.ledger.exceptions import StoreUnavailable  # noqa: E402
from casrelay.response import http_error, status_document  # noqa: E402
from casrelay.triggers.detect import is_http_event, is_timer_event  # noqa: E402

gc.enable()

_app: App | None = None
_config_error: str | None = None
_init_lock = threading.Lock()

#: What each part of the relay reads from the environment, by where its code lives, most specific
#: first. When building the relay fails in a way no check foresaw, the 503 names the variables of
#: the part that failed (never the exception's text, which may hold a secret or a URL's password).
#: tests/functional/test_bad_configuration.py checks that together they name every variable the code reads.
_CAS_VARIABLES = (
    "CAS_ENDPOINT", "CAS_REGION", "CAS_PROTOCOL", "CAS_CA_FILE", "CAS_CONNECT_TIMEOUT_MS", "CAS_READ_TIMEOUT_MS",
    "CAS_MAX_QPS", "CAS_PACER", "ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
    "ALIBABA_CLOUD_SECURITY_TOKEN")
COMPONENT_VARIABLES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("ledger/persistence/", "the idempotency store", ("IDEMPOTENCY_STORE",)),
    ("ledger/", "the order ledger", (
        "IDEMPOTENCY_STORE", "ALLOW_INSTANCE_LEDGER", "IDEMPOTENCY_RETENTION_SECONDS", "IDEMPOTENCY_CLAIM_SECONDS",
        "PRECHECK_QUOTA", "CANCEL_DUPLICATE_ORDERS", "ORDER_TAG_KEY", "SWEEP_MIN_AGE_SECONDS", "SWEEP_MAX_TRIES",
        "RECONCILE_LIST_LAG_SECONDS", "FOLLOW_ORDERS", "FOLLOW_BACKOFF_SECONDS")),
    ("follow/dns/", "the DNS automation", (
        "DNS_AUTOVALIDATE", "ALIDNS_ENDPOINT", "ALIDNS_PROTOCOL", "CAS_CA_FILE", "CAS_CONNECT_TIMEOUT_MS",
        "CAS_READ_TIMEOUT_MS", "ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
        "ALIBABA_CLOUD_SECURITY_TOKEN")),
    ("follow/", "the lifecycle follower", (
        "FOLLOW_ORDERS", "FOLLOW_BACKOFF_SECONDS", "FOLLOW_INCLUDE_CERTIFICATE", "DELETE_FAILED_ORDERS",
        "DNS_AUTOVALIDATE")),
    ("flows/sweep.py", "the sweep", ("SWEEP_MIN_AGE_SECONDS", "SWEEP_MAX_TRIES", "RECONCILE_LIST_LAG_SECONDS")),
    ("push/", "the downstream sinks", (
        "ORDER_SINKS", "CALLBACK_SECRET", "CALLBACK_ALLOW_HOSTS", "CALLBACK_TIMEOUT_MS", "CALLBACK_MAX_ATTEMPTS",
        "MNS_ENDPOINT", "SQS_REGION", "AWS_REGION", "ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
        "ALIBABA_CLOUD_SECURITY_TOKEN")),
    ("ordering/", "the CAS client", _CAS_VARIABLES),
    ("cas/", "the CAS client", _CAS_VARIABLES),
    ("auth.py", "webhook authentication", ("WEBHOOK_AUTH", "WEBHOOK_SECRETS")),
    ("", "the settings", (
        "CAS_ENDPOINT", "CAS_REGION", "CAS_PROTOCOL", "CAS_CA_FILE", "CAS_CONNECT_TIMEOUT_MS", "CAS_READ_TIMEOUT_MS",
        "DEFAULT_PRODUCT_CODE", "WEBHOOK_AUTH", "WEBHOOK_SECRETS", "MAX_BODY_BYTES", "CAS_MAX_QPS",
        "BATCH_CONCURRENCY", "CAS_WARM_CONNECTION", "DRY_RUN", "CAS_ORDER_API", "CAS_TASK_WAIT_SECONDS",
        "ALIBABA_CLOUD_ACCESS_KEY_ID",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_SECURITY_TOKEN")),
)
_PACKAGE_DIR = os.path.join(_HERE, "casrelay") + os.sep


def failed_component(exc: BaseException) -> tuple[str, tuple[str, ...]]:
    """The part of casrelay whose code raised ``exc`` (the innermost casrelay frame), and its variables."""
    where = ""
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.startswith(_PACKAGE_DIR):
            where = filename[len(_PACKAGE_DIR):].replace(os.sep, "/")
        tb = tb.tb_next
    for prefix, name, variables in COMPONENT_VARIABLES:
        if where.startswith(prefix):
            return name, variables
    return COMPONENT_VARIABLES[-1][1], COMPONENT_VARIABLES[-1][2]


def _unusable(exc: Exception) -> str:
    """The 503's message for a failure no check foresaw; the log gets the exception's type, never its text."""
    name, variables = failed_component(exc)
    log.emit("config.invalid", 40, component=name, error=type(exc).__name__, where=log.where(exc),
             reason="building the relay failed unexpectedly")
    return (f"casrelay cannot start with this configuration: setting up {name} failed; check "
            f"{', '.join(variables)} (the function's log names the error type)")


def _setup() -> App | None:
    global _app, _config_error
    with _init_lock:
        if _app is None and _config_error is None:
            try:
                _app = App(config.load())
            except (config.ConfigError, StoreUnavailable) as exc:
                _config_error = str(exc)
                log.emit("config.invalid", 40, reason=_config_error)
            except Exception as exc:  # the last line of defence: an instance never fails on its configuration
                _config_error = _unusable(exc)
        return _app


def initialize(context: Any) -> None:
    gc.disable()
    try:
        _initialize(context)
    except Exception as exc:  # FC would fail the instance; the first invocation sets up again or says why
        log.emit("initialize.failed", 40, error=type(exc).__name__, where=log.where(exc))
    finally:
        gc.freeze()
        gc.enable()


def _initialize(context: Any) -> None:
    app = _setup()
    if app is None:
        return
    creds = resolve_credentials(context)
    app.backend.warm(creds)
    from casrelay.validation.domains import public_suffix_list

    public_suffix_list()  # about 80 ms to build; the initializer pays it, not the first order
    if app.settings.warm_connection and not app.backend.warm_connection(creds, app.settings.default_product_code):
        log.emit("cas.warmup_failed", 30, reason="DescribePackageState failed; the first order sets up the connection")
    if os.environ.get("FC_FUNCTION_NAME", "").strip() and app.ledger_config.instance_local:
        # Reached only with ALLOW_INSTANCE_LEDGER=true (ledger.config refuses it otherwise): the risk was
        # chosen, but every instance start says so, so it is not forgotten once the deployment grows.
        log.emit("ledger.single_instance", 30, store=app.ledger_config.store_url.split(":", 1)[0],
                 reason="IDEMPOTENCY_STORE is instance-local (ALLOW_INSTANCE_LEDGER=true): each FC instance keeps "
                        "its own ledger and loses it when recycled, so a redelivery can be ordered twice. "
                        "Use redis:// in production.")


def handler(event: Any, context: Any) -> Any:
    request_id = getattr(context, "request_id", None)
    try:
        app = _app or _setup()
        if app is None:
            return unconfigured_response(event, _config_error or "invalid configuration", request_id)
        return app.handle(event, context)
    except TransientFailure:
        raise  # deliberate: FC or the trigger redelivers
    except Exception as exc:  # a bug that escaped the relay: HTTP still gets HTTP, a timer a dict, others redelivery
        log.emit("internal.error", 40, fc_request_id=request_id, where=log.where(exc))
        data = _decoded(event)
        if is_http_event(data):
            return http_error(internal_error(), request_id, xml=False)
        if is_timer_event(data):  # nothing to redeliver: the next tick sweeps again
            return status_document(internal_error(), request_id)
        raise TransientFailure("InternalError: casrelay failed unexpectedly; the error has been logged") from None


def _decoded(event: Any) -> Any:
    try:
        return json.loads(event) if isinstance(event, (bytes, bytearray, str)) else event
    except (ValueError, RecursionError):
        return None


def reset_for_tests() -> None:
    """Forget the instance state so a test can change the environment; FC never calls this."""
    global _app, _config_error
    with _init_lock:
        _app = None
        _config_error = None
