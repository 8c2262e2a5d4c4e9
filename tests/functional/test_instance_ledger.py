"""A durable ledger or none: inside FC an instance-local ledger takes no order unless it was chosen.

A SQLite file in the instance's ``/tmp`` (the embedded default) or a ``memory://`` store belongs to
one FC instance and vanishes when FC recycles it, so the redelivery of an order an hour later finds
no record and orders again. Inside FC (``FC_FUNCTION_NAME`` is set) such a store is therefore a
configuration error, answered as the documented 503 ``NotConfigured`` naming ``IDEMPOTENCY_STORE``
and ``ALLOW_INSTANCE_LEDGER``, until the deployment sets ``ALLOW_INSTANCE_LEDGER=true``, the way
``WEBHOOK_AUTH=none`` must be chosen. Outside FC (the devkit, the tests) nothing changes.

These run on the embedded default (the CAS emulator on loopback) and pretend to be in FC by setting
``FC_FUNCTION_NAME``, which is all casrelay knows of FC.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import index
from casrelay.entry.redelivery import TransientFailure
from casrelay.ledger import load as load_ledger_config
from casrelay.ledger.config import DEFAULT_STORE, LedgerConfigError, is_instance_local
from devkit.embedded import Embedded
from devkit.fc_local import make_context
from tests.conftest import HttpClient

ORDER = {"Domain": "instance-ledger.example.com", "ValidateType": "DNS"}
TIMER_EVENT = {"triggerTime": "2026-12-01T00:00:00Z", "triggerName": "sweep", "payload": ""}


def _in_fc(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    """Look like an FC instance (with ``env`` on top) and forget the instance built before."""
    monkeypatch.setenv("FC_FUNCTION_NAME", "casrelay")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    index.reset_for_tests()


def _log_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def _assert_refused_naming_both(message: str) -> None:
    assert "IDEMPOTENCY_STORE" in message and "ALLOW_INSTANCE_LEDGER=true" in message, message


# --- the rule, on the ledger settings alone -------------------------------------------------------


@pytest.mark.parametrize("store", ["sqlite:///tmp/ledger.sqlite3", "memory://", ""])
def test_in_fc_an_instance_local_store_is_a_configuration_error_naming_both_variables(store: str) -> None:
    with pytest.raises(LedgerConfigError) as raised:
        load_ledger_config({"FC_FUNCTION_NAME": "casrelay", "IDEMPOTENCY_STORE": store})
    _assert_refused_naming_both(str(raised.value))
    assert "FC_FUNCTION_NAME" in str(raised.value)  # says why casrelay believes it is in FC


@pytest.mark.parametrize("store", ["sqlite:///tmp/ledger.sqlite3", "memory://", ""])
@pytest.mark.parametrize("allow", ["true", "1", "yes", "on", " TRUE "])
def test_in_fc_an_instance_local_store_is_accepted_when_chosen_explicitly(store: str, allow: str) -> None:
    got = load_ledger_config({"FC_FUNCTION_NAME": "casrelay", "IDEMPOTENCY_STORE": store,
                              "ALLOW_INSTANCE_LEDGER": allow})
    assert got.allow_instance_ledger and got.instance_local
    assert got.store_url == (store or DEFAULT_STORE)


@pytest.mark.parametrize("allow", ["false", "0", "no", "off", "", "   "])
def test_an_opt_in_that_says_no_or_nothing_is_no_opt_in(allow: str) -> None:
    with pytest.raises(LedgerConfigError):
        load_ledger_config({"FC_FUNCTION_NAME": "casrelay", "ALLOW_INSTANCE_LEDGER": allow})


@pytest.mark.parametrize("store", ["redis://127.0.0.1:6379/0", "rediss://r.example.com:6380/0",
                                   "unix:///var/run/redis.sock"])
def test_in_fc_a_shared_store_needs_no_opt_in(store: str) -> None:
    got = load_ledger_config({"FC_FUNCTION_NAME": "casrelay", "IDEMPOTENCY_STORE": store})
    assert got.store_url == store and not got.instance_local and not got.allow_instance_ledger


@pytest.mark.parametrize("fc_function_name", [None, "", "   "])
def test_outside_fc_the_local_default_stays_usable_without_the_opt_in(fc_function_name: str | None) -> None:
    env = {} if fc_function_name is None else {"FC_FUNCTION_NAME": fc_function_name}
    got = load_ledger_config(env)
    assert got.store_url == DEFAULT_STORE and not got.allow_instance_ledger


def test_an_unreadable_opt_in_is_refused_naming_it_even_outside_fc() -> None:
    with pytest.raises(LedgerConfigError, match="ALLOW_INSTANCE_LEDGER must be true or false"):
        load_ledger_config({"ALLOW_INSTANCE_LEDGER": "sure"})


def test_the_instance_local_schemes_are_the_ones_open_store_opens_locally() -> None:
    assert is_instance_local("sqlite:///tmp/x.sqlite3") and is_instance_local("memory://")
    assert not any(is_instance_local(url) for url in ("redis://h/0", "rediss://h/0", "unix:///s.sock"))


# --- through index.handler -------------------------------------------------------------------------


@pytest.mark.parametrize("store", ["embedded-sqlite", "memory://", "unset"])
def test_in_fc_without_the_opt_in_every_invocation_is_the_503_naming_both_and_nothing_is_ordered(
        embedded: Embedded, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], store: str) -> None:
    if store == "memory://":
        monkeypatch.setenv("IDEMPOTENCY_STORE", store)
    elif store == "unset":  # the default is a SQLite file in /tmp: forgetting the variable is refused too
        monkeypatch.delenv("IDEMPOTENCY_STORE")
    _in_fc(monkeypatch)
    index.initialize(make_context())  # raises nothing; the instance stays up to say why
    logged = _log_lines(capsys.readouterr().out)
    [invalid] = [line for line in logged if line["event"] == "config.invalid"]
    _assert_refused_naming_both(invalid["reason"])

    client = HttpClient(embedded)
    for _ in range(2):  # every invocation, not only the first
        res = client.request(ORDER)
        assert res["statusCode"] == 503
        body = client.json(res)
        assert body["Code"] == "NotConfigured"
        _assert_refused_naming_both(body["Message"])

    timer = index.handler(json.dumps(TIMER_EVENT).encode(), make_context())
    assert isinstance(timer, dict) and timer["Code"] == "NotConfigured"
    for event in (ORDER, {"id": "m-1", "source": "MNS-casrelay-orders", "specversion": "1.0",
                          "type": "mns:Queue:SendMessage",
                          "data": {"messageId": "m-1", "messageBody": json.dumps(ORDER)}}):
        with pytest.raises(TransientFailure) as raised:  # redelivered once the configuration is fixed
            index.handler(json.dumps(event).encode(), make_context())
        assert str(raised.value).startswith("NotConfigured")
        _assert_refused_naming_both(str(raised.value))

    assert embedded.emulator.orders() == []
    assert embedded.pushed() == []


def test_in_fc_with_the_opt_in_the_instance_orders_and_warns_at_start(
        embedded: Embedded, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _in_fc(monkeypatch, ALLOW_INSTANCE_LEDGER="true")
    index.initialize(make_context())
    logged = _log_lines(capsys.readouterr().out)
    [warning] = [line for line in logged if line["event"] == "ledger.single_instance"]
    assert warning["level"] == "WARNING" and warning["store"] == "sqlite"
    assert not any(line["event"] == "config.invalid" for line in logged)

    client = HttpClient(embedded)
    first, again = client.request(ORDER), client.request(ORDER)
    assert first["statusCode"] == again["statusCode"] == 200
    assert again["headers"]["Idempotent-Replayed"] == "true"
    assert len(embedded.emulator.orders()) == 1


def test_in_fc_a_redis_ledger_orders_with_no_opt_in_and_no_warning(
        embedded: Embedded, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        redis_url: str) -> None:
    _in_fc(monkeypatch, IDEMPOTENCY_STORE=redis_url)
    index.initialize(make_context())
    logged = _log_lines(capsys.readouterr().out)
    assert not any(line["event"] in ("ledger.single_instance", "config.invalid") for line in logged)
    res = HttpClient(embedded).request(ORDER)
    assert res["statusCode"] == 200
    assert len(embedded.emulator.orders()) == 1


def test_outside_fc_the_embedded_default_orders_without_the_opt_in(
        embedded: Embedded, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("FC_FUNCTION_NAME", raising=False)
    monkeypatch.delenv("ALLOW_INSTANCE_LEDGER", raising=False)
    index.reset_for_tests()
    index.initialize(make_context())
    logged = _log_lines(capsys.readouterr().out)
    assert not any(line["event"] in ("ledger.single_instance", "config.invalid") for line in logged)
    assert HttpClient(embedded).request(ORDER)["statusCode"] == 200
