"""The Alidns double, driven by the real SDK (alibabacloud_alidns20150109 4.6.1) over loopback HTTP.

Every call goes through the SDK's own request building (all parameters in the query, RPC style), its ACS3
signing and its exception mapping. What is checked is what casrelay's follower will rely on: a record is
created once (a duplicate is refused), found again by name, type and value, removed by id or by name, the
zone of a name is found among the account's zones (multi-label ones included), and the gateway refuses what
the real one refuses (bad signatures, replayed nonces, calls beyond the flow-control limit).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alibabacloud_alidns20150109 import models as m
from alibabacloud_alidns20150109.client import Client
from alibabacloud_alidns20150109.models import DescribeSubDomainRecordsResponseBodyDomainRecordsRecord as SubRecord
from alibabacloud_tea_openapi.exceptions import ClientException, ServerException
from alibabacloud_tea_openapi.utils import Utils
from alibabacloud_tea_openapi.utils_models import Config

from devkit.alidns_emulator import ACTION_ADD, ACTION_SUB_RECORDS, AlidnsEmulator
from devkit.cas_emulator import DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, THROTTLING_CODE

ZONES = ("example.com", "example.com.cn", "shop.example.org")


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """darabonba hands HTTP(S)_PROXY to requests without honouring NO_PROXY; loopback must stay direct."""
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def dns() -> Iterator[AlidnsEmulator]:
    with AlidnsEmulator(ZONES, qps=None) as emulator:
        yield emulator


def make_client(emulator: AlidnsEmulator, *, secret: str = DEMO_ACCESS_KEY_SECRET) -> Client:
    return Client(Config(access_key_id=DEMO_ACCESS_KEY_ID, access_key_secret=secret, endpoint=emulator.endpoint,
                         protocol=emulator.protocol, region_id="cn-hangzhou"))


@pytest.fixture
def client(dns: AlidnsEmulator) -> Client:
    return make_client(dns)


def add(client: Client, zone: str, rr: str, value: str, type_: str = "TXT") -> str:
    record_id = client.add_domain_record(m.AddDomainRecordRequest(domain_name=zone, rr=rr, type=type_,
                                                                  value=value)).body.record_id
    assert isinstance(record_id, str)
    return record_id


def refused(call: object, *args: object) -> ClientException:
    with pytest.raises(ClientException) as info:
        call(*args)  # type: ignore[operator]
    return info.value


def sub_records(client: Client, name: str, type_: str | None = "TXT") -> list[SubRecord]:
    body = client.describe_sub_domain_records(m.DescribeSubDomainRecordsRequest(sub_domain=name, type=type_)).body
    return list(body.domain_records.record)


def zone_of(client: Client, name: str) -> tuple[str, str]:
    """How a client splits a record name: the longest zone of the account it ends in, found with DescribeDomains."""
    zones: list[str] = []
    page = 1
    while True:
        body = client.describe_domains(m.DescribeDomainsRequest(page_number=page, page_size=2)).body
        zones += [d.domain_name for d in body.domains.domain]
        if len(zones) >= body.total_count:
            break
        page += 1
    zone = max((z for z in zones if name == z or name.endswith("." + z)), key=len)
    return zone, name[: -len(zone) - 1] or "@"


def test_an_added_txt_record_is_found_by_its_full_name_with_the_fields_the_sdk_models(
        dns: AlidnsEmulator, client: Client) -> None:
    record_id = add(client, "example.com", "_dnsauth.www", "token-1")

    [record] = sub_records(client, "_dnsauth.www.example.com")

    assert (record.record_id, record.domain_name, record.rr, record.type, record.value) == (
        record_id, "example.com", "_dnsauth.www", "TXT", "token-1")
    assert (record.ttl, record.line, record.status) == (600, "default", "ENABLE")
    assert int(record_id) > 2**53  # ids are strings; a client that reads one as a float loses it
    assert dns.has_txt("_dnsauth.www.example.com", "token-1")
    assert not dns.has_txt("_dnsauth.www.example.com", "another-token")


def test_the_same_record_twice_is_refused_as_DomainRecordDuplicate_and_stored_once(
        dns: AlidnsEmulator, client: Client) -> None:
    add(client, "example.com", "_dnsauth", "token-1")

    err = refused(add, client, "example.com", "_DNSAUTH", "token-1")
    add(client, "example.com", "_dnsauth", "token-2")  # another value of the same name is another record

    assert (err.code, err.status_code) == ("DomainRecordDuplicate", 400)
    assert sorted(r.value for r in dns.records("example.com")) == ["token-1", "token-2"]


def test_a_record_under_a_zone_the_account_does_not_hold_is_refused(client: Client) -> None:
    err = refused(add, client, "example.net", "_dnsauth", "token")

    assert (err.code, err.status_code) == ("InvalidDomainName.NoExist", 400)


def test_a_name_is_split_at_the_longest_zone_of_the_account_for_multi_label_zones(
        dns: AlidnsEmulator, client: Client) -> None:
    assert zone_of(client, "_dnsauth.www.example.com.cn") == ("example.com.cn", "_dnsauth.www")
    assert zone_of(client, "_dnsauth.shop.example.org") == ("shop.example.org", "_dnsauth")
    assert zone_of(client, "example.com") == ("example.com", "@")

    zone, rr = zone_of(client, "_dnsauth.www.example.com.cn")
    add(client, zone, rr, "token")

    assert [r.domain_name for r in sub_records(client, "_dnsauth.www.example.com.cn")] == ["example.com.cn"]
    assert dns.has_txt("_dnsauth.www.example.com.cn", "token")
    assert dns.split("_dnsauth.www.example.com.cn") == ("example.com.cn", "_dnsauth.www")


def test_describe_domains_filters_by_keyword_like_or_exact(client: Client) -> None:
    like = client.describe_domains(m.DescribeDomainsRequest(key_word="example.com")).body
    exact = client.describe_domains(m.DescribeDomainsRequest(key_word="example.com", search_mode="EXACT")).body

    assert [d.domain_name for d in like.domains.domain] == ["example.com", "example.com.cn"]
    assert [d.domain_name for d in exact.domains.domain] == ["example.com"]


def test_describe_domain_records_pages_newest_first_and_filters_by_rr_type_and_value(client: Client) -> None:
    ids = [add(client, "example.com", f"host{i:02d}", f"v=spf1 {i}") for i in range(25)]
    add(client, "example.com", "www", "192.0.2.1", type_="A")

    def page(number: int, **filters: object) -> m.DescribeDomainRecordsResponseBody:
        return client.describe_domain_records(m.DescribeDomainRecordsRequest(
            domain_name="example.com", page_number=number, page_size=10, **filters)).body

    txt = [page(n, type_key_word="TXT") for n in (1, 2, 3)]

    assert [b.total_count for b in txt] == [25, 25, 25]
    assert [len(b.domain_records.record) for b in txt] == [10, 10, 5]
    assert [r.record_id for b in txt for r in b.domain_records.record] == list(reversed(ids))
    assert txt[0].domain_records.record[0].create_timestamp > 0
    assert [r.rr for r in page(1, rrkey_word="HOST1").domain_records.record] == [f"host1{i}" for i in range(9, -1, -1)]
    assert [r.rr for r in page(1, value_key_word="spf1 24").domain_records.record] == ["host24"]
    assert [r.type for r in page(1, type_key_word="a").domain_records.record] == ["A"]


def test_describe_domain_records_refuses_a_page_size_above_500(client: Client) -> None:
    err = refused(client.describe_domain_records,
                  m.DescribeDomainRecordsRequest(domain_name="example.com", page_size=501))

    assert err.code == "InvalidParameter.PageSize"


def test_a_record_is_deleted_by_id_once_and_a_second_delete_is_refused(
        dns: AlidnsEmulator, client: Client) -> None:
    record_id = add(client, "example.com", "_dnsauth", "token")

    body = client.delete_domain_record(m.DeleteDomainRecordRequest(record_id=record_id)).body
    err = refused(client.delete_domain_record, m.DeleteDomainRecordRequest(record_id=record_id))

    assert body.record_id == record_id
    assert (err.code, err.status_code) == ("DomainRecordNotBelongToUser", 400)
    assert dns.records() == []


def test_delete_sub_domain_records_removes_every_record_of_that_name_and_type_only(
        dns: AlidnsEmulator, client: Client) -> None:
    add(client, "example.com.cn", "_dnsauth.www", "old-token")
    add(client, "example.com.cn", "_dnsauth.www", "new-token")
    add(client, "example.com.cn", "_dnsauth.www", "192.0.2.7", type_="A")
    add(client, "example.com.cn", "_dnsauth", "apex-token")

    body = client.delete_sub_domain_records(m.DeleteSubDomainRecordsRequest(
        domain_name="example.com.cn", rr="_dnsauth.www", type="TXT")).body

    assert (body.rr, body.total_count) == ("_dnsauth.www", "2")
    assert sorted((r.fqdn, r.type) for r in dns.records()) == [
        ("_dnsauth.example.com.cn", "TXT"), ("_dnsauth.www.example.com.cn", "A")]


def test_a_wrong_secret_is_refused_and_nothing_is_added(dns: AlidnsEmulator) -> None:
    err = refused(add, make_client(dns, secret="not-the-secret"), "example.com", "_dnsauth", "token")

    assert (err.code, err.status_code) == ("SignatureDoesNotMatch", 400)
    assert err.data["HostId"] == "alidns.aliyuncs.com"
    assert dns.records() == []


def test_a_replayed_nonce_is_refused_and_the_second_record_is_not_added(
        dns: AlidnsEmulator, client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Utils, "get_nonce", staticmethod(lambda: "one-nonce-for-two-calls"))

    add(client, "example.com", "_dnsauth", "first")
    err = refused(add, client, "example.com", "_dnsauth", "second")

    assert err.code == "SignatureNonceUsed"
    assert [r.value for r in dns.records()] == ["first"]


def test_calls_beyond_the_rate_limit_are_answered_Throttling_User_per_action() -> None:
    with AlidnsEmulator(ZONES, qps=3) as dns:
        client = make_client(dns)
        outcomes = []
        for _ in range(4):
            try:
                sub_records(client, "_dnsauth.example.com")
                outcomes.append("ok")
            except ClientException as err:
                outcomes.append(err.code)
        add(client, "example.com", "_dnsauth", "token")  # another action: its own window

        assert outcomes == ["ok", "ok", "ok", THROTTLING_CODE]
        assert dns.request_count(ACTION_SUB_RECORDS, THROTTLING_CODE) == 1
        assert dns.has_txt("_dnsauth.example.com", "token")


def test_an_add_that_commits_but_answers_500_leaves_one_record_that_a_find_before_add_sees(
        dns: AlidnsEmulator, client: Client) -> None:
    dns.error_after_commit(ACTION_ADD)

    with pytest.raises(ServerException) as info:
        add(client, "example.com", "_dnsauth", "token")
    found = [r for r in sub_records(client, "_dnsauth.example.com") if r.value == "token"]

    assert info.value.status_code == 500
    assert len(found) == 1 and len(dns.records()) == 1


def test_an_injected_error_before_commit_adds_nothing(dns: AlidnsEmulator, client: Client) -> None:
    dns.fail_next(ACTION_ADD, status=503, code="ServiceUnavailable")

    with pytest.raises(ServerException):
        add(client, "example.com", "_dnsauth", "token")

    assert dns.records() == []
