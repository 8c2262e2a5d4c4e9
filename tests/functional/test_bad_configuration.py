"""No configuration value can break the function: every unusable one is the documented 503 naming it.

For every variable the code reads (found by reading the code, so a new one is covered at once) and
a set of hostile values, the function on the embedded default must:

- never raise out of ``index.initialize``;
- answer an HTTP event with a dict holding ``statusCode``: 503 whose Message names the variable when
  the value is unusable, or the order when it is acceptable;
- answer a timer event with a dict;
- let a direct invocation and a queue batch raise nothing but ``TransientFailure`` (how FC and
  EventBridge redeliver instead of losing the order), whose message names the variable.

A value of only spaces means the same as the variable being unset. The function's credentials are
the one place where CAS, not casrelay, judges a well-formed value: a key that CAS does not know is
its 502 ``CasFailed`` (README, "HTTP statuses").
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import index
from casrelay.entry.redelivery import TransientFailure
from devkit.embedded import Embedded, embedded_default
from devkit.fc_local import http_event, make_context, sign_webhook

ROOT = Path(__file__).resolve().parents[2]
CODE = ROOT / "handler"
#: ``env.get("NAME"``, ``(… else env).get("NAME"``, ``os.environ.get("NAME"``, ``os.environ["NAME"]``,
#: ``os.getenv("NAME"``, and ``env_int(env, "NAME"``, ``env_flag(``, ``env_float(``, ``env_seconds_list(``,
#: ``env_endpoint(``, ``env_protocol(``.
_READS = re.compile(r'(?:\b(?:env|environ|source)\)?\.get\(|\benviron\[|\bgetenv\('
                    r'|\b(?:env_int|env_flag|env_float|env_seconds_list|env_endpoint|env_protocol)\(\s*\w+\s*,)'
                    r'\s*"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)"')
#: Variables FC itself sets, which no deployment chooses.
SET_BY_FC = {"FC_FUNCTION_NAME"}
#: Each case places a few orders; the function's pacing under CAS_MAX_QPS is not what these tests are about.
UNPACED = {"CAS_MAX_QPS": "1000"}
CREDENTIALS = ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_SECURITY_TOKEN")


def variables_the_code_reads() -> list[str]:
    names: set[str] = set()
    for path in CODE.rglob("*.py"):
        if "python" not in path.relative_to(CODE).parts[:1]:  # handler/python/ holds vendored packages
            names |= set(_READS.findall(path.read_text(encoding="utf-8")))
    return sorted(names)


VARIABLES = variables_the_code_reads()

HOSTILE = {
    "spaces": "   ",
    "garbage": "garbage text !",
    "negative": "-1",
    "huge": "99999999999999999999",
    "nan": "nan",
    "inf": "inf",
    "non-ascii": "ünïcødé-中文",
    "very-long": "x" * 5000,
    "bad-port-url": "redis://127.0.0.1:99999/0",
    "relative-path": "relative/path",
    "missing-path": "/does/not/exist/casrelay",
}
#: Values that are hostile only to one variable's own syntax.
SPECIFIC = {
    "WEBHOOK_SECRETS": {"whsec-not-base64": "whsec_!!!!", "whsec-too-short": "whsec_c2hvcnQ="},
    "CALLBACK_SECRET": {"whsec-not-base64": "whsec_!!!!", "whsec-too-short": "whsec_c2hvcnQ="},
    "IDEMPOTENCY_STORE": {
        "redis-port-not-a-number": "redis://127.0.0.1:port/0",
        "redis-port-zero": "redis://127.0.0.1:0/0",
        "redis-db-not-a-number": "redis://127.0.0.1:6379/first",
        "redis-bad-option": "redis://127.0.0.1:6379/0?socket_timeout=soon",
        "redis-bad-ipv6": "redis://[::1/0",
        "unix-relative": "unix://relative/redis.sock",
        "sqlite-root": "sqlite:///",
        "sqlite-unwritable": "sqlite:///proc/casrelay/ledger.sqlite3",
        "sqlite-relative": "sqlite://relative.sqlite3",
    },
    "ORDER_SINKS": {"bad-ipv6": "https://[::1", "file-relative": "file://relative.jsonl", "mns-no-queue": "mns://",
                    "sqs-no-region": "sqs://orders", "stdout-path": "stdout:/x"},
    "CAS_ENDPOINT": {"port-out-of-range": "127.0.0.1:99999", "port-zero": "127.0.0.1:0", "bad-ipv6": "[::1"},
    "CAS_CA_FILE": {"not-pem": str(Path(__file__).resolve()), "directory": str(ROOT)},
    "MNS_ENDPOINT": {"bad-port": "https://mns.example.com:99999"},
}
CASES = [pytest.param(name, value, id=f"{name}={label}")
         for name in VARIABLES for label, value in {**HOSTILE, **SPECIFIC.get(name, {})}.items()]


@dataclass(frozen=True)
class Outcome:
    """What each kind of invocation got, reduced to what the contract speaks about."""

    initialize: str  # "ok", or the type of what it raised
    http_status: int | None
    http_code: str | None
    http_message: str
    timer: str  # "dict", or what came back or was raised
    direct: str  # "placed", "raised TransientFailure: …", "raised <type>", or "returned …"
    batch: str  # "placed", "raised TransientFailure: …", "raised <type>", or "returned …"

    def comparable(self) -> tuple[Any, ...]:
        """The outcome without the request-specific parts of the messages."""
        return (self.initialize, self.http_status, self.http_code, self.timer, self.direct.split(":", 1)[0],
                self.batch.split(":", 1)[0])


@contextmanager
def configured(name: str, value: str | None) -> Iterator[Embedded]:
    """The embedded default with ``name`` set to ``value``, or unset for None."""
    env = {**UNPACED, **({} if value is None else {name: value})}
    with embedded_default(extra_env=env, qps=None) as emb:
        saved = os.environ.pop(name, None) if value is None else None
        index.reset_for_tests()
        try:
            yield emb
        finally:
            if saved is not None:
                os.environ[name] = saved


def context() -> Any:
    """A context without ``credentials``, as python3.12 gives: the environment is the only source."""
    ctx = make_context()
    ctx.credentials = None
    return ctx


def _raised(exc: BaseException) -> str:
    return f"raised TransientFailure: {exc}" if isinstance(exc, TransientFailure) else f"raised {type(exc).__name__}"


def every_trigger(emb: Embedded) -> Outcome:
    tag = uuid.uuid4().hex[:12]
    try:
        index.initialize(context())
        initialize = "ok"
    except BaseException as exc:  # that it raised at all is the finding
        initialize = type(exc).__name__

    body = json.dumps({"Domain": f"http-{tag}.example.com"}).encode()
    headers = {"Content-Type": "application/json", **sign_webhook(emb.webhook_secret, body)}
    try:
        result = index.handler(json.dumps(http_event("POST", "/", {}, headers, body)).encode(), context())
    except BaseException as exc:
        result = _raised(exc)
    if isinstance(result, dict) and isinstance(result.get("statusCode"), int):
        doc = json.loads(result["body"])
        http_status, http_code, http_message = result["statusCode"], doc.get("Code"), str(doc.get("Message", ""))
    else:
        http_status, http_code, http_message = None, None, repr(result)[:300]

    timer_event = {"triggerTime": "2026-12-01T00:00:00Z", "triggerName": "sweep", "payload": ""}
    try:
        timer_result = index.handler(json.dumps(timer_event).encode(), context())
        timer = "dict" if isinstance(timer_result, dict) else f"returned {type(timer_result).__name__}"
    except BaseException as exc:
        timer = _raised(exc)

    try:
        done = index.handler(json.dumps({"Domain": f"direct-{tag}.example.com"}).encode(), context())
        direct = "placed" if isinstance(done, dict) and "OrderIdString" in done else f"returned {done!r}"[:300]
    except BaseException as exc:
        direct = _raised(exc)

    queue_event = {"id": tag, "source": "MNS-casrelay-orders", "specversion": "1.0", "type": "mns:Queue:SendMessage",
                   "data": {"messageId": tag, "messageBody": json.dumps({"Domain": f"queue-{tag}.example.com"})}}
    try:
        summary = index.handler(json.dumps(queue_event).encode(), context())
        placed = isinstance(summary, dict) and summary.get("Counts") in ({"placed": 1}, {"duplicate": 1})
        batch = "placed" if placed else f"returned {summary!r}"[:300]
    except BaseException as exc:
        batch = _raised(exc)
    return Outcome(initialize, http_status, http_code, http_message, timer, direct, batch)


def outcome_of(name: str, value: str | None) -> Outcome:
    with configured(name, value) as emb:
        return every_trigger(emb)


def test_the_variables_found_in_the_code_include_every_documented_one() -> None:
    assert {"CAS_ENDPOINT", "WEBHOOK_SECRETS", "IDEMPOTENCY_STORE", "ORDER_SINKS", "CALLBACK_SECRET",
            "MNS_ENDPOINT", "SQS_REGION", "AWS_REGION", "CAS_MAX_QPS", "DRY_RUN", "ORDER_TAG_KEY",
            "FC_FUNCTION_NAME", "FOLLOW_ORDERS", "FOLLOW_BACKOFF_SECONDS", "FOLLOW_INCLUDE_CERTIFICATE",
            "DELETE_FAILED_ORDERS", "DNS_AUTOVALIDATE", "ALIDNS_ENDPOINT", "ALIDNS_PROTOCOL",
            *CREDENTIALS} <= set(VARIABLES)


def test_every_variable_is_named_by_some_component_of_the_last_line_of_defence() -> None:
    named = {variable for _, _, variables in index.COMPONENT_VARIABLES for variable in variables}
    assert set(VARIABLES) - SET_BY_FC <= named


@pytest.mark.parametrize(("name", "value"), CASES)
def test_no_configuration_value_escapes_as_an_exception_and_an_unusable_one_is_a_503_naming_it(name, value):
    got = outcome_of(name, value)
    assert got.initialize == "ok", got
    assert got.http_status is not None, f"the HTTP event was not answered as HTTP: {got}"
    assert got.timer == "dict", got
    for kind in (got.direct, got.batch):
        assert kind == "placed" or kind.startswith(("raised TransientFailure", "returned")), got
    if not value.strip():  # blank is unset: the variable's default applies
        assert got.comparable() == outcome_of(name, None).comparable(), got
        return
    if got.http_status == 503 and got.http_code not in ("CasUnavailable", "LedgerUnavailable", "DeliveryPending"):
        assert name in got.http_message, got
        for kind in (got.direct, got.batch):
            assert kind.startswith("raised TransientFailure") and name in kind, got
        assert value not in got.http_message or name not in ("WEBHOOK_SECRETS", "CALLBACK_SECRET", *CREDENTIALS)
    elif got.http_status == 200:
        assert (got.direct, got.batch) == ("placed", "placed"), got
    else:
        assert name in CREDENTIALS[:2] and (got.http_status, got.http_code) == (502, "CasFailed"), got
        assert got.direct.startswith("raised TransientFailure: CasFailed"), got
        assert got.batch.startswith("raised TransientFailure"), got  # the batch is redelivered once CAS agrees


# --- the last line of defence ----------------------------------------------------------------------


SECRET_TEXT = "password=hunter2-do-not-show"


def _explode(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError(SECRET_TEXT)


@pytest.mark.parametrize(
    ("target", "component", "variable"),
    [
        ("casrelay.push.config.load_config", "the downstream sinks", "ORDER_SINKS"),
        ("casrelay.auth.Webhook", "webhook authentication", "WEBHOOK_SECRETS"),
        ("casrelay.ledger.persistence.sqlite.SqliteStore._migrate", "the idempotency store", "IDEMPOTENCY_STORE"),
    ],
)
def test_an_unforeseen_failure_while_building_the_relay_is_the_503_naming_that_parts_variables(
        embedded, monkeypatch, capsys, target, component, variable):
    monkeypatch.setattr(target, _explode)
    index.reset_for_tests()
    capsys.readouterr()
    got = every_trigger(embedded)
    assert got.initialize == "ok" and got.timer == "dict", got
    assert got.http_status == 503 and got.http_code == "NotConfigured", got
    assert variable in got.http_message and (component in got.http_message or variable == "IDEMPOTENCY_STORE")
    for kind in (got.direct, got.batch):
        assert kind.startswith("raised TransientFailure") and variable in kind, got
    out = capsys.readouterr().out
    assert SECRET_TEXT not in out and SECRET_TEXT not in got.http_message
    assert "RuntimeError" in out  # the log names the exception's type, and only that


def test_initialize_swallows_a_failing_warm_up_and_logs_its_type(embedded, monkeypatch, capsys):
    monkeypatch.setattr("casrelay.cas.client.CasClient.warm", _explode)
    index.reset_for_tests()
    index.initialize(context())
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    failed = [line for line in lines if line.get("event") == "initialize.failed"]
    assert failed and failed[0]["error"] == "RuntimeError"
    assert SECRET_TEXT not in json.dumps(lines)


def test_a_bug_that_escapes_the_relay_is_an_http_500_for_http_and_a_redelivery_for_the_rest(embedded, monkeypatch):
    monkeypatch.setattr("casrelay.app.App.handle", _explode)
    index.reset_for_tests()
    got = every_trigger(embedded)
    assert (got.http_status, got.http_code) == (500, "InternalError"), got
    assert SECRET_TEXT not in got.http_message
    assert got.timer == "dict", got  # a timer has nothing to redeliver: the next tick sweeps again
    assert got.direct.startswith("raised TransientFailure: InternalError"), got
    assert got.batch.startswith("raised TransientFailure: InternalError"), got


# --- the escapes found, one by one ---------------------------------------------------------------


@pytest.mark.parametrize("url", ["redis://127.0.0.1:99999/0", "redis://:hunter2@127.0.0.1:port/0",
                                 "redis://:hunter2@127.0.0.1:6379/0?socket_timeout=soon"])
def test_an_unusable_redis_url_is_a_store_config_error_that_never_shows_the_url(url):
    from casrelay.ledger import open_store
    from casrelay.ledger.exceptions import StoreConfigError

    with pytest.raises(StoreConfigError, match="IDEMPOTENCY_STORE") as err:
        open_store(url)
    assert "hunter2" not in str(err.value) and url not in str(err.value)


def test_a_webhook_secret_the_library_cannot_load_is_the_503_naming_webhook_secrets():
    with configured("WEBHOOK_SECRETS", "whsec_!!!!") as emb:
        got = every_trigger(emb)
    assert (got.initialize, got.http_status, got.http_code) == ("ok", 503, "NotConfigured")
    assert "WEBHOOK_SECRETS" in got.http_message and "whsec_!!!!" not in got.http_message


def test_credentials_that_cannot_be_sent_are_a_503_and_never_an_unknown_outcome():
    with configured("ALIBABA_CLOUD_ACCESS_KEY_ID", "ünïcødé") as emb:
        got = every_trigger(emb)
        assert emb.emulator.orders() == []
    assert (got.http_status, got.http_code) == (503, "NotConfigured"), got
    assert "ALIBABA_CLOUD_ACCESS_KEY_ID" in got.http_message and "ünïcødé" not in got.http_message
