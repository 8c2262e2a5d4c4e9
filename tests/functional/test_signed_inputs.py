"""With WEBHOOK_AUTH=standard the signature covers everything that decides the order.

Standard Webhooks signs ``webhook-id.webhook-timestamp.body`` and nothing else. Whoever holds one
signed request may resend it within the five-minute tolerance with any query string and any
``Idempotency-Key`` header; if either could change the order or its key, each resend would be a new
paid order. So an input outside the signed body is accepted only where the body says exactly the
same, and anything else is refused with 400 ``UnsignedParameter`` before validation, the ledger or
CAS. With WEBHOOK_AUTH=none (FC's ``function`` authentication signs the whole request) the query
string and the header work as before.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import index
from devkit.fc_local import sign_webhook
from tests.conftest import HttpClient

ORDER = {"Domain": "www.example.com", "ValidateType": "DNS"}


def signed(embedded: Any, order: dict[str, Any] | None = ORDER) -> tuple[bytes, dict[str, str]]:
    """One signed request, as a sender made it: the body (empty for ``None``) and its headers, to be replayed."""
    body = b"" if order is None else json.dumps(order).encode()
    return body, {"Content-Type": "application/json", **sign_webhook(embedded.webhook_secret, body)}


def replay(client: HttpClient, body: bytes, headers: dict[str, str], *, query: dict[str, str] | None = None,
           extra_headers: dict[str, str] | None = None) -> dict[str, Any]:
    return client.request(body, query=query, headers={**headers, **(extra_headers or {})}, signed=False)


def assert_refused_as_unsigned(client: HttpClient, res: dict[str, Any], *fields: str) -> dict[str, Any]:
    assert res["statusCode"] == 400, res["body"]
    doc = client.json(res)
    assert doc["Code"] == "UnsignedParameter"
    assert sorted(e["Field"] for e in doc["Errors"]) == sorted(fields)
    assert all(e["Code"] == "UnsignedParameter" for e in doc["Errors"])
    assert "not covered by the Standard Webhooks signature" in doc["Message"]
    assert "signed body" in doc["Message"]
    for error in doc["Errors"]:
        assert "Standard Webhooks signature" in error["Message"] and "signed body" in error["Message"]
    return doc


def test_the_signed_request_itself_places_one_order(client, embedded):
    body, headers = signed(embedded)
    assert replay(client, body, headers)["statusCode"] == 200
    assert len(embedded.emulator.orders()) == 1


def test_a_replay_with_a_new_idempotency_key_header_is_refused_and_orders_nothing(client, embedded):
    body, headers = signed(embedded)
    first = replay(client, body, headers)
    assert first["statusCode"] == 200
    for key in ("replay-1", "replay-2"):
        res = replay(client, body, headers, extra_headers={"Idempotency-Key": key})
        assert_refused_as_unsigned(client, res, "Idempotency-Key")
    assert len(embedded.emulator.orders()) == 1


def test_a_replay_with_a_new_idempotency_key_in_the_query_string_is_refused_and_orders_nothing(client, embedded):
    body, headers = signed(embedded)
    assert replay(client, body, headers)["statusCode"] == 200
    for key in ("replay-1", "replay-2"):
        res = replay(client, body, headers, query={"IdempotencyKey": key})
        assert_refused_as_unsigned(client, res, "IdempotencyKey")
    assert len(embedded.emulator.orders()) == 1


def test_a_replay_that_adds_order_parameters_in_the_query_string_is_refused_and_orders_nothing(client, embedded):
    body, headers = signed(embedded)
    assert replay(client, body, headers)["statusCode"] == 200
    res = replay(client, body, headers, query={"ProductCode": "geotrust-ov-1-personal", "CompanyName": "Evil Ltd."})
    assert_refused_as_unsigned(client, res, "CompanyName", "ProductCode")
    res = replay(client, body, headers, query={"DryRun": "false", "Tags.1.Key": "k", "Tags.1.Value": "v"})
    assert_refused_as_unsigned(client, res, "DryRun", "Tags.1.Key", "Tags.1.Value")
    assert len(embedded.emulator.orders()) == 1


def test_a_query_string_only_order_over_an_empty_signed_body_is_refused_so_its_signature_orders_no_domain(
        client, embedded):
    body, headers = signed(embedded, None)
    for domain in ("www.example.com", "other.example.com", "third.example.org"):
        res = replay(client, body, headers, query={"Action": "CreateCertificateForPackageRequest", "Domain": domain,
                                                   "ValidateType": "DNS"})
        assert_refused_as_unsigned(client, res, "Domain", "ValidateType")
    assert embedded.emulator.orders() == []


def test_a_query_value_that_differs_from_the_signed_body_is_refused(client, embedded):
    body, headers = signed(embedded)
    res = replay(client, body, headers, query={"Domain": "other.example.com"})
    doc = assert_refused_as_unsigned(client, res, "Domain")
    assert "differs" in doc["Errors"][0]["Message"]
    assert embedded.emulator.orders() == []


def test_a_query_string_that_repeats_the_signed_body_exactly_is_accepted(client, embedded):
    body, headers = signed(embedded, {**ORDER, "IdempotencyKey": "order-2026-1"})
    res = replay(client, body, headers, query={"Domain": "www.example.com", "IdempotencyKey": "order-2026-1",
                                               "Action": "CreateCertificateForPackageRequest"})
    assert res["statusCode"] == 200, res["body"]
    assert len(embedded.emulator.orders()) == 1


def test_format_in_the_query_string_only_shapes_the_answer_and_is_accepted(client, embedded):
    body, headers = signed(embedded)
    res = replay(client, body, headers, query={"Format": "XML"})
    assert res["statusCode"] == 200, res["body"]
    assert res["headers"]["Content-Type"].startswith("application/xml")
    assert "<OrderId>" in res["body"]
    assert len(embedded.emulator.orders()) == 1


def test_action_alone_in_the_query_string_is_accepted_when_it_names_the_api(client, embedded):
    body, headers = signed(embedded)
    res = replay(client, body, headers, query={"Action": "CreateCertificateForPackageRequest"})
    assert res["statusCode"] == 200, res["body"]
    assert len(embedded.emulator.orders()) == 1


def test_action_alone_in_the_query_string_with_another_value_is_refused(client, embedded):
    body, headers = signed(embedded)
    res = replay(client, body, headers, query={"Action": "CancelCertificateForPackageRequest"})
    assert_refused_as_unsigned(client, res, "Action")
    assert embedded.emulator.orders() == []


def test_an_idempotency_key_header_that_repeats_the_signed_body_is_accepted_and_is_the_key(client, embedded):
    body, headers = signed(embedded, {**ORDER, "IdempotencyKey": "renewal-2026"})
    res = replay(client, body, headers, extra_headers={"Idempotency-Key": " renewal-2026 "})
    assert res["statusCode"] == 200, res["body"]
    assert embedded.pushed()[-1]["IdempotencyKey"] == "key:renewal-2026"  # explicit keys are marked as such
    assert len(embedded.emulator.orders()) == 1


def test_an_idempotency_key_header_that_differs_from_the_signed_body_is_refused(client, embedded):
    body, headers = signed(embedded, {**ORDER, "IdempotencyKey": "renewal-2026"})
    res = replay(client, body, headers, extra_headers={"Idempotency-Key": "renewal-2027"})
    assert_refused_as_unsigned(client, res, "Idempotency-Key")
    assert embedded.emulator.orders() == []


def test_a_replay_of_the_same_signed_request_is_answered_from_the_ledger_without_a_second_order(client, embedded):
    body, headers = signed(embedded)
    first, again = replay(client, body, headers), replay(client, body, headers)
    assert first["statusCode"] == again["statusCode"] == 200
    assert again["headers"]["Idempotent-Replayed"] == "true"
    assert client.json(again)["OrderId"] == client.json(first)["OrderId"]
    assert len(embedded.emulator.orders()) == 1


def test_webhook_id_is_not_the_key_so_two_messages_for_one_certificate_make_one_order(client, embedded):
    first = client.request(ORDER)  # each request is signed as a new message, with its own webhook-id
    second = client.request(ORDER)
    assert first["statusCode"] == second["statusCode"] == 200
    assert second["headers"].get("Idempotent-Replayed") == "true"
    assert len(embedded.emulator.orders()) == 1
    assert embedded.pushed()[0]["IdempotencyKey"].startswith("auto:")


def test_webhook_id_is_kept_as_the_source_message_id(client, embedded):
    body, headers = signed(embedded)
    assert replay(client, body, headers)["statusCode"] == 200
    source = embedded.pushed()[-1]["Source"]
    assert source == {"Trigger": "http", "MessageId": headers["webhook-id"]}


def test_the_refusal_is_logged_with_known_names_only(client, embedded, capsys):
    body, headers = signed(embedded)
    capsys.readouterr()
    replay(client, body, headers, query={"tom.zhang@example.com": "x", "ProductCode": "geotrust-ov-1-personal"})
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    rejected = [line for line in lines if line.get("event") == "http.rejected"]
    assert rejected and rejected[0]["code"] == "UnsignedParameter"
    assert rejected[0]["fields"] == ["(other)", "ProductCode"]
    assert "tom.zhang" not in json.dumps(lines)


@pytest.fixture()
def open_client(embedded, monkeypatch) -> HttpClient:
    """The function behind FC's ``function`` authentication, which signs the whole request."""
    monkeypatch.setenv("WEBHOOK_AUTH", "none")
    index.reset_for_tests()
    return HttpClient(embedded)


def test_with_webhook_auth_none_a_query_string_only_order_works_as_in_the_document(open_client, embedded):
    query = {"Action": "CreateCertificateForPackageRequest", "Domain": "www.aliyun.com", "ValidateType": "DNS"}
    res = open_client.request(b"", query=query, signed=False)
    assert res["statusCode"] == 200, res["body"]
    assert embedded.emulator.orders()[0].params["Domain"] == "www.aliyun.com"


def test_with_webhook_auth_none_the_idempotency_key_header_alone_is_the_key(open_client, embedded):
    a = open_client.request(ORDER, headers={"Idempotency-Key": "k-2026"}, signed=False)
    b = open_client.request(ORDER, headers={"Idempotency-Key": "k-2027"}, signed=False)
    assert a["statusCode"] == b["statusCode"] == 200
    assert len(embedded.emulator.orders()) == 2
    assert [m["IdempotencyKey"] for m in embedded.pushed()] == ["key:k-2026", "key:k-2027"]
