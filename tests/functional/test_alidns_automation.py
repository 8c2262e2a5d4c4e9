"""``DNS_AUTOVALIDATE=alidns`` against the Alidns double, through the real SDK (alibabacloud_alidns20150109 4.6.1).

What the follower relies on: the record CAS asks for exists once ``ensure`` returns, created at most once
however many sweeps ask (and however they race), found rather than added when it is there, never confused
with another value at the same name; ``remove`` deletes it once and only it; the zone is the longest one of
the account that holds the name; and every failure says whether the next poll may do better.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace

import pytest

from casrelay.cas.credentials import Credentials
from casrelay.config import ConfigError, Settings
from casrelay.follow.dns import DNS_AUTOMATIONS, open_dns
from casrelay.follow.dns.alidns import MIN_REFRESH_SECONDS, AlidnsAutomation
from casrelay.follow.dns.base import DnsRecordRef
from casrelay.follow.exceptions import DnsRefused, DnsUnavailable, FollowConfigError, ZoneNotFound
from casrelay.ordering.progress import Validation
from devkit.alidns_emulator import ACTION_ADD, ACTION_DELETE, ACTION_DOMAINS, ACTION_SUB_RECORDS, AlidnsEmulator
from devkit.cas_emulator import DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, THROTTLING_CODE

ZONES = ("example.com", "example.com.cn", "example.org", "shop.example.org")
CREDS = Credentials(DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET)
NAME = "_dnsauth.www.example.com"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """darabonba hands HTTP(S)_PROXY to requests without honouring NO_PROXY; loopback must stay direct."""
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


class RecordingPacer:
    """Lets every call through at once, remembers what waited, and runs a test's hook before a given call."""

    def __init__(self) -> None:
        self.waited: list[str] = []
        self.hooks: dict[str, Callable[[], object]] = {}
        self._lock = threading.Lock()

    def wait(self, action: str) -> float:
        with self._lock:
            self.waited.append(action)
            hook = self.hooks.pop(action, None)
        if hook is not None:
            hook()
        return 0.0


@pytest.fixture
def dns() -> Iterator[AlidnsEmulator]:
    with AlidnsEmulator(ZONES, qps=None) as emulator:
        yield emulator


@pytest.fixture
def pacer() -> RecordingPacer:
    return RecordingPacer()


def automation_for(emulator: AlidnsEmulator, pacer: RecordingPacer | None = None,
                   settings: Settings | None = None) -> AlidnsAutomation:
    env = {"DNS_AUTOVALIDATE": "alidns", "ALIDNS_ENDPOINT": emulator.endpoint, "ALIDNS_PROTOCOL": emulator.protocol}
    automation = open_dns(env, settings or Settings(cas_connect_timeout_ms=2000, cas_read_timeout_ms=2000),
                          pacer or RecordingPacer())
    assert isinstance(automation, AlidnsAutomation)
    return automation


@pytest.fixture
def auto(dns: AlidnsEmulator, pacer: RecordingPacer) -> AlidnsAutomation:
    return automation_for(dns, pacer)


def txt(name: str = NAME, value: str = "token-1") -> Validation:
    return Validation(method="DNS", domain="www.example.com", record_domain=name, record_type="TXT",
                      record_value=value)


def stored(dns: AlidnsEmulator) -> list[tuple[str, str, str, str, str]]:
    return sorted((r.zone, r.rr, r.type, r.value, r.record_id) for r in dns.records())


# --- ensure -----------------------------------------------------------------------------------------------


def test_ensure_creates_the_record_once_and_a_second_ensure_finds_it_without_adding(
        dns: AlidnsEmulator, auto: AlidnsAutomation) -> None:
    first = auto.ensure(txt(), CREDS)
    second = auto.ensure(txt(), CREDS)

    assert first == second == DnsRecordRef("example.com", "_dnsauth.www", "TXT", "token-1", first.record_id)
    assert stored(dns) == [("example.com", "_dnsauth.www", "TXT", "token-1", first.record_id)]
    assert [r.ttl for r in dns.records()] == [600]
    assert dns.request_count(ACTION_ADD) == 1
    assert dns.request_count(ACTION_DOMAINS) == 1  # the zones are cached between calls
    assert dns.has_txt(NAME, "token-1")


