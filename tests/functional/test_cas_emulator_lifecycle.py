"""The CAS emulator's V1.0 order lifecycle, with its DNS validation in the Alidns double, both driven by the
real SDKs (alibabacloud_cas20200407 3.9.4, alibabacloud_alidns20150109 4.6.1) over loopback HTTP.

An order placed with a ``Lifecycle`` moves by itself on the CA's clock: ``domain_verify`` until the TXT record
it asks for exists in the Alidns double (or its FILE is published), ``process`` for the review time, then
``certificate``; or ``verify_fail`` at the CA's deadline (two days for DV, thirty for OV/EV), after which
DeleteCertificateRequest gives its quota unit back. The CA's clock is moved with ``advance_ca_clock``, so no
test waits and every signed call stays fresh.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alibabacloud_alidns20150109 import models as dns_models
from alibabacloud_alidns20150109.client import Client as DnsClient
from alibabacloud_cas20200407 import models as m
from alibabacloud_cas20200407.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_openapi.utils_models import Config
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from devkit.alidns_emulator import AlidnsEmulator
from devkit.cas_emulator import DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, CasEmulator
from devkit.cas_emulator.lifecycle import DEADLINE_REASON, Lifecycle
from tests.csr_factory import make_csr

DAY = 86400.0
REVIEW = 120.0
DV_MULTI = "geotrust-dv-1-starter"
OV = "geotrust-ov-1-personal"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """darabonba hands HTTP(S)_PROXY to requests without honouring NO_PROXY; loopback must stay direct."""
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def dns() -> Iterator[AlidnsEmulator]:
    with AlidnsEmulator(["example.com", "example.com.cn"]) as emulator:
        yield emulator


@pytest.fixture
def cas(dns: AlidnsEmulator) -> Iterator[CasEmulator]:
    with CasEmulator(lifecycle=Lifecycle(dns=dns, review_seconds=REVIEW)) as emulator:
        yield emulator


def config(endpoint: str) -> Config:
    return Config(access_key_id=DEMO_ACCESS_KEY_ID, access_key_secret=DEMO_ACCESS_KEY_SECRET, endpoint=endpoint,
                  protocol="http", region_id="cn-hangzhou")


@pytest.fixture
def client(cas: CasEmulator) -> Client:
    return Client(config(cas.endpoint))


@pytest.fixture
def dns_client(dns: AlidnsEmulator) -> DnsClient:
    return DnsClient(config(dns.endpoint))


def order(client: Client, domain: str = "www.example.com", validate_type: str = "DNS", **fields: object) -> int:
    request = m.CreateCertificateForPackageRequestRequest(domain=domain, validate_type=validate_type, **fields)
    order_id = client.create_certificate_for_package_request(request).body.order_id
    assert isinstance(order_id, int)
    return order_id


def state(client: Client, order_id: int) -> m.DescribeCertificateStateResponseBody:
    return client.describe_certificate_state(m.DescribeCertificateStateRequest(order_id=order_id)).body


def publish(dns_client: DnsClient, record_domain: str, value: str, zone: str) -> None:
    """Create the validation record as a follower would: DomainName is the zone, RR the rest of the name."""
    rr = record_domain[: -len(zone) - 1]
    dns_client.add_domain_record(dns_models.AddDomainRecordRequest(domain_name=zone, rr=rr, type="TXT", value=value))


def used(client: Client, product: str) -> int:
    count = client.describe_package_state(m.DescribePackageStateRequest(product_code=product)).body.used_count
    assert isinstance(count, int)
    return count


def test_an_order_goes_from_domain_verify_through_process_to_a_certificate_once_its_txt_record_exists(
        cas: CasEmulator, client: Client, dns_client: DnsClient) -> None:
    order_id = order(client, "www.example.com.cn,api.example.com.cn", product_code=DV_MULTI)
    asked = state(client, order_id)
    assert (asked.type, asked.validate_type, asked.record_type, asked.record_domain) == (
        "domain_verify", "DNS", "TXT", "_dnsauth.www.example.com.cn")
    cas.advance_ca_clock(3600)
    assert state(client, order_id).type == "domain_verify"  # no record yet: still waiting

    publish(dns_client, asked.record_domain, asked.record_value, "example.com.cn")
    reviewing = state(client, order_id).type
    cas.advance_ca_clock(REVIEW - 1)
    still_reviewing = state(client, order_id).type
    cas.advance_ca_clock(2)
    issued = state(client, order_id)

    assert (reviewing, still_reviewing, issued.type) == ("process", "process", "certificate")
    certificate = x509.load_pem_x509_certificate(issued.certificate.encode())
    sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["www.example.com.cn", "api.example.com.cn"]
    assert issued.cert_id is not None and issued.record_value is None
    assert cas.get_order(order_id).status == "ISSUED"


def test_a_txt_record_with_another_value_does_not_validate_the_order(
        cas: CasEmulator, client: Client, dns_client: DnsClient) -> None:
    order_id = order(client)
    asked = state(client, order_id)

    publish(dns_client, asked.record_domain, "not-the-token", "example.com")
    cas.advance_ca_clock(REVIEW + 1)

    assert state(client, order_id).type == "domain_verify"


def test_an_unvalidated_dv_order_becomes_verify_fail_once_the_ca_clock_passes_two_days(
        cas: CasEmulator, client: Client) -> None:
    order_id = order(client)

    cas.advance_ca_clock(2 * DAY - 60)
    before = state(client, order_id).type
    cas.advance_ca_clock(120)
    after = state(client, order_id)

    assert (before, after.type) == ("domain_verify", "verify_fail")
    assert after.record_domain is None and after.certificate is None
    track = cas.order_track(order_id)
    assert track is not None and track.failure == DEADLINE_REASON


def test_a_record_added_after_the_deadline_does_not_revive_the_order(
        cas: CasEmulator, client: Client, dns_client: DnsClient) -> None:
    order_id = order(client)
    asked = state(client, order_id)

    cas.advance_ca_clock(2 * DAY + 1)
    publish(dns_client, asked.record_domain, asked.record_value, "example.com")

    assert state(client, order_id).type == "verify_fail"


def test_an_ov_order_waits_thirty_days_for_validation_not_two(cas: CasEmulator, client: Client) -> None:
    order_id = order(client, product_code=OV)

    cas.advance_ca_clock(29 * DAY)
    at_29_days = state(client, order_id).type
    cas.advance_ca_clock(DAY + 1)

    assert (at_29_days, state(client, order_id).type) == ("domain_verify", "verify_fail")


def test_deleting_an_order_that_failed_validation_gives_its_quota_back_and_it_is_gone(
        cas: CasEmulator, client: Client) -> None:
    product = "digicert-free-1-free"
    before = used(client, product)
    order_id = order(client)
    cas.advance_ca_clock(2 * DAY + 1)
    assert state(client, order_id).type == "verify_fail"
    assert used(client, product) == before + 1

    client.delete_certificate_request(m.DeleteCertificateRequestRequest(order_id=order_id))

    assert used(client, product) == before
    with pytest.raises(ClientException) as info:
        state(client, order_id)
    assert (info.value.code, info.value.status_code) == ("NotFoundOrder", 404)
    listed = client.list_user_certificate_order(m.ListUserCertificateOrderRequest()).body
    assert order_id not in [o.order_id for o in listed.certificate_order_list]


def test_an_order_still_in_validation_cannot_be_deleted_and_keeps_its_quota(
        cas: CasEmulator, client: Client) -> None:
    order_id = order(client)
    spent = used(client, "digicert-free-1-free")

    with pytest.raises(ClientException) as info:
        client.delete_certificate_request(m.DeleteCertificateRequestRequest(order_id=order_id))

    assert (info.value.code, info.value.status_code) == ("OrderStateError", 403)
    assert used(client, "digicert-free-1-free") == spent
    assert state(client, order_id).type == "domain_verify"


def test_no_private_key_is_returned_when_the_order_came_with_a_csr(
        cas: CasEmulator, dns: AlidnsEmulator, client: Client) -> None:
    order_id = order(client, "", csr=make_csr("csr.example.com", key="ec256"))
    asked = state(client, order_id)
    dns.put_record(asked.record_domain, "TXT", asked.record_value)
    state(client, order_id)
    cas.advance_ca_clock(REVIEW + 1)

    issued = state(client, order_id)

    assert issued.type == "certificate" and issued.certificate.startswith("-----BEGIN CERTIFICATE-----")
    assert issued.private_key is None


def test_the_private_key_cas_generated_is_returned_and_matches_the_certificate(
        cas: CasEmulator, dns: AlidnsEmulator, client: Client) -> None:
    order_id = order(client)
    asked = state(client, order_id)
    dns.put_record(asked.record_domain, "TXT", asked.record_value)
    state(client, order_id)
    cas.advance_ca_clock(REVIEW + 1)

    issued = state(client, order_id)

    key = serialization.load_pem_private_key(issued.private_key.encode(), password=None)
    certificate = x509.load_pem_x509_certificate(issued.certificate.encode())
    assert key.public_key() == certificate.public_key()


def test_a_file_validation_succeeds_once_the_file_is_published_with_its_content(
        cas: CasEmulator, client: Client) -> None:
    order_id = order(client, "file.example.com", validate_type="FILE")
    asked = state(client, order_id)
    cas.publish_file(asked.uri, "wrong content")
    wrong = state(client, order_id).type

    cas.publish_file(asked.uri, asked.content)

    assert (asked.validate_type, wrong, state(client, order_id).type) == ("FILE", "domain_verify", "process")


def test_without_a_lifecycle_orders_stay_where_they_are_put(dns: AlidnsEmulator) -> None:
    with CasEmulator() as plain:
        client = Client(config(plain.endpoint))
        order_id = order(client)
        asked = state(client, order_id)
        dns.put_record(asked.record_domain, "TXT", asked.record_value)
        plain.advance_ca_clock(3 * DAY)

        assert state(client, order_id).type == "domain_verify"
        plain.set_order_status(order_id, "ISSUED")
        assert state(client, order_id).private_key.startswith("-----BEGIN PRIVATE KEY-----")


def test_the_embedded_default_wires_cas_validation_to_its_alidns_double_when_zones_are_named(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from devkit.alidns_emulator import ZONES_ENV
    from devkit.embedded import embedded_default

    monkeypatch.setenv(ZONES_ENV, "example.com, example.com.cn")
    with embedded_default() as embedded:
        env = embedded.env
        client = Client(config(env["CAS_ENDPOINT"]))
        order_id = order(client, "www.example.com.cn")
        asked = state(client, order_id)
        publish(DnsClient(config(env["ALIDNS_ENDPOINT"])), asked.record_domain, asked.record_value, "example.com.cn")
        reviewing = state(client, order_id).type
        embedded.emulator.advance_ca_clock(3600)

        assert (env["ALIDNS_PROTOCOL"], embedded.alidns.zones()) == ("http", ["example.com", "example.com.cn"])
        assert (reviewing, state(client, order_id).type) == ("process", "certificate")
        assert any(line.strip().startswith("Alidns") for line in embedded.summary())


def test_the_embedded_default_starts_no_alidns_double_and_no_lifecycle_unless_asked(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from devkit.alidns_emulator import ZONES_ENV
    from devkit.embedded import embedded_default

    monkeypatch.delenv(ZONES_ENV, raising=False)
    with embedded_default() as embedded:
        client = Client(config(embedded.env["CAS_ENDPOINT"]))
        order_id = order(client)
        embedded.emulator.advance_ca_clock(3 * DAY)

        assert embedded.alidns is None and "ALIDNS_ENDPOINT" not in embedded.env
        assert state(client, order_id).type == "domain_verify"
