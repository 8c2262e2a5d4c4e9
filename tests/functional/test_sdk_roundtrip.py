"""The real SDK against the emulator: what casrelay signs is what CAS would verify and receive."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

import index
from casrelay.cas.credentials import Credentials, resolve
from casrelay.config import load
from casrelay.errors import CasFailed, CasOutcomeUnknown
from casrelay.ordering import open_backend
from casrelay.validation import validate_order
from devkit import cas_emulator
from devkit.fc_local import make_context
from tests.conftest import HttpClient
from tests.csr_factory import make_csr

STS = Credentials(cas_emulator.DEMO_STS_ACCESS_KEY_ID, cas_emulator.DEMO_STS_ACCESS_KEY_SECRET,
                  cas_emulator.DEMO_SECURITY_TOKEN)


def _pem_with_plus() -> str:
    for attempt in range(64):
        pem = make_csr(f"shop{attempt}.example.com")
        if "+" in pem:
            return pem
    raise AssertionError("no CSR with a '+' in 64 attempts")


def _gateway(embedded):
    return open_backend(load(embedded.env))


def test_sts_credentials_sign_with_the_security_token(embedded):
    order = validate_order({"Domain": "sts.example.com"}, load(embedded.env))
    placed = _gateway(embedded).place(order, STS)
    stored = embedded.emulator.get_order(placed.order_id)
    assert stored.access_key_id == cas_emulator.DEMO_STS_ACCESS_KEY_ID


def test_sts_credentials_with_a_wrong_token_are_refused_by_the_emulator(embedded):
    order = validate_order({"Domain": "sts.example.com"}, load(embedded.env))
    wrong = Credentials(STS.access_key_id, STS.access_key_secret, "not-the-token")
    with pytest.raises(CasFailed, match="InvalidSecurityToken"):
        _gateway(embedded).place(order, wrong)
    assert embedded.emulator.orders() == []


def test_context_credentials_win_over_the_environment(embedded, monkeypatch):
    ctx = make_context()
    ctx.credentials = SimpleNamespace(access_key_id=STS.access_key_id, access_key_secret=STS.access_key_secret,
                                      security_token=STS.security_token)
    assert resolve(ctx) == STS
    index.reset_for_tests()
    result = index.handler(json.dumps({"Domain": "ctx.example.com"}).encode(), ctx)
    assert embedded.emulator.get_order(result["OrderId"]).access_key_id == STS.access_key_id


def test_environment_credentials_serve_python312_which_has_no_context_credentials(embedded):
    ctx = SimpleNamespace(request_id="r-1")  # python3.12: no ``credentials`` attribute
    assert resolve(ctx) == Credentials(cas_emulator.DEMO_ACCESS_KEY_ID, cas_emulator.DEMO_ACCESS_KEY_SECRET)
    result = index.handler(json.dumps({"Domain": "py312.example.com"}).encode(), ctx)
    assert result["OrderId"] > 0


def test_a_csr_with_plus_signs_and_newlines_arrives_byte_exact(embedded):
    pem = _pem_with_plus()
    assert "+" in pem and "\n" in pem
    res = HttpClient(embedded).request({"ProductCode": "geotrust-dv-1-starter", "Csr": pem})
    assert res["statusCode"] == 200, res["body"]
    stored = embedded.emulator.orders()[0]
    assert stored.params["Csr"] == pem
    assert json.loads(res["body"])["Domains"] == [stored.domain]


def test_tags_with_spaces_and_stars_arrive_as_tags_n_key_value(embedded):
    tags = [{"Key": "cost center", "Value": "cc 42*"}, {"Key": "team~x", "Value": "platform"}]
    res = HttpClient(embedded).request({"Domain": "tags.example.com", "Tags": tags})
    assert res["statusCode"] == 200, res["body"]
    stored = embedded.emulator.orders()[0]
    assert stored.tags[:2] == tags
    assert stored.params["Tags.1.Key"] == "cost center"
    assert stored.params["Tags.2.Value"] == "platform"
    # casrelay adds one tag of its own, naming the idempotency key, so the order can be found in the console
    assert stored.tags[2]["Key"] == "casrelay-idempotency-key"
    assert stored.tags[2]["Value"].startswith("auto:")


def test_the_idempotency_tag_can_be_turned_off(embedded, monkeypatch):
    monkeypatch.setenv("ORDER_TAG_KEY", "")
    index.reset_for_tests()
    res = HttpClient(embedded).request({"Domain": "notag.example.com"})
    assert res["statusCode"] == 200
    assert embedded.emulator.orders()[0].tags == []


def test_every_order_parameter_reaches_cas_unchanged(embedded):
    order = {"ProductCode": "geotrust-ov-1-personal", "Domain": "a.example.com,b.example.com",
             "ValidateType": "FILE", "Username": "Tom Zhang", "Email": "tom.zhang@example.com",
             "Phone": "13000000000", "CompanyName": "阿里云"}
    res = HttpClient(embedded).request(order)
    assert res["statusCode"] == 200, res["body"]
    params = embedded.emulator.orders()[0].params
    assert {k: v for k, v in params.items() if not k.startswith("Tags.")} == order


def test_the_sdk_itself_never_retries_the_paid_call(embedded):
    order = validate_order({"Domain": "once.example.com"}, load(embedded.env))
    embedded.emulator.fail_next(cas_emulator.ACTION_CREATE, status=503, code="ServiceUnavailable")
    with pytest.raises(CasOutcomeUnknown):  # a 503 proves nothing; casrelay reconciles, the SDK must not resend
        _gateway(embedded).place(order, Credentials(cas_emulator.DEMO_ACCESS_KEY_ID,
                                                           cas_emulator.DEMO_ACCESS_KEY_SECRET))
    assert len(embedded.emulator.requests(cas_emulator.ACTION_CREATE)) == 1