def test_every_call_waits_on_the_pacer_under_its_alidns_action(auto: AlidnsAutomation, pacer: RecordingPacer) -> None:
    ref = auto.ensure(txt(), CREDS)
    auto.remove(ref, CREDS)

    assert pacer.waited == ["alidns:DescribeDomains", "alidns:DescribeSubDomainRecords", "alidns:AddDomainRecord",
                            "alidns:DeleteDomainRecord"]


def test_a_record_cas_spells_in_upper_case_with_a_trailing_dot_is_the_same_record(
        dns: AlidnsEmulator, auto: AlidnsAutomation) -> None:
    first = auto.ensure(txt("_DNSAUTH.WWW.Example.COM."), CREDS)
    second = auto.ensure(txt(NAME), CREDS)

    assert first == second and first.zone == "example.com" and first.rr == "_dnsauth.www"
    assert dns.request_count(ACTION_ADD) == 1


def test_an_identical_record_that_exists_already_is_returned_not_added(
        dns: AlidnsEmulator, auto: AlidnsAutomation) -> None:
    existing = dns.put_record(NAME, "TXT", "token-1")

    ref = auto.ensure(txt(), CREDS)

    assert ref.record_id == existing.record_id
    assert dns.request_count(ACTION_ADD) == 0 and len(dns.records()) == 1


def test_a_record_at_the_same_name_with_another_value_is_left_alone_and_ours_is_added_beside_it(
        dns: AlidnsEmulator, auto: AlidnsAutomation) -> None:
    theirs = dns.put_record(NAME, "TXT", "someone-elses-token")

    ours = auto.ensure(txt(), CREDS)
    auto.remove(ours, CREDS)

    assert ours.record_id != theirs.record_id and ours.value == "token-1"
    assert stored(dns) == [("example.com", "_dnsauth.www", "TXT", "someone-elses-token", theirs.record_id)]


def test_an_add_made_by_another_sweep_between_find_and_add_is_returned_and_stored_once(
        dns: AlidnsEmulator, auto: AlidnsAutomation, pacer: RecordingPacer) -> None:
    racing: list[str] = []
    pacer.hooks["alidns:AddDomainRecord"] = lambda: racing.append(dns.put_record(NAME, "TXT", "token-1").record_id)

    ref = auto.ensure(txt(), CREDS)

    assert ref.record_id == racing[0]
    assert dns.counts_by_outcome(ACTION_ADD) == {"DomainRecordDuplicate": 1}
    assert len(dns.records()) == 1


def test_two_sweeps_ensuring_at_once_leave_one_record_and_both_return_its_id(dns: AlidnsEmulator) -> None:
    both_looked = threading.Barrier(2, timeout=10)
    pacers = [RecordingPacer(), RecordingPacer()]
    for p in pacers:  # both have found nothing before either adds
        p.hooks["alidns:AddDomainRecord"] = both_looked.wait
    sweeps = [automation_for(dns, p) for p in pacers]
    results: list[DnsRecordRef | BaseException] = [RuntimeError("not run")] * 2

    def run(i: int) -> None:
        try:
            results[i] = sweeps[i].ensure(txt(), CREDS)
        except BaseException as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)

    [record] = dns.records()
    assert [r.record_id if isinstance(r, DnsRecordRef) else r for r in results] == [record.record_id] * 2
    assert dns.request_count(ACTION_ADD) == 2
    assert dns.counts_by_outcome(ACTION_ADD).get("DomainRecordDuplicate") == 1


def test_an_add_that_committed_but_answered_500_is_transient_and_the_next_ensure_finds_it(
        dns: AlidnsEmulator, auto: AlidnsAutomation) -> None:
    dns.error_after_commit(ACTION_ADD)

    with pytest.raises(DnsUnavailable) as info:
        auto.ensure(txt(), CREDS)
    ref = auto.ensure(txt(), CREDS)

    assert info.value.transient and "AddDomainRecord" in info.value.message and "500" in info.value.message
    assert [r.record_id for r in dns.records()] == [ref.record_id]
    assert dns.request_count(ACTION_ADD) == 1


