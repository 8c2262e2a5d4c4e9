"""The CAS emulator's V2.0 certificate-instance API, driven by the real SDK (alibabacloud_cas20200407 3.9.4).

Every call goes through the SDK's own request building (``ContactIdList.N``, ``Tags.N.TagKey`` in the
query, a CSR in the URL), its ACS3 signing and its exception mapping, over loopback HTTP. The
application clock is the emulator's ``clock``, moved by hand here, so no test waits for an issue.
"""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from alibabacloud_cas20200407 import models as m
from alibabacloud_cas20200407.client import Client
from alibabacloud_tea_openapi import utils_models as open_api_models
from alibabacloud_tea_openapi.exceptions import ClientException, ServerException
from alibabacloud_tea_openapi.utils import Utils
from alibabacloud_tea_openapi.utils_models import Config
from darabonba.exceptions import UnretryableException
from darabonba.runtime import RuntimeOptions

from devkit.cas_emulator import (
    ACTION_APPLY,
    ACTION_INSTANCE_DETAIL,
    ACTION_LIST_INSTANCES,
    ACTION_TASK,
    DEMO_ACCESS_KEY_ID,
    DEMO_ACCESS_KEY_SECRET,
    INSTANCES_ENV,
    OUTCOME_ERROR_AFTER_COMMIT,
    THROTTLING_CODE,
    CasEmulator,
    InstanceSpec,
    parse_pool,
)
from tests.csr_factory import make_csr

Tag = m.UpdateInstanceRequestTags
POOL = "2xDigiCert:DV:1+0,DigiCert:DV:2+1,GeoTrust:OV:1+0,CFCA:OV:1+0,DigiCert:DV:1+0:normal"
APPLY_SECONDS = 300.0


class Clock:
    """The emulator's wall clock, moved forward by hand."""

    def __init__(self) -> None:
        import time

        self._time = time.time
        self.offset = 0.0

    def __call__(self) -> float:
        return self._time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """darabonba hands HTTP(S)_PROXY to requests without honouring NO_PROXY; loopback must stay direct."""
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emu(clock: Clock) -> Iterator[CasEmulator]:
    with CasEmulator(instances=POOL, application_seconds=APPLY_SECONDS, clock=clock) as emulator:
        yield emulator


def make_client(emulator: CasEmulator, *, secret: str = DEMO_ACCESS_KEY_SECRET,
                read_timeout_ms: int | None = None) -> Client:
    return Client(Config(access_key_id=DEMO_ACCESS_KEY_ID, access_key_secret=secret, endpoint=emulator.endpoint,
                         protocol="http", region_id="cn-hangzhou", read_timeout=read_timeout_ms))


@pytest.fixture
def client(emu: CasEmulator) -> Client:
    return make_client(emu)


def pick(emu: CasEmulator, kind: str = "DigiCert:DV:1+0", status: str = "inactive", index: int = 0) -> str:
    """The ID of the ``index``-th instance of one kind (``BRAND:TYPE:FULL+WILD``) in one status."""
    found = [i.instance_id for i in emu.instances()
             if f"{i.brand}:{i.certificate_type}:{i.full_domain_count}+{i.wildcard_domain_count}" == kind
             and i.status == status]
    return found[index]


def detail(client: Client, instance_id: str) -> m.GetInstanceDetailResponseBody:
    return client.get_instance_detail(m.GetInstanceDetailRequest(instance_id=instance_id)).body


def update(client: Client, instance_id: str, **fields: object) -> None:
    client.update_instance(m.UpdateInstanceRequest(instance_id=instance_id, **fields))


def contact(client: Client, **fields: object) -> int:
    request = m.CreateContactRequest(**({"name": "Ops", "mobile": "13800000000"} | fields))
    contact_id = client.create_contact(request).body.contact_id
    assert isinstance(contact_id, int)
    return contact_id


