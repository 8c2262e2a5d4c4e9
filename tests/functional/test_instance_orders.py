"""Promise, on CAS V2.0 (``CAS_ORDER_API=instance``): one order applies on exactly one certificate instance,
never on a second, never on one another order holds; and every applied instance reaches the sinks.

Everything runs through ``index.handler`` against the embedded CAS emulator's instance pool (its V2.0
part: ListInstances lags, GetInstanceDetail is current, ApplyCertificate commits under one lock and
refuses a second application). The emulator's ``applications`` list of each instance is the bill.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import index
from devkit.cas_emulator import ACTION_APPLY
from devkit.embedded import Embedded, embedded_default
from devkit.fc_local import make_context
from tests.conftest import HttpClient, invoke_direct

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_V2 = json.loads((ROOT / "schemas" / "order-message.v2.json").read_text())
ORDER = {"Domain": "www.instance.example.com", "ValidateType": "DNS"}
TIMER = json.dumps({"triggerTime": "2026-12-01T00:00:00Z", "triggerName": "sweep", "payload": ""}).encode()
INSTANCE_ENV = {"CAS_ORDER_API": "instance", "SWEEP_MIN_AGE_SECONDS": "0", "CAS_TASK_WAIT_SECONDS": "2"}


def start(pool: str = "3xDigiCert:DV:1+0,GeoTrust:DV:0+1", ledger: str | None = None, **kw: Any) -> Any:
    return embedded_default(extra_env={**INSTANCE_ENV, **kw.pop("env", {})}, instances=pool, ledger=ledger,
                            application_seconds=kw.pop("application_seconds", 0.2), **kw)


@pytest.fixture()
def emb() -> Iterator[Embedded]:
    with start() as e:
        yield e


def applied(emb: Embedded) -> dict[str, int]:
    """InstanceId -> how many ApplyCertificate calls committed on it (the bill)."""
    return {i.instance_id: len(i.applications) for i in emb.emulator.instances() if i.applications}


def created(emb: Embedded) -> list[dict[str, Any]]:
    return [m for m in emb.pushed() if m["Type"] == "certificate.order.created"]


def order(n: int) -> dict[str, str]:
    return {"Domain": f"n{n}.instance.example.com", "ValidateType": "DNS"}


def test_one_order_applies_on_exactly_one_instance_and_its_message_names_it_in_schema_v2(emb: Embedded) -> None:
    res = HttpClient(emb).request(ORDER)
    assert res["statusCode"] == 200, res["body"]
    body = json.loads(res["body"])
    assert "OrderId" not in body and body["Domains"] == ["www.instance.example.com"]
    assert applied(emb) == {body["InstanceId"]: 1}
    inst = emb.emulator.get_instance(body["InstanceId"])
    assert inst.domains == ["www.instance.example.com"] and inst.validation_method == "DNS"
    assert inst.tags["casrelay-idempotency-key"].startswith("auto:")
    assert body["CertificateId"] == inst.certificate_id is not None  # issued within the invocation
    [message] = created(emb)
    jsonschema.validate(message, SCHEMA_V2)
    assert message["Order"]["InstanceId"] == body["InstanceId"] and message["Version"] == 2


def test_the_same_order_again_is_answered_from_the_ledger_and_applies_on_no_other_instance(emb: Embedded) -> None:
    first = json.loads(HttpClient(emb).request(ORDER)["body"])
    again = HttpClient(emb).request(ORDER)
    direct = invoke_direct(ORDER)
    assert again["statusCode"] == 200 and again["headers"]["Idempotent-Replayed"] == "true"
    assert json.loads(again["body"])["InstanceId"] == direct["InstanceId"] == first["InstanceId"]
    assert applied(emb) == {first["InstanceId"]: 1}
    assert len(created(emb)) == 1


def test_a_wildcard_order_takes_a_wildcard_instance_and_file_validation_becomes_http(emb: Embedded) -> None:
    wild = json.loads(HttpClient(emb).request({"Domain": "*.wild.example.com", "ValidateType": "DNS",
                                               "ProductCode": "geotrust-dv-w-starter"})["body"])
    single = json.loads(HttpClient(emb).request({"Domain": "file.example.com", "ValidateType": "FILE"})["body"])
    assert emb.emulator.get_instance(wild["InstanceId"]).wildcard_domain_count == 1
    assert emb.emulator.get_instance(single["InstanceId"]).validation_method == "HTTP"
    assert sorted(applied(emb).values()) == [1, 1]


def test_an_exhausted_pool_is_refused_402_naming_what_was_looked_for_and_nothing_more_is_applied(emb: Embedded) -> None:
    for n in range(3):
        assert HttpClient(emb).request(order(n))["statusCode"] == 200
    res = HttpClient(emb).request(order(9))
    body = json.loads(res["body"])
    assert res["statusCode"] == 402 and body["Code"] == "NoInstanceLeft"
    assert "DigiCert" in body["Message"] and "DV" in body["Message"] and "1 single" in body["Message"]
    assert sorted(applied(emb).values()) == [1, 1, 1]
    failed = [m for m in emb.pushed() if m["Type"] == "certificate.order.failed"]
    assert [m["Error"]["Code"] for m in failed] == ["NoInstanceLeft"]
    jsonschema.validate(failed[0], SCHEMA_V2)


def test_an_order_may_name_its_instance_and_one_that_is_not_inactive_is_refused_on_instance_id(emb: Embedded) -> None:
    target = [i.instance_id for i in emb.emulator.instances() if i.full_domain_count == 1][2]
    body = json.loads(HttpClient(emb).request({**ORDER, "InstanceId": target})["body"])
    assert body["InstanceId"] == target and applied(emb) == {target: 1}
    res = HttpClient(emb).request({"Domain": "other.example.com", "ValidateType": "DNS", "InstanceId": target})
    refused = json.loads(res["body"])
    assert res["statusCode"] == 409 and [e["Field"] for e in refused["Errors"]] == ["InstanceId"]  # leased: ours
    assert applied(emb) == {target: 1}


def test_bad_v2_parameters_are_refused_400_naming_each_field_with_the_shared_rules(emb: Embedded) -> None:
    res = HttpClient(emb).request({"Domain": "bad..example.com", "InstanceId": "no spaces", "CompanyId": "x",
                                   "ContactIdList": [1, "two"]})
    fields = {e["Field"] for e in json.loads(res["body"])["Errors"]}
    assert res["statusCode"] == 400 and {"Domain", "InstanceId", "CompanyId", "ContactIdList"} <= fields
    assert applied(emb) == {}


def test_package_mode_refuses_an_instance_id_as_an_unknown_parameter_naming_it() -> None:
    with embedded_default() as e:
        res = HttpClient(e).request({**ORDER, "InstanceId": "cas_dv-cn-abc"})
        assert res["statusCode"] == 400 and [x["Field"] for x in json.loads(res["body"])["Errors"]] == ["InstanceId"]
        assert e.emulator.orders() == []


def test_an_unusable_cas_order_api_is_a_503_naming_the_variable() -> None:
    with embedded_default(extra_env={"CAS_ORDER_API": "instances"}) as e:
        res = HttpClient(e).request(ORDER)
        assert res["statusCode"] == 503 and "CAS_ORDER_API" in json.loads(res["body"])["Message"]


def _concurrent(emb: Embedded, count: int) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    gate = threading.Barrier(count)

    def one(n: int) -> None:
        gate.wait()
        results.append(HttpClient(emb).request(order(n)))

    threads = [threading.Thread(target=one, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.mark.parametrize("ledger", ["sqlite", "redis"])
def test_concurrent_orders_never_share_an_instance_and_each_is_delivered(ledger: str, request: Any) -> None:
    url = request.getfixturevalue("redis_url") if ledger == "redis" else None
    with start("8xDigiCert:DV:1+0", ledger=url, env={"CAS_TASK_WAIT_SECONDS": "0"}) as e:
        results = _concurrent(e, 8)
        assert sorted(r["statusCode"] for r in results) == [200] * 8, [r["body"] for r in results]
        ids = [json.loads(r["body"])["InstanceId"] for r in results]
        assert len(set(ids)) == 8 and applied(e) == {i: 1 for i in ids}
        assert sorted(m["Order"]["InstanceId"] for m in created(e)) == sorted(ids)


@pytest.mark.parametrize("fault", ["500", "503", "closed"])
def test_an_ambiguous_failure_after_apply_committed_is_reconciled_and_never_applied_twice(emb: Embedded,
                                                                                        fault: str) -> None:
    if fault == "closed":
        emb.emulator.close_after_commit(ACTION_APPLY)
    else:
        emb.emulator.error_after_commit(ACTION_APPLY, status=int(fault), code="ServiceUnavailable")
    res = HttpClient(emb).request(ORDER)
    assert res["statusCode"] == 200, res["body"]  # GetInstanceDetail shows our tag on the applied instance
    body = json.loads(res["body"])
    assert applied(emb) == {body["InstanceId"]: 1}
    assert HttpClient(emb).request(ORDER)["statusCode"] == 200 and applied(emb) == {body["InstanceId"]: 1}
    assert [m["Order"]["InstanceId"] for m in created(emb)] == [body["InstanceId"]]


def test_a_tls_break_after_apply_committed_is_reconciled_and_never_applied_twice() -> None:
    with start(https=True) as e:
        e.emulator.tls_error_after_commit(ACTION_APPLY)
        res = HttpClient(e).request(ORDER)
        assert res["statusCode"] == 200, res["body"]
        instance_id = json.loads(res["body"])["InstanceId"]
        assert applied(e) == {instance_id: 1} and [m["Order"]["InstanceId"] for m in created(e)] == [instance_id]


def test_a_refusal_before_apply_gives_the_instance_back_for_the_next_order() -> None:
    with start("1xGeoTrust:OV:1+0") as e:  # OV needs a company: ApplyCertificate refuses, applying nothing
        res = HttpClient(e).request({**ORDER, "ProductCode": "geotrust-ov-1-personal"})
        assert res["statusCode"] == 400 and json.loads(res["body"])["Code"] == "MissingInstanceInfo.CompanyId"
        company = e.emulator.add_company("Example Ltd")
        again = HttpClient(e).request({"Domain": "ov.example.com", "ValidateType": "DNS",
                                       "ProductCode": "geotrust-ov-1-personal", "CompanyId": company})
        assert again["statusCode"] == 200, again["body"]
        assert list(applied(e).values()) == [1]


CHILD = """
import json, os, signal, sys
sys.path.insert(0, "handler")
import index
from casrelay.ordering.instance import InstanceBackend
from devkit.fc_local import make_context