@pytest.mark.parametrize(("name", "zone", "rr"), [
    ("_dnsauth.www.example.com.cn", "example.com.cn", "_dnsauth.www"),
    ("_dnsauth.example.com.cn", "example.com.cn", "_dnsauth"),
    ("_dnsauth.a.shop.example.org", "shop.example.org", "_dnsauth.a"),
    ("_dnsauth.a.example.org", "example.org", "_dnsauth.a"),
])
def test_a_name_is_created_in_the_longest_zone_of_the_account_that_holds_it(
        dns: AlidnsEmulator, auto: AlidnsAutomation, name: str, zone: str, rr: str) -> None:
    ref = auto.ensure(txt(name), CREDS)

    assert (ref.zone, ref.rr) == (zone, rr)
    assert stored(dns) == [(zone, rr, "TXT", "token-1", ref.record_id)]
    assert dns.has_txt(name, "token-1")


def test_a_cname_validation_is_created_and_found_again(dns: AlidnsEmulator, auto: AlidnsAutomation) -> None:
    validation = Validation(method="DNS", record_domain="_dnsauth.example.com", record_type="cname",
                            record_value="x.validation.example.net")

    first = auto.ensure(validation, CREDS)
    second = auto.ensure(validation, CREDS)

    assert first == second and first.type == "CNAME"
    assert dns.has_record("_dnsauth.example.com", "CNAME", "x.validation.example.net")
    assert dns.request_count(ACTION_ADD) == 1


def test_every_page_of_zones_is_read(pacer: RecordingPacer) -> None:
    zones = [f"zone{i:03d}.example" for i in range(150)] + ["example.com"]
    with AlidnsEmulator(zones, qps=None) as dns:
        ref = automation_for(dns, pacer).ensure(txt(), CREDS)

        assert ref.zone == "example.com"
        assert dns.request_count(ACTION_DOMAINS) == 2


# --- zones ------------------------------------------------------------------------------------------------


def _age_the_zone_listing(auto: AlidnsAutomation) -> None:
    auto._zones_at -= MIN_REFRESH_SECONDS  # as if the listing were a minute old


def test_a_name_in_no_zone_of_the_account_is_zone_not_found_after_one_refresh(
        dns: AlidnsEmulator, auto: AlidnsAutomation) -> None:
    auto.ensure(txt(), CREDS)
    _age_the_zone_listing(auto)

    with pytest.raises(ZoneNotFound) as info:
        auto.ensure(txt("_dnsauth.www.example.net"), CREDS)

    assert not info.value.transient and "_dnsauth.www.example.net" in info.value.message
    assert dns.request_count(ACTION_DOMAINS) == 2
    assert dns.request_count(ACTION_ADD) == 1


def test_names_in_no_zone_cost_at_most_one_zone_listing_a_minute(dns: AlidnsEmulator, auto: AlidnsAutomation) -> None:
    auto.ensure(txt(), CREDS)
    _age_the_zone_listing(auto)
    for n in range(5):
        with pytest.raises(ZoneNotFound):
            auto.ensure(txt(f"_dnsauth.n{n}.example.net"), CREDS)

    assert dns.request_count(ACTION_DOMAINS) == 2


def test_badexample_com_is_not_in_the_zone_example_com(dns: AlidnsEmulator, auto: AlidnsAutomation) -> None:
    with pytest.raises(ZoneNotFound):
        auto.ensure(txt("_dnsauth.badexample.com"), CREDS)

    assert dns.records() == []


def test_a_zone_added_after_the_cache_was_filled_is_used_within_a_minute(
        dns: AlidnsEmulator, auto: AlidnsAutomation) -> None:
    auto.ensure(txt(), CREDS)
    dns.add_zone("example.net")
    _age_the_zone_listing(auto)

    ref = auto.ensure(txt("_dnsauth.www.example.net"), CREDS)

    assert (ref.zone, ref.rr) == ("example.net", "_dnsauth.www")


def test_a_file_validation_or_an_unusable_record_is_one_to_create_by_hand(auto: AlidnsAutomation) -> None:
    for validation in (Validation(method="FILE", domain="www.example.com", uri="/.well-known/x", content="c"),
                       replace(txt(), record_type="A"), replace(txt(), record_value=""),
                       replace(txt(), record_domain="bad name.example.com")):
        with pytest.raises(ZoneNotFound) as info:
            auto.ensure(validation, CREDS)
        assert "by hand" in info.value.message


