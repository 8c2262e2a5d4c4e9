"""Inbound Standard Webhooks authentication: the HTTP trigger never spends a package for a stranger."""

from __future__ import annotations

import base64
import json
import time

import pytest

import index
from devkit.fc_local import sign_webhook
from tests.conftest import HttpClient

ORDER = {"Domain": "www.example.com"}
OTHER_SECRET = "whsec_" + base64.b64encode(b"another-secret-of-24-bytes!!").decode()


def _no_orders(embedded) -> bool:
    return embedded.emulator.orders() == []


def test_unsigned_request_is_401_and_orders_nothing(client, embedded):
    res = client.request(ORDER, signed=False)
    assert res["statusCode"] == 401
    assert "missing" in client.json(res)["Message"]
    assert "WWW-Authenticate" in res["headers"]
    assert _no_orders(embedded)


def test_forged_signature_is_401(client, embedded):
    res = client.request(ORDER, secret=OTHER_SECRET)
    assert res["statusCode"] == 401
    assert _no_orders(embedded)


def test_body_changed_after_signing_is_401(client, embedded):
    body = json.dumps(ORDER).encode()
    headers = sign_webhook(embedded.webhook_secret, body)
    res = client.request(json.dumps({"Domain": "evil.example.com"}),
                         headers={"Content-Type": "application/json", **headers}, signed=False)
    assert res["statusCode"] == 401
    assert _no_orders(embedded)


@pytest.mark.parametrize("offset", [-301, 301])
def test_timestamp_outside_five_minutes_is_401(client, embedded, offset):
    body = json.dumps(ORDER).encode()
    headers = sign_webhook(embedded.webhook_secret, body, timestamp=int(time.time()) + offset)
    res = client.request(body, headers={"Content-Type": "application/json", **headers}, signed=False)
    assert res["statusCode"] == 401
    assert "timestamp" in client.json(res)["Message"]


def test_timestamp_within_tolerance_is_accepted(client, embedded):
    body = json.dumps(ORDER).encode()
    headers = sign_webhook(embedded.webhook_secret, body, timestamp=int(time.time()) - 240)
    res = client.request(body, headers={"Content-Type": "application/json", **headers}, signed=False)
    assert res["statusCode"] == 200


@pytest.mark.parametrize("signature", ["garbage", "v1,", "v1,!!!notbase64", "v2,abc", ""])
def test_malformed_signature_headers_are_401_never_500(client, signature):
    body = json.dumps(ORDER).encode()
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(int(time.time())), "webhook-signature": signature}
    res = client.request(body, headers={"Content-Type": "application/json", **headers}, signed=False)
    assert res["statusCode"] == 401


def test_non_numeric_timestamp_is_401(client):
    headers = {"webhook-id": "msg_1", "webhook-timestamp": "nan", "webhook-signature": "v1,AAAA"}
    assert client.request(ORDER, headers=headers, signed=False)["statusCode"] == 401


def test_any_configured_secret_verifies_so_secrets_can_rotate(embedded, monkeypatch):
    monkeypatch.setenv("WEBHOOK_SECRETS", f"{OTHER_SECRET} {embedded.webhook_secret}")
    index.reset_for_tests()
    client = HttpClient(embedded)
    assert client.request(ORDER, secret=OTHER_SECRET)["statusCode"] == 200
    assert client.request({"Domain": "b.example.com"}, secret=embedded.webhook_secret)["statusCode"] == 200


def test_several_signatures_in_one_header_pass_when_one_matches(client, embedded):
    body = json.dumps(ORDER).encode()
    good = sign_webhook(embedded.webhook_secret, body)
    bad = sign_webhook(OTHER_SECRET, body, msg_id=good["webhook-id"], timestamp=int(good["webhook-timestamp"]))
    headers = {**good, "webhook-signature": f"{bad['webhook-signature']} {good['webhook-signature']}"}
    res = client.request(body, headers={"Content-Type": "application/json", **headers}, signed=False)
    assert res["statusCode"] == 200


def test_header_names_are_case_insensitive(client, embedded):
    body = json.dumps(ORDER).encode()
    headers = {k.upper(): v for k, v in sign_webhook(embedded.webhook_secret, body).items()}
    res = client.request(body, headers={"content-type": "application/json", **headers}, signed=False)
    assert res["statusCode"] == 200


def test_webhook_auth_none_must_be_explicit_and_then_admits_unsigned_requests(embedded, monkeypatch):
    monkeypatch.setenv("WEBHOOK_AUTH", "none")
    index.reset_for_tests()
    assert HttpClient(embedded).request(ORDER, signed=False)["statusCode"] == 200


def test_auth_on_without_secrets_is_503_not_open(embedded, monkeypatch):
    monkeypatch.delenv("WEBHOOK_AUTH")
    monkeypatch.setenv("WEBHOOK_SECRETS", "")
    index.reset_for_tests()
    res = HttpClient(embedded).request(ORDER, signed=False)
    assert res["statusCode"] == 503
    assert "WEBHOOK_SECRETS" in res["body"]
    assert _no_orders(embedded)


def test_a_bad_configuration_answers_503_naming_the_variable(embedded, monkeypatch):
    monkeypatch.setenv("WEBHOOK_SECRETS", "not-a-whsec-secret")
    index.reset_for_tests()
    res = HttpClient(embedded).request(ORDER, signed=False)
    assert res["statusCode"] == 503
    assert "WEBHOOK_SECRETS" in res["body"]
    assert "not-a-whsec-secret" not in res["body"]