real = InstanceBackend.place
def apply_then_die(self, *args, **kwargs):
    placed = real(self, *args, **kwargs)
    print(json.dumps({"InstanceId": placed.instance_id}), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # CAS applied; the ledger write never happens
InstanceBackend.place = apply_then_die
ctx = make_context()
ctx.get_remaining_time_in_millis = lambda: 0  # the shortest claim casrelay takes (5 s)
index.handler(json.dumps({"Domain": "killed.example.com", "ValidateType": "DNS"}).encode(), ctx)
print("not killed", flush=True)
"""


def test_a_process_killed_between_apply_and_the_ledger_write_is_adopted_by_the_sweep_and_never_reapplied(
        emb: Embedded) -> None:
    child = subprocess.run([sys.executable, "-c", CHILD], cwd=ROOT, env={**os.environ, **emb.env},
                           capture_output=True, text=True, timeout=60)
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    instance_id = json.loads(child.stdout.strip().splitlines()[-1])["InstanceId"]
    assert applied(emb) == {instance_id: 1} and created(emb) == []
    app = index._app or index._setup()
    assert app is not None
    [record] = [r for r in app.ledger.store.scan() if r.state == "claimed"]
    time.sleep(max(0.0, (record.claim_expires_at or 0) - time.time()) + 0.2)
    summary = index.handler(TIMER, make_context())
    assert summary["Counts"].get("adopted") == 1, summary
    assert [m["Order"]["InstanceId"] for m in created(emb)] == [instance_id]
    res = invoke_direct({"Domain": "killed.example.com", "ValidateType": "DNS"})
    assert res["InstanceId"] == instance_id and applied(emb) == {instance_id: 1}