# --- remove -----------------------------------------------------------------------------------------------


def test_remove_deletes_the_record_once_and_a_second_remove_is_a_no_op(
        dns: AlidnsEmulator, auto: AlidnsAutomation) -> None:
    ref = auto.ensure(txt(), CREDS)

    auto.remove(ref, CREDS)
    auto.remove(ref, CREDS)  # the emulator answers DomainRecordNotBelongToUser: gone, which is what remove wants

    assert dns.records() == []
    assert dns.counts_by_outcome(ACTION_DELETE) == {"ok": 1, "DomainRecordNotBelongToUser": 1}


def test_remove_without_a_record_id_finds_and_deletes_only_ours(dns: AlidnsEmulator, auto: AlidnsAutomation) -> None:
    theirs = dns.put_record(NAME, "TXT", "someone-elses-token")
    other_name = dns.put_record("_dnsauth.example.com", "TXT", "token-1")
    ref = auto.ensure(txt(), CREDS)

    auto.remove(replace(ref, record_id=None), CREDS)
    auto.remove(replace(ref, record_id=None), CREDS)

    assert sorted(r.record_id for r in dns.records()) == sorted([theirs.record_id, other_name.record_id])
    assert dns.request_count(ACTION_DELETE) == 1


def test_remove_in_a_zone_the_account_no_longer_holds_counts_as_removed(auto: AlidnsAutomation) -> None:
    auto.remove(DnsRecordRef("example.net", "_dnsauth", "TXT", "token-1"), CREDS)


# --- failures ---------------------------------------------------------------------------------------------


def test_throttling_is_dns_unavailable_and_transient() -> None:
    frozen = time.time()  # the window never slides: the second call of an action is always over the limit
    with AlidnsEmulator(ZONES, qps=1, clock=lambda: frozen) as dns:
        auto = automation_for(dns)
        auto.ensure(txt(), CREDS)

        with pytest.raises(DnsUnavailable) as info:
            auto.ensure(txt(), CREDS)

        assert info.value.transient and info.value.code == "DnsUnavailable"
        assert "DescribeSubDomainRecords" in info.value.message and THROTTLING_CODE in info.value.message
        assert dns.request_count(ACTION_SUB_RECORDS, THROTTLING_CODE) == 1


def test_throttling_with_a_retry_after_header_is_dns_unavailable_too(dns: AlidnsEmulator,
                                                                     auto: AlidnsAutomation) -> None:
    dns.error_after_commit(ACTION_DOMAINS, status=400, code="Throttling.User", retry_after_ms=1000)

    with pytest.raises(DnsUnavailable):
        auto.ensure(txt(), CREDS)


def test_a_5xx_before_anything_was_done_is_dns_unavailable(dns: AlidnsEmulator, auto: AlidnsAutomation) -> None:
    dns.fail_next(ACTION_SUB_RECORDS, status=503, code="ServiceUnavailable")

    with pytest.raises(DnsUnavailable) as info:
        auto.ensure(txt(), CREDS)

    assert "503 ServiceUnavailable" in info.value.message and dns.records() == []


def test_a_wrong_secret_is_dns_refused_and_the_message_holds_no_secret_or_signature(dns: AlidnsEmulator) -> None:
    secret = "not-the-demo-secret-0123456789"

    with pytest.raises(DnsRefused) as info:
        automation_for(dns).ensure(txt(), Credentials(DEMO_ACCESS_KEY_ID, secret))

    message = str(info.value)
    assert message == "Alidns refused DescribeDomains (SignatureDoesNotMatch)"
    assert secret not in message and "Signature=" not in message and "http" not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_a_refusal_of_the_request_itself_is_dns_refused_with_its_code(dns: AlidnsEmulator,
                                                                     auto: AlidnsAutomation) -> None:
    dns.fail_next(ACTION_ADD, status=403, code="Forbidden.RAM", message="User not authorized to operate on it.")

    with pytest.raises(DnsRefused) as info:
        auto.ensure(txt(), CREDS)

    assert str(info.value) == "Alidns refused AddDomainRecord (Forbidden.RAM)" and dns.records() == []


