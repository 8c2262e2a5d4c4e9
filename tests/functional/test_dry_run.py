"""Dry run: the order is validated and signed, nothing is ordered, and nothing usable is handed out."""

from __future__ import annotations

import json

import index
from devkit.cas_emulator import DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET
from devkit.fc_local import make_context
from tests.conftest import HttpClient

ORDER = {"Domain": "dry.example.com", "ValidateType": "DNS", "Tags": [{"Key": "team", "Value": "a b"}]}


def test_a_dry_run_request_returns_the_signed_call_and_orders_nothing(client, embedded):
    res = client.request({**ORDER, "DryRun": True})
    assert res["statusCode"] == 200, res["body"]
    doc = json.loads(res["body"])
    assert doc["DryRun"] is True and doc["Action"] == "CreateCertificateForPackageRequest"
    assert doc["Parameters"]["Domain"] == "dry.example.com"
    assert doc["Parameters"]["Tags.1.Value"] == "a b"
    assert doc["Parameters"]["ProductCode"] == "symantec-free-1-free"
    assert doc["Url"].startswith(f"http://{embedded.emulator.endpoint}/?")
    auth = doc["Headers"]["authorization"]
    assert auth.startswith("ACS3-HMAC-SHA256 Credential=LTAI***,SignedHeaders=")
    assert auth.endswith("Signature=<redacted>")
    assert DEMO_ACCESS_KEY_ID not in res["body"] and DEMO_ACCESS_KEY_SECRET not in res["body"]
    assert embedded.emulator.orders() == [] and embedded.emulator.requests() == []
    assert embedded.pushed() == []


def test_dry_run_still_reports_invalid_orders(client):
    res = client.request({"Domain": "bad_name.example.com", "DryRun": "true"})
    assert res["statusCode"] == 400


def test_dry_run_flag_must_be_a_boolean(client):
    res = client.request({**ORDER, "DryRun": "maybe"})
    assert res["statusCode"] == 400
    assert json.loads(res["body"])["Errors"][0]["Field"] == "DryRun"


def test_dry_run_env_turns_every_order_into_a_dry_run(embedded, monkeypatch):
    monkeypatch.setenv("DRY_RUN", "true")
    index.reset_for_tests()
    res = HttpClient(embedded).request(ORDER)
    assert json.loads(res["body"])["DryRun"] is True
    direct = index.handler(json.dumps({"Domain": "dry2.example.com"}).encode(), make_context())
    assert direct["DryRun"] is True
    assert embedded.emulator.orders() == []


def test_dry_run_does_not_claim_the_key_so_the_real_order_follows(client, embedded):
    client.request({**ORDER, "DryRun": "true"})
    res = client.request(ORDER)
    assert res["statusCode"] == 200
    assert len(embedded.emulator.orders()) == 1