def ready(client: Client, instance_id: str, domain: str = "www.example.com", **fields: object) -> None:
    """Complete an instance's application data the way a client would: a contact, a name, DNS validation."""
    update(client, instance_id, domain=domain, validation_method="DNS", contact_id_list=[contact(client)], **fields)


def apply(client: Client, instance_id: str) -> None:
    client.apply_certificate(m.ApplyCertificateRequest(instance_id=instance_id))


def task(client: Client, instance_id: str) -> tuple[str, str]:
    body = client.get_task_attribute(m.GetTaskAttributeRequest(task_id=instance_id)).body
    return body.task_status, body.task_message


def refused(call: object, *args: object, **kwargs: object) -> ClientException:
    with pytest.raises(ClientException) as info:
        call(*args, **kwargs)  # type: ignore[operator]
    return info.value


# --------------------------------------------------------------------------- the gateway, as for V1


def test_apply_certificate_with_a_wrong_secret_is_refused_and_the_instance_stays_inactive(
        emu: CasEmulator, client: Client) -> None:
    instance_id = pick(emu)
    ready(client, instance_id)

    err = refused(apply, make_client(emu, secret="not-the-secret"), instance_id)

    assert (err.code, err.status_code) == ("SignatureDoesNotMatch", 400)
    assert emu.get_instance(instance_id).status == "inactive"
    assert emu.get_instance(instance_id).applications == []


