"""Idempotency through the handler: keys, conflicts, quota pre-check, reconciliation, the operator command."""

from __future__ import annotations

import json

import pytest

import index
from devkit import ledger_admin
from devkit.cas_emulator import ACTION_CREATE, ACTION_PACKAGE_STATE
from devkit.embedded import embedded_default
from devkit.fc_local import make_context
from tests.conftest import HttpClient

ORDER = {"Domain": "idem.example.com", "ValidateType": "DNS"}


def _code(res):
    return json.loads(res["body"])["Code"]


def test_a_repeated_order_is_answered_from_the_ledger_without_calling_cas(client, embedded):
    first = client.request(ORDER)
    again = client.request(ORDER)
    assert json.loads(first["body"])["OrderId"] == json.loads(again["body"])["OrderId"]
    assert again["headers"]["Idempotent-Replayed"] == "true"
    assert len(embedded.emulator.requests(ACTION_CREATE)) == 1


def test_contacts_do_not_change_the_default_key_but_a_different_payload_is_a_conflict(client, embedded):
    client.request({**ORDER, "Email": "a@example.com"})
    res = client.request({**ORDER, "Email": "b@example.com"})
    assert res["statusCode"] == 422
    assert _code(res) == "IdempotencyKeyConflict"
    assert len(embedded.emulator.orders()) == 1


def test_an_explicit_key_orders_the_same_content_again_on_purpose(client, embedded):
    # The header counts only where the signed body repeats it (README, "Inbound authentication").
    a = client.request({**ORDER, "IdempotencyKey": "renewal-2026"}, headers={"Idempotency-Key": "renewal-2026"})
    b = client.request({**ORDER, "IdempotencyKey": "renewal-2027"})
    assert a["statusCode"] == b["statusCode"] == 200
    assert len(embedded.emulator.orders()) == 2
    replay = client.request({**ORDER, "IdempotencyKey": "renewal-2026"})
    assert json.loads(replay["body"])["OrderId"] == json.loads(a["body"])["OrderId"]


def test_the_same_explicit_key_with_a_different_order_is_refused(client, embedded):
    client.request({**ORDER, "IdempotencyKey": "k1"})
    res = client.request({"Domain": "other.example.com", "IdempotencyKey": "k1"})
    assert res["statusCode"] == 422
    assert len(embedded.emulator.orders()) == 1


def test_a_refused_order_is_answered_the_same_way_again_without_calling_cas(client, embedded):
    embedded.emulator.set_quota("symantec-free-1-free", 1, used=1)
    first = client.request(ORDER)
    again = client.request(ORDER)
    assert first["statusCode"] == again["statusCode"] == 402
    assert _code(again) == "NotRemainCount"
    assert len(embedded.emulator.requests(ACTION_CREATE)) == 1


def test_quota_precheck_refuses_an_empty_package_without_an_attempt(monkeypatch):
    with embedded_default(extra_env={"PRECHECK_QUOTA": "true"}) as emb:
        emb.emulator.set_quota("symantec-free-1-free", 2, used=2)
        res = HttpClient(emb).request(ORDER)
        assert res["statusCode"] == 402
        assert "no package left for ProductCode symantec-free-1-free" in json.loads(res["body"])["Message"]
        assert emb.emulator.requests(ACTION_CREATE) == []
        assert len(emb.emulator.requests(ACTION_PACKAGE_STATE)) == 1


def test_unknown_outcome_with_several_candidates_stays_unknown_and_is_never_ordered_again(client, embedded):
    # An order for the same names and product placed outside casrelay makes reconciliation ambiguous.
    from casrelay.cas.credentials import resolve
    from casrelay.config import load
    from casrelay.ordering import open_backend
    from casrelay.validation import validate_order

    settings = load(embedded.env)
    open_backend(settings).place(validate_order(ORDER, settings), resolve(None))
    embedded.emulator.error_after_commit(ACTION_CREATE)
    res = client.request(ORDER)
    assert res["statusCode"] == 502 and _code(res) == "CasOutcomeUnknown"
    assert len(embedded.emulator.orders()) == 2
    # Nothing is pushed as unknown yet: the sweep tries again, and parks it only when it cannot tell.
    assert [m for m in embedded.pushed() if m["Type"] == "certificate.order.unknown"] == []
    assert _code(client.request(ORDER)) == "OrderOutcomeUnknown"
    assert len(embedded.emulator.orders()) == 2  # never ordered a third time


def test_cancel_duplicate_orders_keeps_the_earliest_and_returns_the_quota(monkeypatch):
    with embedded_default(extra_env={"CANCEL_DUPLICATE_ORDERS": "true"}) as emb:
        client = HttpClient(emb)
        emb.emulator.error_after_commit(ACTION_CREATE)
        # the first attempt committed an order but answered 500 ...
        from casrelay.cas.credentials import resolve
        from casrelay.config import load
        from casrelay.ordering import open_backend
        from casrelay.validation import validate_order

        settings = load(emb.env)
        before = emb.emulator.quota("symantec-free-1-free").used
        res = client.request(ORDER)
        assert res["statusCode"] == 200  # adopted: exactly one candidate
        # ... and a stray duplicate for the same key appears (say, a lapsed claim that was re-sent)
        open_backend(settings).place(validate_order(ORDER, settings), resolve(None))
        relay = index._app
        [record] = relay.ledger.store.scan()
        unknown = relay.ledger.unknown(record, {"Code": "CasOutcomeUnknown", "Message": "test"}, "test")
        result = relay.reconciler.run(unknown, resolve(None))
        assert result.adopted and len(result.cancelled) == 1
        kept = result.record.order_id
        assert kept == min(o.order_id for o in emb.emulator.orders())
        assert emb.emulator.get_order(result.cancelled[0]).cancelled
        assert emb.emulator.quota("symantec-free-1-free").used == before + 1


