"""Instance mode against what an attacker with one signed request, or bad luck, can do: an order's own tags
never make another application ours, a failed application frees its instance, a busy instance is not a
stored refusal, and the key tag reconciliation relies on is always sent."""

from __future__ import annotations

import json
from typing import Any

import index
from tests.conftest import HttpClient
from tests.functional.test_instance_orders import applied, created, start


def _body(res: dict[str, Any]) -> dict[str, Any]:
    return json.loads(res["body"])


def test_an_order_sharing_a_tag_with_an_applied_instance_is_not_told_that_instance_is_its_order() -> None:
    with start("2xDigiCert:DV:1+0") as emb:
        target = emb.emulator.instances()[0].instance_id
        team = [{"Key": "team", "Value": "web"}]
        first = HttpClient(emb).request({"Domain": "a.example.com", "InstanceId": target, "Tags": team})
        assert first["statusCode"] == 200, first["body"]
        app = index._app or index._setup()
        [record] = [r for r in app.ledger.store.scan() if r.key.startswith("auto:")]
        app.ledger.store.delete(record.key, record.version)  # its record is gone (retention): its lease is stale
        second = HttpClient(emb).request({"Domain": "b.example.com", "InstanceId": target, "Tags": team})
        assert second["statusCode"] != 200 and _body(second)["Code"] == "InstanceNotUsable"
        assert [m["Order"]["Domains"] for m in created(emb)] == [["a.example.com"]]


def test_an_order_s_own_tag_under_casrelay_s_key_never_replaces_the_key_tag() -> None:
    with start("1xDigiCert:DV:1+0") as emb:
        forged = [{"Key": "casrelay-idempotency-key", "Value": "auto:someone-else"}]
        res = HttpClient(emb).request({"Domain": "c.example.com", "Tags": forged})
        assert res["statusCode"] == 200, res["body"]
        tag = emb.emulator.get_instance(_body(res)["InstanceId"]).tags["casrelay-idempotency-key"]
        assert tag.startswith("auto:") and tag != "auto:someone-else"


def test_a_failed_application_is_refused_and_frees_its_instance_for_the_next_order() -> None:
    with start("1xDigiCert:DV:1+0", env={"CAS_TASK_WAIT_SECONDS": "5"}, application_seconds=0.1) as emb:
        emb.emulator.fail_applications(1, message="domain validation failed")
        failed = HttpClient(emb).request({"Domain": "d.example.com"})
        assert failed["statusCode"] == 400 and _body(failed)["Code"] == "ApplicationFailed", failed["body"]
        assert "domain validation failed" in _body(failed)["Message"]
        assert created(emb) == [] and [m["Type"] for m in emb.pushed()] == ["certificate.order.failed"]
        again = HttpClient(emb).request({"Domain": "e.example.com"})  # the one instance takes the next order
        assert again["statusCode"] == 200, again["body"]


def test_an_instance_named_while_another_order_holds_it_is_answered_409_and_not_remembered() -> None:
    with start("2xDigiCert:DV:1+0") as emb:
        target = emb.emulator.instances()[0].instance_id
        app = index._app or index._setup()
        holder = app.ledger.claim("key:holder", "h", {"domains": ["x.example.com"], "product": "p"}, {}, 600,
                                  attempt=True).record
        from casrelay.ledger.lease import InstanceLeases

        holder, held = InstanceLeases(app.ledger).take(holder, target)
        assert held
        busy = HttpClient(emb).request({"Domain": "f.example.com", "InstanceId": target})
        assert busy["statusCode"] == 409 and _body(busy)["Code"] == "InstanceInUse"
        assert "Retry-After" in busy["headers"]
        InstanceLeases(app.ledger).give_back(holder)
        later = HttpClient(emb).request({"Domain": "f.example.com", "InstanceId": target})  # same order, again
        assert later["statusCode"] == 200 and _body(later)["InstanceId"] == target
        assert applied(emb) == {target: 1}


def test_an_instance_order_with_twenty_tags_is_refused_because_the_key_tag_needs_one() -> None:
    with start("1xDigiCert:DV:1+0") as emb:
        tags = [{"Key": f"k{i}", "Value": "v"} for i in range(20)]
        res = HttpClient(emb).request({"Domain": "g.example.com", "Tags": tags})
        assert res["statusCode"] == 400
        assert [e["Field"] for e in _body(res)["Errors"]] == ["Tags"]
        assert applied(emb) == {}


def test_instance_mode_without_a_usable_order_tag_key_is_a_503_naming_it() -> None:
    for value in ("", "k" * 65):
        with start("1xDigiCert:DV:1+0", env={"ORDER_TAG_KEY": value}) as emb:
            index.reset_for_tests()
            res = HttpClient(emb).request({"Domain": "h.example.com"})
            assert res["statusCode"] == 503 and "ORDER_TAG_KEY" in _body(res)["Message"], res
            assert applied(emb) == {}