def test_a_replayed_nonce_is_refused_and_the_second_instance_is_not_applied(
        emu: CasEmulator, client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = pick(emu), pick(emu, index=1)
    ready(client, first, "a.example.com")
    ready(client, second, "b.example.com")
    monkeypatch.setattr(Utils, "get_nonce", staticmethod(lambda: "one-nonce-for-two-calls"))

    apply(client, first)
    err = refused(apply, client, second)

    assert err.code == "SignatureNonceUsed"
    assert (emu.get_instance(first).status, emu.get_instance(second).status) == ("pending", "inactive")


def test_v2_calls_have_the_10_qps_flow_control_per_action(emu: CasEmulator, client: Client) -> None:
    instance_id = pick(emu)
    outcomes = []
    for _ in range(11):
        try:
            detail(client, instance_id)
            outcomes.append("ok")
        except ClientException as err:
            outcomes.append(err.code)
    client.list_instances(m.ListInstancesRequest())  # another action: its own window

    assert outcomes.count(THROTTLING_CODE) == 1 and outcomes[-1] == THROTTLING_CODE
    assert emu.counts_by_outcome(ACTION_INSTANCE_DETAIL) == {"ok": 10, THROTTLING_CODE: 1}
    assert emu.counts_by_outcome(ACTION_LIST_INSTANCES) == {"ok": 1}


def test_an_unknown_instance_is_InvalidInstanceId_NotFound_for_every_instance_call(client: Client) -> None:
    for call in (detail, apply, lambda c, i: update(c, i, domain="www.example.com")):
        err = refused(call, client, "cas_dv-cn-doesnotexist")
        assert (err.code, err.status_code) == ("InvalidInstanceId.NotFound", 404)


# --------------------------------------------------------------------------- UpdateInstance rules


@pytest.mark.parametrize(
    ("kind", "fields", "code"),
    [
        ("DigiCert:DV:1+0", {"generate_csr_method": "offline"}, "InvalidParameter.GenerateCsrMethod"),
        ("DigiCert:DV:1+0", {"generate_csr_method": "upload", "domain": "a.example.com"}, "MissingParameter"),
        ("DigiCert:DV:1+0", {"validation_method": "EMAIL"}, "InvalidParameter.ValidationMethod"),
        ("DigiCert:DV:1+0", {"key_algorithm": "RSA_1024"}, "InvalidParameter.KeyAlgorithm"),
        ("DigiCert:DV:1+0", {"auto_reissue": "sometimes"}, "InvalidParameter.AutoReissue"),
        ("DigiCert:DV:1+0", {"domain": "a.example.com,b.example.com"}, "InvalidParameter.Domain"),
        ("DigiCert:DV:1+0", {"domain": "*.example.com"}, "InvalidParameter.Domain"),
        ("DigiCert:DV:2+1", {"domain": "a.example.com,*.example.com,*.b.example.com"}, "InvalidParameter.Domain"),
        ("DigiCert:DV:2+1", {"domain": "a.example.com,A.example.com"}, "InvalidParameter.Domain"),
        ("DigiCert:DV:1+0", {"domain": "not a name"}, "InvalidParameter.Domain"),
        ("DigiCert:DV:2+1", {"domain": "*.example.com", "validation_method": "HTTP"},
         "InvalidParameter.ValidationMethod"),
        ("DigiCert:DV:1+0", {"contact_id_list": [999]}, "InvalidContactId.NotFound"),
        ("GeoTrust:OV:1+0", {"company_id": 999}, "InvalidCompanyId.NotFound"),
        ("DigiCert:DV:1+0", {"tags": [Tag(tag_key="aliyun-owner", tag_value="x")]}, "InvalidParameter.Tags.TagKey"),
        ("DigiCert:DV:1+0", {"tags": [Tag(tag_key="k" * 65, tag_value="x")]}, "InvalidParameter.Tags.TagKey"),
        ("DigiCert:DV:1+0", {"tags": [Tag(tag_key="k", tag_value="see https://x")]}, "InvalidParameter.Tags.TagValue"),
        ("DigiCert:DV:1+0", {"tags": [Tag(tag_value="no key")]}, "MissingParameter"),
    ],
)
def test_each_update_instance_rule_is_refused_with_its_field_and_changes_nothing(
        emu: CasEmulator, client: Client, kind: str, fields: dict[str, object], code: str) -> None:
    instance_id = pick(emu, kind)
    before = emu.get_instance(instance_id)

    err = refused(update, client, instance_id, **fields)

    assert (err.code, err.status_code) == (code, 404 if code.endswith("NotFound") else 400)
    if code == "MissingParameter":
        assert ("Csr" if "generate_csr_method" in fields else "Tags.1.TagKey") in err.message
    after = emu.get_instance(instance_id)
    assert (after.domains, after.tags, after.validation_method) == (
        before.domains, before.tags, before.validation_method)


def test_an_uploaded_csr_arrives_byte_exact_its_names_win_over_domain_and_its_key_sets_the_algorithm(
        emu: CasEmulator, client: Client) -> None:
    instance_id = pick(emu, "DigiCert:DV:2+1")
    csr = make_csr("csr.example.com", "ec256", sans=["csr.example.com", "*.csr.example.com"])

    update(client, instance_id, generate_csr_method="upload", csr=csr, domain="ignored.example.com")

    body = detail(client, instance_id)
    assert body.csr == csr and body.generate_csr_method == "upload"
    assert (body.domain, body.key_algorithm) == ("csr.example.com,*.csr.example.com", "ECC_256")
    err = refused(update, client, instance_id, key_algorithm="RSA_2048")
    assert err.code == "InvalidParameter.KeyAlgorithm"


def test_a_csr_sent_with_the_default_online_method_is_ignored(emu: CasEmulator, client: Client) -> None:
    instance_id = pick(emu)

    update(client, instance_id, csr=make_csr("csr.example.com"), domain="www.example.com")

    body = detail(client, instance_id)
    assert (body.domain, body.generate_csr_method, body.csr) == ("www.example.com", "online", None)


def test_a_csr_with_too_many_names_for_the_instance_is_refused_on_domain(emu: CasEmulator, client: Client) -> None:
    err = refused(update, client, pick(emu), generate_csr_method="upload",
                  csr=make_csr("a.example.com", sans=["a.example.com", "b.example.com"]))

    assert err.code == "InvalidParameter.Domain"


def test_tags_round_trip_through_get_instance_detail_and_merge_by_key(emu: CasEmulator, client: Client) -> None:
    instance_id = pick(emu)

    update(client, instance_id, tags=[Tag(tag_key="casrelay-idempotency", tag_value="key 1 *"),
                                      Tag(tag_key="team", tag_value="")])
    update(client, instance_id, tags=[Tag(tag_key="team", tag_value="edge")])

    tags = [(t.tag_key, t.tag_value) for t in detail(client, instance_id).tags]
    assert tags == [("casrelay-idempotency", "key 1 *"), ("team", "edge")]


def test_application_data_is_fixed_once_applied_while_tags_may_still_change(emu: CasEmulator, client: Client) -> None:
    instance_id = pick(emu)
    ready(client, instance_id)
    apply(client, instance_id)

    err = refused(update, client, instance_id, domain="other.example.com")
    update(client, instance_id, tags=[Tag(tag_key="late", tag_value="ok")])

    assert err.code == "IncorrectInstanceStatus"
    body = detail(client, instance_id)
    assert body.domain == "www.example.com" and [t.tag_key for t in body.tags] == ["late"]


# --------------------------------------------------------------------------- ApplyCertificate


@pytest.mark.parametrize(
    ("kind", "setup", "code"),
    [
        ("DigiCert:DV:1+0", {"validation_method": "DNS", "contact": True}, "MissingInstanceInfo.Domain"),
        ("DigiCert:DV:1+0", {"domain": "www.example.com", "contact": True}, "MissingInstanceInfo.ValidationMethod"),
        ("DigiCert:DV:1+0", {"domain": "www.example.com", "validation_method": "DNS"},
         "MissingInstanceInfo.ContactIdList"),
        ("GeoTrust:OV:1+0", {"domain": "www.example.com", "validation_method": "DNS", "contact": True},
         "MissingInstanceInfo.CompanyId"),
        ("CFCA:OV:1+0", {"domain": "www.example.com", "validation_method": "DNS", "contact": True, "company": True},
         "MissingInstanceInfo.ContactIdList"),  # a CFCA contact needs an ID card number
    ],
)
def test_apply_on_incomplete_instance_data_is_refused_with_the_missing_field_and_commits_nothing(
        emu: CasEmulator, client: Client, kind: str, setup: dict[str, object], code: str) -> None:
    instance_id = pick(emu, kind)
    fields = {k: v for k, v in setup.items() if k in ("domain", "validation_method")}
    if setup.get("contact"):
        fields["contact_id_list"] = [contact(client)]
    if setup.get("company"):
        fields["company_id"] = emu.add_company("ACME Ltd")
    update(client, instance_id, **fields)

    err = refused(apply, client, instance_id)

    assert (err.code, err.status_code) == (code, 400)
    assert emu.get_instance(instance_id).status == "inactive" and emu.get_instance(instance_id).applications == []


def test_an_ov_instance_with_a_company_and_a_cfca_contact_with_an_id_card_apply(
        emu: CasEmulator, client: Client) -> None:
    company_id = emu.add_company("ACME Ltd")
    for kind, extra in (("GeoTrust:OV:1+0", {}), ("CFCA:OV:1+0", {"idcard": "110101199001011234"})):
        instance_id = pick(emu, kind)
        update(client, instance_id, domain="www.example.com", validation_method="DNS", company_id=company_id,
               contact_id_list=[contact(client, **extra)])
        apply(client, instance_id)
        assert detail(client, instance_id).status == "pending"


def test_contacts_need_not_be_listed_once_the_account_has_one(emu: CasEmulator, client: Client) -> None:
    instance_id = pick(emu)
    contact(client)
    update(client, instance_id, domain="www.example.com", validation_method="DNS")

    apply(client, instance_id)

    assert task(client, instance_id) == ("processing", "")


def test_apply_commits_the_instance_leaves_inactive_and_publishes_its_validation_record(
        emu: CasEmulator, client: Client) -> None:
    instance_id = pick(emu)
    ready(client, instance_id)

    apply(client, instance_id)

    body = detail(client, instance_id)
    assert body.status == "pending" and task(client, instance_id) == ("processing", "")
    (record,) = body.domain_validation_list
    assert (record.domain, record.validation_type, record.validation_key) == (
        "www.example.com", "TXT", "_dnsauth.www.example.com")
    assert record.validation_value and record.root_domain == "example.com"
    assert len(emu.get_instance(instance_id).applications) == 1


def test_a_second_apply_while_one_is_processing_is_refused_with_OperationConflict(
        emu: CasEmulator, client: Client) -> None:
    instance_id = pick(emu)
    ready(client, instance_id)
    apply(client, instance_id)

    err = refused(apply, client, instance_id)

    assert (err.code, err.status_code) == ("OperationConflict", 403)
    assert len(emu.get_instance(instance_id).applications) == 1


def test_concurrent_applies_on_one_instance_commit_exactly_once(clock: Clock) -> None:
    with CasEmulator(instances=POOL, qps=None, application_seconds=APPLY_SECONDS, clock=clock) as emu:
        client = make_client(emu)
        instance_id = pick(emu)
        ready(client, instance_id)

        def attempt(_: int) -> str:
            try:
                apply(client, instance_id)
                return "ok"
            except ClientException as err:
                return str(err.code)

        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            outcomes = sorted(pool.map(attempt, range(8)))

        assert outcomes == ["OperationConflict"] * 7 + ["ok"]
        assert len(emu.get_instance(instance_id).applications) == 1


def test_the_application_is_issued_after_the_delay_on_the_emulators_clock(
        emu: CasEmulator, client: Client, clock: Clock) -> None:
    instance_id = pick(emu)
    ready(client, instance_id)
    apply(client, instance_id)

    clock.advance(APPLY_SECONDS - 5)
    assert task(client, instance_id) == ("processing", "")
    clock.advance(10)
    assert task(client, instance_id) == ("success", "")

    body = detail(client, instance_id)
    assert (body.status, body.certificate_status) == ("normal", "issued")
    assert body.cert_identifier == f"{body.certificate_id}-cn-hangzhou"
    assert body.certificate_not_before is not None and body.certificate_not_after > body.certificate_not_before
    assert refused(apply, client, instance_id).code == "IncorrectInstanceStatus"  # an instance issues once


def test_an_injected_application_failure_ends_failed_and_the_instance_can_apply_again(
        emu: CasEmulator, client: Client, clock: Clock) -> None:
    instance_id = pick(emu)
    ready(client, instance_id, "fails.example.com")
    emu.fail_applications(target="FAILS.example.com", message="CAA record forbids the CA")
    apply(client, instance_id)

    clock.advance(APPLY_SECONDS + 1)
    assert task(client, instance_id) == ("failed", "CAA record forbids the CA")
    body = detail(client, instance_id)
    assert (body.status, body.pending_result, body.certificate_id) == ("inactive", "CAA record forbids the CA", None)

    apply(client, instance_id)
    clock.advance(APPLY_SECONDS + 1)
    assert task(client, instance_id) == ("success", "")
    assert len(emu.get_instance(instance_id).applications) == 2


def test_get_task_attribute_knows_only_applications_and_the_apply_task_type(emu: CasEmulator, client: Client) -> None:
    instance_id = pick(emu)

    assert refused(task, client, instance_id).code == "InvalidTaskId.NotFound"
    assert refused(task, client, "cas_dv-cn-doesnotexist").code == "InvalidTaskId.NotFound"
    err = refused(client.get_task_attribute, m.GetTaskAttributeRequest(task_id=instance_id, task_type="Renew"))
    assert err.code == "InvalidParameter.TaskType"


# --------------------------------------------------------------------------- ListInstances


def listed(client: Client, **filters: object) -> list[m.ListInstancesResponseBodyInstanceList]:
    return client.list_instances(m.ListInstancesRequest(**filters)).body.instance_list


def test_list_instances_filters_by_status_type_brand_and_keyword(emu: CasEmulator, client: Client) -> None:
    instance_id = pick(emu)
    ready(client, instance_id, "shop.example.com")
    apply(client, instance_id)

    assert [i.instance_id for i in listed(client, status="pending")] == [instance_id]
    assert {i.brand for i in listed(client, certificate_type="OV")} == {"GeoTrust", "CFCA"}
    assert len(listed(client, brand="DigiCert", status="inactive")) == 2
    assert [i.domain for i in listed(client, keyword="SHOP.example")] == ["shop.example.com"]
    assert [i.instance_id for i in listed(client, keyword=instance_id)] == [instance_id]
    (issued,) = listed(client, status="normal")
    assert issued.instance_id == pick(emu, status="normal")
    for name, value in (("status", "active"), ("certificate_type", "FREE"), ("brand", "LetsEncrypt"),
                        ("instance_type", "TRIAL")):
        assert refused(listed, client, **{name: value}).code.startswith("InvalidParameter.")


def test_list_instances_items_have_the_sdk_fields_and_no_tags(emu: CasEmulator, client: Client) -> None:
    instance_id = pick(emu, "DigiCert:DV:2+1")
    update(client, instance_id, domain="a.example.com,*.example.com", tags=[Tag(tag_key="k", tag_value="v")])
    params = open_api_models.Params(action=ACTION_LIST_INSTANCES, version="2020-04-07", protocol="HTTPS",
                                    pathname="/", method="POST", auth_type="AK", style="RPC",
                                    req_body_type="formData", body_type="json")
    raw = client.call_api(params, open_api_models.OpenApiRequest(query={"Keyword": instance_id}), RuntimeOptions())

    (item,) = raw["body"]["InstanceList"]
    assert set(item) <= set(m.ListInstancesResponseBodyInstanceList().from_map(item).to_map())
    assert "Tags" not in item  # the SDK model has none: only GetInstanceDetail shows an instance's tags
    assert (item["FullDomainCount"], item["WildcardDomainCount"]) == (2, 1)
    assert item["Domain"] == "a.example.com,*.example.com"


def test_list_instances_pages_by_10_by_default_and_refuses_more_than_100(clock: Clock) -> None:
    with CasEmulator(instances=[InstanceSpec(count=23)], clock=clock) as emu:
        client = make_client(emu)
        first = client.list_instances(m.ListInstancesRequest()).body
        third = client.list_instances(m.ListInstancesRequest(current_page=3)).body
        everything = client.list_instances(m.ListInstancesRequest(show_size=100)).body

        assert (first.total_count, first.show_size) == (23, 10)
        assert (len(first.instance_list), len(third.instance_list)) == (10, 3)
        assert len({i.instance_id for i in everything.instance_list}) == 23
        assert refused(client.list_instances, m.ListInstancesRequest(show_size=101)).code == "InvalidParameter.ShowSize"
        assert refused(client.list_instances, m.ListInstancesRequest(current_page=0)).code == \
            "InvalidParameter.CurrentPage"


def test_list_instances_shows_a_change_only_after_the_list_lag_while_the_detail_is_current(clock: Clock) -> None:
    with CasEmulator(instances=POOL, list_lag_seconds=60, application_seconds=APPLY_SECONDS, clock=clock) as emu:
        client = make_client(emu)
        instance_id = pick(emu)
        ready(client, instance_id, "lag.example.com")
        apply(client, instance_id)

        assert listed(client, status="pending") == [] and listed(client, keyword="lag.example.com") == []
        assert detail(client, instance_id).status == "pending"
        clock.advance(61)
        assert [i.instance_id for i in listed(client, status="pending")] == [instance_id]


# --------------------------------------------------------------------------- faults


AFTER_COMMIT = {
    "500": (lambda emu: emu.error_after_commit(ACTION_APPLY), ServerException),
    "502-html": (lambda emu: emu.error_after_commit(ACTION_APPLY, status=502, code="BadGateway",
                                                    raw_body="<html>502 Bad Gateway</html>"), UnretryableException),
    "503": (lambda emu: emu.error_after_commit(ACTION_APPLY, status=503, code="ServiceUnavailable"), ServerException),
    "throttled": (lambda emu: emu.error_after_commit(ACTION_APPLY, status=400, code=THROTTLING_CODE), ClientException),
    "closed": (lambda emu: emu.close_after_commit(ACTION_APPLY), UnretryableException),
    "timeout": (lambda emu: emu.delay_after_commit(ACTION_APPLY, seconds=1.5), UnretryableException),
}


@pytest.mark.parametrize("fault", sorted(AFTER_COMMIT))
def test_a_fault_after_commit_leaves_the_instance_applied_and_a_retry_proves_it(emu: CasEmulator, fault: str) -> None:
    inject, raised = AFTER_COMMIT[fault]
    client = make_client(emu, read_timeout_ms=500)
    instance_id = pick(emu)
    ready(client, instance_id)
    inject(emu)

    with pytest.raises(raised):
        apply(client, instance_id)

    emu.close_idle_connections()
    client = make_client(emu, read_timeout_ms=500)
    assert detail(client, instance_id).status == "pending"
    assert task(client, instance_id) == ("processing", "")
    assert refused(apply, client, instance_id).code == "OperationConflict"
    assert len(emu.get_instance(instance_id).applications) == 1


BEFORE_COMMIT = {
    "503": lambda emu: emu.fail_next(ACTION_APPLY),
    "throttled": lambda emu: emu.fail_next(ACTION_APPLY, status=400, code=THROTTLING_CODE, message="flow control"),
    "dropped": lambda emu: emu.drop_before_commit(ACTION_APPLY),
}


@pytest.mark.parametrize("fault", sorted(BEFORE_COMMIT))
def test_a_fault_before_commit_applies_nothing_and_a_retry_applies_once(emu: CasEmulator, fault: str) -> None:
    client = make_client(emu)
    instance_id = pick(emu)
    ready(client, instance_id)
    BEFORE_COMMIT[fault](emu)

    with pytest.raises((ServerException, ClientException, UnretryableException)):
        apply(client, instance_id)
    assert emu.get_instance(instance_id).status == "inactive"

    emu.close_idle_connections()
    apply(make_client(emu), instance_id)
    assert len(emu.get_instance(instance_id).applications) == 1


def test_a_fault_aimed_at_a_name_hits_the_apply_of_the_instance_bound_to_it(emu: CasEmulator, client: Client) -> None:
    target, other = pick(emu), pick(emu, index=1)
    ready(client, target, "target.example.com")
    ready(client, other, "other.example.com")
    emu.error_after_commit(ACTION_APPLY, domain="Target.Example.com")
    emu.fail_next(ACTION_TASK, domain=other)  # by instance ID: GetTaskAttribute's TaskId names it

    apply(client, other)
    with pytest.raises(ServerException):
        apply(client, target)
    with pytest.raises(ServerException):
        task(client, other)

    assert task(client, target) == ("processing", "") and task(client, other) == ("processing", "")
    assert emu.request_count(ACTION_APPLY, OUTCOME_ERROR_AFTER_COMMIT) == 1


# --------------------------------------------------------------------------- contacts and companies


def test_create_contact_needs_a_name_and_a_mobile_and_round_trips(client: Client) -> None:
    assert refused(client.create_contact, m.CreateContactRequest(name="Ops")).code == "MissingParameter"
    assert refused(client.create_contact, m.CreateContactRequest(name="Ops", mobile="1", email="x")).code == \
        "InvalidParameter.Email"
    contact_id = contact(client, name="Night Ops", email="night@example.com")

    got = client.get_contact(m.GetContactRequest(contact_id=contact_id)).body
    assert (got.name, got.email, got.mobile) == ("Night Ops", "night@example.com", "13800000000")
    listed_contacts = client.list_contact(m.ListContactRequest(keyword="night")).body
    assert [c.contact_id for c in listed_contacts.contact_list] == [contact_id]
    assert refused(client.get_contact, m.GetContactRequest(contact_id=1)).code == "InvalidContactId.NotFound"


def test_companies_added_to_the_account_are_listed_filtered_and_fetched(emu: CasEmulator, client: Client) -> None:
    acme, other = emu.add_company("ACME Ltd"), emu.add_company("Other GmbH", country_code="DE", city="Berlin")

    assert [c.company_id for c in client.list_companies(m.ListCompaniesRequest()).body.company_list] == [acme, other]
    assert [c.company_id for c in client.list_companies(m.ListCompaniesRequest(keyword="berlin")).body.company_list] \
        == [other]
    assert client.list_companies(m.ListCompaniesRequest(company_id=acme)).body.total_count == 1
    assert client.get_company(m.GetCompanyRequest(company_id=other)).body.company_name == "Other GmbH"
    assert refused(client.get_company, m.GetCompanyRequest(company_id=1)).code == "InvalidCompanyId.NotFound"


# --------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3xDigiCert:DV:1+0", [InstanceSpec(count=3)]),
        ("geotrust:ov:2+1:normal, CFCA:EV:1+0:inactive:test",
         [InstanceSpec("GeoTrust", "OV", 2, 1, status="normal"),
          InstanceSpec("CFCA", "EV", 1, 0, instance_type="TEST")]),
        ("", []),
    ],
)
def test_the_one_line_pool_form_reads_count_brand_type_names_and_status(text: str,
                                                                       expected: list[InstanceSpec]) -> None:
    assert list(parse_pool(text)) == expected