def test_no_credentials_is_dns_refused_before_anything_is_sent(dns: AlidnsEmulator, auto: AlidnsAutomation) -> None:
    with pytest.raises(DnsRefused) as info:
        auto.ensure(txt(), None)

    assert "credentials" in info.value.message and dns.request_count() == 0


def test_an_endpoint_nobody_listens_on_is_dns_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    auto = open_dns({"DNS_AUTOVALIDATE": "alidns", "ALIDNS_ENDPOINT": f"127.0.0.1:{port}", "ALIDNS_PROTOCOL": "http"},
                    Settings(cas_connect_timeout_ms=500, cas_read_timeout_ms=500), RecordingPacer())
    assert auto is not None

    with pytest.raises(DnsUnavailable) as info:
        auto.ensure(txt(), CREDS)

    assert info.value.transient and "127.0.0.1" not in info.value.message


def test_https_with_the_ca_file_cas_uses_reaches_an_emulator_with_a_test_ca() -> None:
    with AlidnsEmulator(ZONES, qps=None, tls=True) as dns:
        assert dns.protocol == "https"
        auto = automation_for(dns, settings=Settings(cas_ca_file=dns.ca_file))

        ref = auto.ensure(txt(), CREDS)

        assert dns.has_txt(NAME, "token-1") and ref.record_id


# --- configuration ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "", "  ", "none", "OFF"])
def test_without_dns_autovalidate_there_is_no_automation(value: str | None) -> None:
    env = {} if value is None else {"DNS_AUTOVALIDATE": value}
    assert open_dns(env, Settings(), RecordingPacer()) is None


def test_alidns_is_the_one_automation_and_its_defaults_are_the_public_endpoint_over_https() -> None:
    auto = open_dns({"DNS_AUTOVALIDATE": " AliDNS "}, Settings(cas_ca_file=None), RecordingPacer())

    assert DNS_AUTOMATIONS == ("alidns",)
    assert isinstance(auto, AlidnsAutomation) and auto.name == "alidns"
    assert (auto.client.endpoint, auto.client.protocol) == ("alidns.aliyuncs.com", "https")


@pytest.mark.parametrize(("env", "variable"), [
    ({"DNS_AUTOVALIDATE": "route53"}, "DNS_AUTOVALIDATE"),
    ({"DNS_AUTOVALIDATE": "alidns", "ALIDNS_PROTOCOL": "http"}, "ALIDNS_PROTOCOL"),
    ({"DNS_AUTOVALIDATE": "alidns", "ALIDNS_PROTOCOL": "ftp"}, "ALIDNS_PROTOCOL"),
    ({"DNS_AUTOVALIDATE": "alidns", "ALIDNS_ENDPOINT": "dns.example.com", "ALIDNS_PROTOCOL": "http"},
     "ALIDNS_PROTOCOL"),
    ({"DNS_AUTOVALIDATE": "alidns", "ALIDNS_ENDPOINT": "https://alidns.aliyuncs.com"}, "ALIDNS_ENDPOINT"),
    ({"DNS_AUTOVALIDATE": "alidns", "ALIDNS_ENDPOINT": "alidns.aliyuncs.com:99999"}, "ALIDNS_ENDPOINT"),
    ({"DNS_AUTOVALIDATE": "alidns", "ALIDNS_ENDPOINT": "bad host"}, "ALIDNS_ENDPOINT"),
])
def test_a_dns_variable_that_cannot_be_used_fails_at_start_naming_it(env: Mapping[str, str], variable: str) -> None:
    with pytest.raises(FollowConfigError) as info:
        open_dns(env, Settings(), RecordingPacer())

    assert isinstance(info.value, ConfigError) and variable in str(info.value)


def test_http_is_allowed_towards_a_loopback_endpoint() -> None:
    auto = open_dns({"DNS_AUTOVALIDATE": "alidns", "ALIDNS_ENDPOINT": "localhost:8053", "ALIDNS_PROTOCOL": "HTTP"},
                    Settings(), RecordingPacer())

    assert isinstance(auto, AlidnsAutomation) and auto.client.protocol == "http"
