"""Promise: every placed order is followed to its certificate, through timer events alone.

One order goes the whole way through ``index.handler``: the HTTP order, then only the sample timer event
(``events/timer-sweep.json``). The follower pushes ``certificate.validation.required`` once, creates the TXT
record once in the Alidns double (which verifies ACS3 like Alidns), the CAS emulator's CA sees it and issues,
``certificate.issued`` is pushed, the record is removed, and a later sweep does nothing more. Another order
whose validation never appears is pushed as failed. Nothing anywhere carries a private key.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import index
from devkit.alidns_emulator import ACTION_ADD, ACTION_DELETE
from devkit.cas_emulator.actions import _domain_verify_fields
from devkit.cas_emulator.protocol import ACTION_CERT_STATE as DESCRIBE_STATE
from devkit.embedded import Embedded, embedded_default
from devkit.fc_local import make_context
from tests.conftest import HttpClient

ROOT = Path(__file__).resolve().parents[2]
TIMER = (ROOT / "events" / "timer-sweep.json").read_bytes()
SCHEMA_V1 = json.loads((ROOT / "schemas" / "order-message.v1.json").read_text())
SCHEMA_V2 = json.loads((ROOT / "schemas" / "order-message.v2.json").read_text())
LIFECYCLE = ("certificate.validation.required", "certificate.issued", "certificate.order.failed")
REVIEW_SECONDS = 60.0
ENV = {"SWEEP_MIN_AGE_SECONDS": "0", "FOLLOW_BACKOFF_SECONDS": "0", "DNS_AUTOVALIDATE": "alidns"}


def sweep() -> dict[str, Any]:
    result = index.handler(TIMER, make_context())
    assert isinstance(result, dict) and "Followed" in result, result
    return result


def order(emb: Embedded, domain: str, **extra: str) -> int:
    res = HttpClient(emb).request({"Domain": domain, "ValidateType": "DNS", **extra})
    assert res["statusCode"] == 200, res
    return int(json.loads(res["body"])["OrderId"])


def lifecycle(emb: Embedded, schema: dict[str, Any] = SCHEMA_V1) -> list[dict[str, Any]]:
    """The lifecycle messages the file sink got, every pushed message validated against the schema first."""
    pushed = emb.pushed()
    for message in pushed:
        jsonschema.validate(message, schema)
    return [m for m in pushed if m["Type"] in LIFECYCLE and "Lifecycle" in m]


@pytest.fixture()
def emb() -> Iterator[Embedded]:
    with embedded_default(extra_env=ENV, sinks=("file", "callback"), alidns_zones=("example.com",)) as e:
        yield e


def test_one_order_goes_from_ordered_to_issued_through_timer_events_and_a_later_sweep_does_nothing(emb):
    order_id = order(emb, "life.example.com")
    emulated = emb.emulator.get_order(order_id)
    expected = _domain_verify_fields(emulated)

    first = sweep()
    assert first["Followed"] == {"validation": 1}
    [required] = lifecycle(emb)
    assert required["Type"] == "certificate.validation.required"
    assert required["Order"]["OrderId"] == order_id
    assert required["Validation"] == [{"Method": "DNS", "Domain": expected.get("Domain") or None,
                                       "RecordDomain": expected["RecordDomain"],
                                       "RecordType": expected["RecordType"], "RecordValue": expected["RecordValue"]}]
    assert required["Lifecycle"]["DnsAutomation"] == "alidns" and required["Lifecycle"]["DnsRecordsCreated"] == 1
    # The record exists once in the Alidns double, created by one AddDomainRecord.
    [record] = [r for r in emb.alidns.records() if r.fqdn == expected["RecordDomain"]]
    assert (record.type, record.value) == ("TXT", expected["RecordValue"])
    assert emb.alidns.request_count(ACTION_ADD, "ok") == 1
    # Every sink got the same message, once.
    callback = [a.json() for a in emb.receiver.deliveries() if a.json()["Type"] == required["Type"]]
    assert [m["Id"] for m in callback] == [required["Id"]]

    assert sweep()["Followed"] == {"waiting": 1}  # the CA saw the record and reviews (CHECKING)
    assert emb.alidns.request_count(ACTION_ADD) == 1  # found, never added twice
    emb.emulator.advance_ca_clock(REVIEW_SECONDS)

    assert sweep()["Followed"] == {"issued": 1}
    issued = lifecycle(emb)[-1]
    assert issued["Type"] == "certificate.issued"
    assert issued["Certificate"]["Domains"] == ["life.example.com"]
    assert issued["Certificate"]["NotBefore"] and issued["Certificate"]["NotAfter"]
    assert "Certificate" not in issued["Certificate"]  # the PEM only with FOLLOW_INCLUDE_CERTIFICATE
    assert [r for r in emb.alidns.records() if r.fqdn == expected["RecordDomain"]] == []
    assert emb.alidns.request_count(ACTION_DELETE, "ok") == 1

    polls, pushed = emb.emulator.request_count(DESCRIBE_STATE), len(emb.pushed())
    for _ in range(3):
        assert sweep()["Followed"] == {}
    assert emb.emulator.request_count(DESCRIBE_STATE) == polls and len(emb.pushed()) == pushed
    assert [m["Type"] for m in lifecycle(emb)] == ["certificate.validation.required", "certificate.issued"]
    assert emb.alidns.request_count(ACTION_ADD) == 1 and emb.alidns.request_count(ACTION_DELETE) == 1


def test_an_order_whose_validation_never_appears_is_pushed_as_failed_once_and_its_quota_given_back():
    env = {**ENV, "DELETE_FAILED_ORDERS": "true"}
    with embedded_default(extra_env=env, sinks=("file",), alidns_zones=("example.com",)) as emb:
        order_id = order(emb, "nobody.example.org")  # no Alidns zone of this account holds it
        used = emb.emulator.quota("symantec-free-1-free").used
        assert sweep()["Followed"] == {"validation": 1}
        [required] = lifecycle(emb)
        assert required["Lifecycle"]["DnsRecordsCreated"] == 0
        assert emb.alidns.request_count(ACTION_ADD) == 0
        emb.emulator.advance_ca_clock(2 * 86400)  # the CA's DV deadline passes: verify_fail
        assert sweep()["Followed"] == {"failed": 1}
        failed = lifecycle(emb)[-1]
        assert failed["Type"] == "certificate.order.failed" and failed["Order"]["OrderId"] == order_id
        assert failed["Error"]["Code"] == "CertificateValidationFailed"
        assert failed["Lifecycle"]["QuotaReleased"] is True
        assert emb.emulator.quota("symantec-free-1-free").used == used - 1
        assert sweep()["Followed"] == {}
        assert [m["Type"] for m in lifecycle(emb)] == ["certificate.validation.required",
                                                        "certificate.order.failed"]


def test_the_operator_sees_the_order_waiting_on_its_validation_with_the_record_it_needs(emb, capsys):
    from devkit import ledger_admin

    order(emb, "wait.example.org")
    sweep()
    capsys.readouterr()
    import os

    saved = os.environ.get("IDEMPOTENCY_STORE")
    os.environ["IDEMPOTENCY_STORE"] = emb.env["IDEMPOTENCY_STORE"]
    try:
        assert ledger_admin.main(["waiting", "--json"]) == 0
    finally:
        if saved is None:
            os.environ.pop("IDEMPOTENCY_STORE", None)
        else:
            os.environ["IDEMPOTENCY_STORE"] = saved
    out = capsys.readouterr()
    [line] = [json.loads(x) for x in out.out.splitlines() if x.startswith("{")]
    assert line["Domains"] == ["wait.example.org"]
    [validation] = line["Validation"]
    assert validation["record_domain"].endswith("wait.example.org") and validation["record_value"]
    assert line["DnsError"] == "ZoneNotFound"
    assert "1 order(s) wait on their domain validation" in out.err


PRIVATE_KEY = re.compile(r"PRIVATE KEY|PrivateKey|\"Key\"")


def test_no_private_key_appears_in_any_message_log_line_ledger_record_or_answer(capsys):
    env = {**ENV, "FOLLOW_INCLUDE_CERTIFICATE": "true"}
    with embedded_default(extra_env=env, sinks=("file", "callback"), alidns_zones=("example.com",)) as emb:
        answers = [HttpClient(emb).request({"Domain": "key.example.com", "ValidateType": "DNS"})]
        for _ in range(2):
            answers.append(sweep())
            emb.emulator.advance_ca_clock(REVIEW_SECONDS)
        answers.append(sweep())
        issued = lifecycle(emb)[-1]
        assert issued["Type"] == "certificate.issued"
        assert issued["Certificate"]["Certificate"].startswith("-----BEGIN CERTIFICATE-----")
        [emulated] = emb.emulator.orders()
        assert emulated.private_key_pem and "PRIVATE KEY" in emulated.private_key_pem  # CAS made the key: it has one
        key_body = emulated.private_key_pem.split("-----")[2].strip().splitlines()[1]
        texts = {
            "answers": json.dumps(answers),
            "file sink": emb.sink_file.read_text(),
            "callbacks": "".join(a.body.decode() for a in emb.receiver.deliveries()),
            "ledger": "".join(r.to_json() for r in index._app.ledger.store.scan()),  # type: ignore[union-attr]
            "log lines": capsys.readouterr().out,
        }
        for where, text in texts.items():
            assert text, where
            assert not PRIVATE_KEY.search(text), where
            assert key_body not in text, where
        assert emb.emulator.request_count(DESCRIBE_STATE) >= 1


def test_a_v2_instance_is_followed_from_its_validation_to_its_certificate_in_schema_v2():
    env = {**ENV, "CAS_ORDER_API": "instance", "CAS_TASK_WAIT_SECONDS": "0", "FOLLOW_INCLUDE_CERTIFICATE": "true"}
    with embedded_default(extra_env=env, sinks=("file",), alidns_zones=("example.com",),
                          instances="1xDigiCert:DV:1+0", application_seconds=1.5) as emb:
        res = HttpClient(emb).request({"Domain": "v2.example.com", "ValidateType": "DNS"})
        assert res["statusCode"] == 200, res
        instance_id = json.loads(res["body"])["InstanceId"]
        assert sweep()["Followed"] == {"validation": 1}  # the application is processing: what it needs
        [required] = lifecycle(emb, SCHEMA_V2)
        assert required["Order"]["InstanceId"] == instance_id
        [validation] = required["Validation"]
        assert validation["Method"] == "DNS" and validation["RecordDomain"] == "_dnsauth.v2.example.com"
        assert [r.value for r in emb.alidns.records() if r.fqdn == "_dnsauth.v2.example.com"] == \
            [validation["RecordValue"]]
        time.sleep(1.6)  # the emulator's application ripens on the wall clock
        assert sweep()["Followed"] == {"issued": 1}
        issued = lifecycle(emb, SCHEMA_V2)[-1]
        [inst] = emb.emulator.instances()
        assert issued["Certificate"]["CertificateId"] == inst.certificate_id
        assert issued["Certificate"]["CertIdentifier"]
        assert issued["Certificate"]["Certificate"].startswith("-----BEGIN CERTIFICATE-----")
        assert "PRIVATE KEY" not in json.dumps(emb.pushed())
        assert [r for r in emb.alidns.records() if r.fqdn == "_dnsauth.v2.example.com"] == []
        assert sweep()["Followed"] == {}


def test_on_a_shared_redis_ledger_the_order_is_followed_once_and_leaves_the_schedule_when_issued(redis_url):
    import redis

    with embedded_default(extra_env=ENV, sinks=("file",), alidns_zones=("example.com",), ledger=redis_url) as emb:
        order(emb, "redis.example.com")
        client = redis.Redis.from_url(redis_url)
        assert client.zcard("casrelay:follow") == 1
        assert sweep()["Followed"] == {"validation": 1}
        assert sweep()["Followed"] == {"waiting": 1}
        emb.emulator.advance_ca_clock(REVIEW_SECONDS)
        assert sweep()["Followed"] == {"issued": 1}
        assert client.zcard("casrelay:follow") == 0
        [key] = [k for k in client.scan_iter("casrelay:ledger:*")]
        assert client.ttl(key) > 0  # done: the record's retention runs again
        assert sweep()["Followed"] == {}
        assert [m["Type"] for m in lifecycle(emb)] == ["certificate.validation.required", "certificate.issued"]


class Crash(BaseException):
    """Stands for the process dying on that line: nothing in casrelay catches a BaseException."""


def test_a_sweep_that_dies_after_creating_the_record_never_makes_the_next_one_create_it_again(emb, monkeypatch):
    from casrelay.ledger.schedule import FollowSchedule

    order(emb, "crash.example.com")
    real_save = FollowSchedule.save
    calls = {"n": 0}

    def die_once(self, record, follow, next_poll_at):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:  # the first saves what CAS asks for; the second, after the record, is the one lost
            raise Crash
        return real_save(self, record, follow, next_poll_at)

    monkeypatch.setattr(FollowSchedule, "save", die_once)
    with pytest.raises(Crash):
        sweep()
    assert emb.alidns.request_count(ACTION_ADD, "ok") == 1  # the record was created, then the process died
    [record] = index._app.ledger.store.scan()  # type: ignore[union-attr]
    assert record.next_poll_at is not None and record.next_poll_at > record.updated_at  # leased, not lost
    # The lease runs out (two minutes) and the next sweep picks the order up again.
    store = index._app.ledger.store  # type: ignore[union-attr]
    assert store.replace(record.evolve(next_poll_at=0.0), record.version)
    assert sweep()["Followed"] == {"waiting": 1}  # the CA saw the record the dead sweep created: reviewing
    assert emb.alidns.request_count(ACTION_ADD) == 1  # never added again
    assert len([r for r in emb.alidns.records() if r.fqdn == "_dnsauth.crash.example.com"]) == 1
    assert len({m["Id"] for m in lifecycle(emb)}) == 1  # the validation message went out before the death
    emb.emulator.advance_ca_clock(REVIEW_SECONDS)
    assert sweep()["Followed"] == {"issued": 1}
    # Its id was lost with the dead sweep, yet the record is found by name, type and value and removed.
    assert [r for r in emb.alidns.records() if r.fqdn == "_dnsauth.crash.example.com"] == []