def test_operator_command_lists_and_resolves_unknown_keys(client, embedded, listing_lags, capsys):
    embedded.emulator.drop_before_commit(ACTION_CREATE)
    assert client.request(ORDER)["statusCode"] == 504
    assert ledger_admin.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "unknown" in out and "idem.example.com" in out
    key = next(line.split()[1] for line in out.splitlines() if line.startswith("unknown"))
    assert ledger_admin.main(["reconcile"]) == 0
    assert "unresolved" in capsys.readouterr().out  # within the list lag an empty search proves nothing
    assert ledger_admin.main(["resolve", key, "--not-ordered"]) == 0
    capsys.readouterr()
    index.reset_for_tests()
    res = HttpClient(embedded).request(ORDER)
    assert res["statusCode"] == 200
    assert len(embedded.emulator.orders()) == 1


def test_operator_can_adopt_an_order_found_in_the_console(client, embedded, listing_lags, capsys):
    embedded.emulator.drop_before_commit(ACTION_CREATE)
    client.request(ORDER)
    key = index._app.ledger.pending()[0].key
    assert ledger_admin.main(["resolve", key, "--order-id", "12345678901234567"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["OrderIdString"] == "12345678901234567"
    index.reset_for_tests()
    res = HttpClient(embedded).request(ORDER)
    assert json.loads(res["body"])["OrderIdString"] == "12345678901234567"
    assert embedded.emulator.orders() == []


def test_sqlite_in_fc_warns_at_start_that_it_serves_one_instance(embedded, monkeypatch, capsys):
    monkeypatch.setenv("FC_FUNCTION_NAME", "casrelay")
    monkeypatch.setenv("ALLOW_INSTANCE_LEDGER", "true")  # without it, FC refuses SQLite (test_instance_ledger.py)
    index.reset_for_tests()
    index.initialize(make_context())
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert any(x["event"] == "ledger.single_instance" and x["level"] == "WARNING" for x in lines)


@pytest.mark.parametrize("value", ["abc", "-1", "59"])
def test_retention_must_be_a_sane_number_of_seconds(embedded, monkeypatch, value):
    monkeypatch.setenv("IDEMPOTENCY_RETENTION_SECONDS", value)
    index.reset_for_tests()
    res = HttpClient(embedded).request(ORDER)
    assert res["statusCode"] == 503 and "IDEMPOTENCY_RETENTION_SECONDS" in res["body"]


@pytest.mark.parametrize("value", ["x" * 256, "bad\x01key"])
def test_an_invalid_idempotency_key_header_is_refused_naming_the_header(client, value):
    res = client.request(ORDER, headers={"Idempotency-Key": value})
    assert res["statusCode"] == 400
    assert json.loads(res["body"])["Errors"][0]["Field"] == "Idempotency-Key"


def test_health_allows_get_and_head(client):
    res = client.request(b"", method="POST", path="/health", signed=False)
    assert res["statusCode"] == 405 and res["headers"]["Allow"] == "GET, HEAD"


def test_a_ledger_failure_after_cas_answered_still_delivers_the_order_and_never_orders_twice(
        client, embedded, monkeypatch):
    from dataclasses import replace

    from casrelay.ledger.exceptions import StoreUnavailable

    relay = index._setup()
    real_ordered = relay.ledger.ordered

    def broken(*args, **kwargs):
        raise StoreUnavailable("redis went away")

    monkeypatch.setattr(relay.ledger, "ordered", broken)
    res = client.request(ORDER)
    assert res["statusCode"] == 200
    order_id = json.loads(res["body"])["OrderId"]
    assert [m["Order"]["OrderId"] for m in embedded.pushed()] == [order_id]  # the OrderId was not lost

    # The store comes back. The claim (marked as attempted) lapses with the function's timeout ...
    monkeypatch.setattr(relay.ledger, "ordered", real_ordered)
    [record] = relay.ledger.store.scan()
    lapsed = replace(record, version=record.version + 1, claim_expires_at=0.0)
    assert relay.ledger.store.replace(lapsed, record.version)
    # ... and the next arrival reconciles to the very order CAS placed, instead of ordering again.
    again = client.request(ORDER)
    assert again["statusCode"] == 200
    assert json.loads(again["body"])["OrderId"] == order_id
    assert len(embedded.emulator.orders()) == 1


def test_the_ledger_being_down_before_the_call_orders_nothing(client, embedded, monkeypatch):
    from casrelay.ledger.exceptions import StoreUnavailable

    relay = index._setup()

    def down(*args, **kwargs):
        raise StoreUnavailable("redis went away")

    for operation in ("get", "create", "replace", "delete"):
        monkeypatch.setattr(relay.ledger.store, operation, down)
    res = client.request(ORDER)
    assert res["statusCode"] == 503 and _code(res) == "LedgerUnavailable"
    assert embedded.emulator.orders() == []