@pytest.mark.parametrize("text", ["DigiCert:DV", "Nobody:DV:1+0", "DigiCert:XV:1+0", "DigiCert:DV:0+0",
                                  "DigiCert:DV:1+0:sleeping"])
def test_a_bad_pool_entry_is_refused_naming_it(text: str) -> None:
    with pytest.raises(ValueError):
        parse_pool(text)


def test_without_a_pool_the_account_has_no_instances_and_v1_orders_still_work() -> None:
    with CasEmulator() as emu:
        client = make_client(emu)
        assert client.list_instances(m.ListInstancesRequest()).body.total_count == 0
        order = client.create_certificate_for_package_request(
            m.CreateCertificateForPackageRequestRequest(domain="v1.example.com")).body.order_id
        assert emu.get_order(order).domain == "v1.example.com"


def test_cli_starts_a_v2_pool_from_CAS_EMULATOR_INSTANCES_and_lists_it_in_the_banner() -> None:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()} | {INSTANCES_ENV: "2xGeoTrust:OV:1+0"}
    proc = subprocess.Popen([sys.executable, "-m", "devkit.cas_emulator", "--port", "0", "--company", "ACME Ltd"],
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(6)]
        endpoint = lines[0].rsplit(" ", 1)[-1].strip()
        assert "V2 instance pool: 2 instances (GeoTrust:OV:1+0); companies: 1" in lines[5]
        client = Client(Config(access_key_id=DEMO_ACCESS_KEY_ID, access_key_secret=DEMO_ACCESS_KEY_SECRET,
                               endpoint=endpoint, protocol="http"))
        body = client.list_instances(m.ListInstancesRequest(brand="GeoTrust")).body
        assert body.total_count == 2 and {i.status for i in body.instance_list} == {"inactive"}
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
        if proc.stdout is not None:
            proc.stdout.close()


def test_the_embedded_default_takes_its_pool_from_CAS_EMULATOR_INSTANCES(monkeypatch: pytest.MonkeyPatch) -> None:
    from devkit.embedded import embedded_default

    monkeypatch.setenv(INSTANCES_ENV, "DigiCert:DV:1+0,GeoTrust:OV:1+0")
    with embedded_default() as emb:
        assert [i.certificate_type for i in emb.emulator.instances()] == ["DV", "OV"]
