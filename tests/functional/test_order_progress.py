"""Promise: each ordering backend reads a placed order's progress from CAS as one ``Progress``, and never hands
on a private key; a V1.0 order that failed review can be released, which gives its quota back.

Everything goes through the real SDK (alibabacloud_cas20200407 3.9.4: its request building, ACS3 signing and
exception mapping) against the CAS emulator over loopback HTTP, with the Alidns double as the V1.0 lifecycle's
DNS. The V1.0 CA's clock is moved with ``advance_ca_clock``; the V2.0 application clock is the emulator's
``clock``, moved by hand (less than the 15 minutes a signed call may be stale), so no test waits.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import pytest
from alibabacloud_cas20200407 import models as m
from alibabacloud_cas20200407.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_openapi.utils_models import Config
from cryptography import x509

from casrelay.cas.credentials import Credentials
from casrelay.config import Settings
from casrelay.errors import CasOutcomeUnknown, RelayError
from casrelay.ordering import InstanceBackend, PackageBackend, open_backend
from casrelay.ordering.progress import FAILED, ISSUED, VALIDATION, WAITING, Progress
from devkit.alidns_emulator import AlidnsEmulator
from devkit.cas_emulator import ACTION_USER_CERTIFICATE, DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, CasEmulator
from devkit.cas_emulator.lifecycle import Lifecycle
from tests.csr_factory import make_csr

CREDS = Credentials(DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET)
DAY = 86400.0
REVIEW = 120.0
APPLY = 300.0
DV_MULTI = "geotrust-dv-1-starter"
FREE = "digicert-free-1-free"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """darabonba hands HTTP(S)_PROXY to requests without honouring NO_PROXY; loopback must stay direct."""
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


def settings(emulator: CasEmulator, **fields: Any) -> Settings:
    return Settings(cas_endpoint=emulator.endpoint, cas_protocol="http", cas_max_qps=0, **fields)


def sdk(emulator: CasEmulator) -> Client:
    """The oracle: the same SDK, called directly, shows what the emulator answered."""
    return Client(Config(access_key_id=DEMO_ACCESS_KEY_ID, access_key_secret=DEMO_ACCESS_KEY_SECRET,
                         endpoint=emulator.endpoint, protocol="http", region_id="cn-hangzhou"))


def strings_in(value: Any) -> Iterator[str]:
    """Every string reachable from a ``Progress``: its fields, and theirs, recursively."""
    if isinstance(value, str):
        yield value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from strings_in(getattr(value, f.name))
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from strings_in(k)
            yield from strings_in(v)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from strings_in(item)


def assert_no_private_key(progress: Progress, key_pem: str) -> None:
    body = "".join(line for line in key_pem.splitlines() if "-----" not in line)
    assert "PRIVATE KEY" not in repr(progress)
    for text in strings_in(progress):
        assert "PRIVATE KEY" not in text
        assert body[:40] not in text.replace("\n", "")


def pem_validity(pem: str) -> tuple[float, float]:
    cert = x509.load_pem_x509_certificate(pem.encode())
    return cert.not_valid_before_utc.timestamp(), cert.not_valid_after_utc.timestamp()


# --------------------------------------------------------------------------- V1.0 packages


@pytest.fixture
def dns() -> Iterator[AlidnsEmulator]:
    with AlidnsEmulator(["example.com"]) as emulator:
        yield emulator


@pytest.fixture
def cas(dns: AlidnsEmulator) -> Iterator[CasEmulator]:
    with CasEmulator(lifecycle=Lifecycle(dns=dns, review_seconds=REVIEW), qps=None) as emulator:
        yield emulator


@pytest.fixture
def package(cas: CasEmulator) -> PackageBackend:
    backend = open_backend(settings(cas))
    assert isinstance(backend, PackageBackend)
    return backend


def place(cas: CasEmulator, domain: str = "www.example.com", validate_type: str = "DNS", **fields: Any) -> int:
    request = m.CreateCertificateForPackageRequestRequest(domain=domain, validate_type=validate_type, **fields)
    order_id = sdk(cas).create_certificate_for_package_request(request).body.order_id
    assert isinstance(order_id, int)
    return order_id


def cas_state(cas: CasEmulator, order_id: int) -> m.DescribeCertificateStateResponseBody:
    return sdk(cas).describe_certificate_state(m.DescribeCertificateStateRequest(order_id=order_id)).body


def issue(cas: CasEmulator, dns: AlidnsEmulator, order_id: int) -> m.DescribeCertificateStateResponseBody:
    """Publish the TXT record the order asks for, let the review time pass; CAS's own answer afterwards."""
    asked = cas_state(cas, order_id)
    dns.put_record(asked.record_domain, "TXT", asked.record_value)
    cas_state(cas, order_id)  # the CA sees the record: the review starts now
    cas.advance_ca_clock(REVIEW + 1)
    issued = cas_state(cas, order_id)
    assert issued.type == "certificate"
    return issued


def test_a_dns_order_awaiting_validation_is_VALIDATION_with_exactly_the_record_cas_asks_for(
        cas: CasEmulator, package: PackageBackend) -> None:
    order_id = place(cas)
    asked = cas_state(cas, order_id)

    progress = package.progress(order_id, None, CREDS)

    assert (progress.phase, progress.status, progress.final) == (VALIDATION, "domain_verify", False)
    [validation] = progress.validations
    assert validation.method == "DNS"
    assert (validation.record_domain, validation.record_type, validation.record_value) == (
        asked.record_domain, asked.record_type, asked.record_value)
    assert validation.record_domain == "_dnsauth.www.example.com" and validation.record_value
    assert progress.certificate is None


def test_a_file_order_awaiting_validation_is_a_FILE_validation_with_the_uri_and_content_cas_gives(
        cas: CasEmulator, package: PackageBackend) -> None:
    order_id = place(cas, "files.example.com", validate_type="FILE")
    asked = cas_state(cas, order_id)

    [validation] = package.progress(order_id, None, CREDS).validations

    assert validation.method == "FILE"
    assert (validation.domain, validation.uri, validation.content) == (asked.domain, asked.uri, asked.content)
    assert validation.uri.endswith("/.well-known/pki-validation/fileauth.txt") and validation.content
    assert validation.record_domain == ""


def test_once_the_txt_record_exists_the_order_is_WAITING_under_review_then_ISSUED_with_its_names_and_validity(
        cas: CasEmulator, dns: AlidnsEmulator, package: PackageBackend) -> None:
    order_id = place(cas, "www.example.com,api.example.com", product_code=DV_MULTI)
    asked = cas_state(cas, order_id)
    dns.put_record(asked.record_domain, "TXT", asked.record_value)

    reviewing = package.progress(order_id, None, CREDS)
    cas.advance_ca_clock(REVIEW + 1)
    issued = package.progress(order_id, None, CREDS)

    assert (reviewing.phase, reviewing.status, reviewing.final) == (WAITING, "process", False)
    assert (issued.phase, issued.status, issued.final) == (ISSUED, "certificate", True)
    answer = cas_state(cas, order_id)
    certificate = issued.certificate
    assert certificate is not None
    assert certificate.certificate_id == answer.cert_id is not None
    assert certificate.domains == ("www.example.com", "api.example.com")
    assert (certificate.not_before, certificate.not_after) == pem_validity(answer.certificate)
    stored = cas.get_order(order_id)
    assert stored.cert_start_ms is not None and stored.cert_end_ms is not None
    assert (certificate.not_before, certificate.not_after) == (stored.cert_start_ms / 1000, stored.cert_end_ms / 1000)
    assert certificate.pem is None  # not asked for


def test_the_certificate_pem_is_included_only_when_asked_for_and_is_the_certificate_cas_returned(
        cas: CasEmulator, dns: AlidnsEmulator, package: PackageBackend) -> None:
    order_id = place(cas)
    answer = issue(cas, dns, order_id)

    without = package.progress(order_id, None, CREDS)
    with_pem = package.progress(order_id, None, CREDS, include_certificate=True)

    assert without.certificate is not None and without.certificate.pem is None
    assert with_pem.certificate is not None and with_pem.certificate.pem is not None
    assert with_pem.certificate.pem.strip() == answer.certificate.strip()
    assert "BEGIN CERTIFICATE" in with_pem.certificate.pem


def test_the_private_key_cas_generated_for_an_order_without_csr_never_appears_in_the_progress(
        cas: CasEmulator, dns: AlidnsEmulator, package: PackageBackend) -> None:
    order_id = place(cas)
    answer = issue(cas, dns, order_id)
    assert answer.private_key and "PRIVATE KEY" in answer.private_key  # CAS did send one

    for include in (False, True):
        progress = package.progress(order_id, None, CREDS, include_certificate=include)
        assert progress.phase == ISSUED
        assert_no_private_key(progress, answer.private_key)


def test_an_order_with_its_own_csr_is_issued_for_the_csr_names(
        cas: CasEmulator, dns: AlidnsEmulator, package: PackageBackend) -> None:
    order_id = place(cas, "", csr=make_csr("csr.example.com", key="ec256"))
    answer = issue(cas, dns, order_id)
    assert not answer.private_key  # the client holds the key

    progress = package.progress(order_id, None, CREDS, include_certificate=True)

    assert progress.certificate is not None and progress.certificate.domains == ("csr.example.com",)


def test_an_order_not_validated_by_the_cas_deadline_is_FAILED_with_the_verify_fail_reason(
        cas: CasEmulator, package: PackageBackend) -> None:
    order_id = place(cas)
    cas.advance_ca_clock(2 * DAY + 1)

    progress = package.progress(order_id, None, CREDS)

    assert (progress.phase, progress.status, progress.final) == (FAILED, "verify_fail", True)
    assert progress.reason == "CAS reports the review failed (verify_fail)"


def test_releasing_a_failed_order_returns_true_and_gives_its_quota_unit_back(
        cas: CasEmulator, package: PackageBackend) -> None:
    before = package.quota(FREE, CREDS).used
    order_id = place(cas)
    cas.advance_ca_clock(2 * DAY + 1)
    assert package.progress(order_id, None, CREDS).phase == FAILED
    assert package.quota(FREE, CREDS).used == before + 1

    assert package.release(order_id, None, CREDS) is True

    assert package.quota(FREE, CREDS).used == before
    with pytest.raises(RelayError) as gone:  # deleted: CAS knows it no more
        package.progress(order_id, None, CREDS)
    assert "NotFoundOrder" in gone.value.message


def test_releasing_an_issued_order_raises_cas_refusal_mapped_and_keeps_its_quota(
        cas: CasEmulator, dns: AlidnsEmulator, package: PackageBackend) -> None:
    order_id = place(cas)
    issue(cas, dns, order_id)
    spent = package.quota(FREE, CREDS).used

    with pytest.raises(CasOutcomeUnknown) as refused:  # how cas/errors.py maps a 403 on no list
        package.release(order_id, None, CREDS)

    assert "403 OrderStateError" in refused.value.message
    assert package.quota(FREE, CREDS).used == spent
    assert package.progress(order_id, None, CREDS).phase == ISSUED


def test_a_v1_progress_or_release_without_an_order_id_is_a_clear_error_and_calls_nothing(
        cas: CasEmulator, package: PackageBackend) -> None:
    with pytest.raises(ValueError, match="OrderId"):
        package.progress(None, "cas_dv-cn-whatever", CREDS)
    with pytest.raises(ValueError, match="OrderId"):
        package.release(None, None, CREDS)
    assert cas.requests() == []


# --------------------------------------------------------------------------- V2.0 instances


class Clock:
    """The emulator's wall clock, moved forward by hand."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emu(clock: Clock) -> Iterator[CasEmulator]:
    with CasEmulator(instances="4xDigiCert:DV:1+0,DigiCert:DV:2+0", application_seconds=APPLY, clock=clock,
                     qps=None) as emulator:
        yield emulator


@pytest.fixture
def instances(emu: CasEmulator) -> InstanceBackend:
    backend = open_backend(settings(emu, order_api="instance"))
    assert isinstance(backend, InstanceBackend)
    return backend


def inactive(emu: CasEmulator, full: int = 1, index: int = 0) -> str:
    return [i.instance_id for i in emu.instances() if i.status == "inactive" and i.full_domain_count == full][index]


def apply(emu: CasEmulator, domain: str = "www.example.com", validation: str = "DNS", full: int = 1,
          **fields: Any) -> str:
    """Fill in an inactive instance and apply on it, as the instance backend's ``place`` does."""
    client, instance_id = sdk(emu), inactive(emu, full)
    contact = client.create_contact(m.CreateContactRequest(name="Ops", mobile="13800000000")).body.contact_id
    client.update_instance(m.UpdateInstanceRequest(instance_id=instance_id, domain=domain,
                                                   validation_method=validation, contact_id_list=[contact], **fields))
    client.apply_certificate(m.ApplyCertificateRequest(instance_id=instance_id))
    return instance_id


def user_certificate(emu: CasEmulator, cert_id: int, **fields: Any) -> m.GetUserCertificateDetailResponseBody:
    request = m.GetUserCertificateDetailRequest(cert_id=cert_id, **fields)
    return sdk(emu).get_user_certificate_detail(request).body


def test_a_processing_application_with_a_validation_list_is_VALIDATION_with_each_dns_record(
        emu: CasEmulator, instances: InstanceBackend) -> None:
    instance_id = apply(emu, "www.example.com,api.example.com", full=2)
    listed = sdk(emu).get_instance_detail(m.GetInstanceDetailRequest(instance_id=instance_id)).body

    progress = instances.progress(None, instance_id, CREDS)

    assert (progress.phase, progress.status, progress.final) == (VALIDATION, "processing", False)
    assert [(v.method, v.domain, v.record_domain, v.record_type, v.record_value) for v in progress.validations] == [
        ("DNS", e.domain, e.validation_key, e.validation_type, e.validation_value)
        for e in listed.domain_validation_list]
    assert [v.domain for v in progress.validations] == ["www.example.com", "api.example.com"]
    assert progress.extra == {"instance_status": "pending"}


def test_an_http_application_is_a_FILE_validation_at_the_validation_key(
        emu: CasEmulator, instances: InstanceBackend) -> None:
    instance_id = apply(emu, "files.example.com", validation="HTTP")
    [entry] = sdk(emu).get_instance_detail(m.GetInstanceDetailRequest(instance_id=instance_id)
                                           ).body.domain_validation_list

    [validation] = instances.progress(None, instance_id, CREDS).validations

    assert (validation.method, validation.domain, validation.uri, validation.content) == (
        "FILE", "files.example.com", entry.validation_key, entry.validation_value)


def test_after_the_application_time_the_instance_is_ISSUED_with_its_certificate_id_identifier_names_and_validity(
        emu: CasEmulator, instances: InstanceBackend, clock: Clock) -> None:
    instance_id = apply(emu)
    clock.advance(APPLY + 1)

    progress = instances.progress(None, instance_id, CREDS)

    assert (progress.phase, progress.status, progress.final) == (ISSUED, "success", True)
    stored = emu.get_instance(instance_id)
    certificate = progress.certificate
    assert certificate is not None and stored.certificate_id is not None
    assert certificate.certificate_id == stored.certificate_id
    assert certificate.identifier == f"{stored.certificate_id}-cn-hangzhou"
    assert certificate.domains == ("www.example.com",)
    assert (certificate.not_before, certificate.not_after) == (stored.cert_not_before_s, stored.cert_not_after_s)
    assert certificate.pem is None
    assert emu.counts_by_outcome(ACTION_USER_CERTIFICATE) == {}  # not asked for: not fetched


def test_an_application_the_ca_fails_is_FAILED_with_cas_task_message(
        emu: CasEmulator, instances: InstanceBackend, clock: Clock) -> None:
    emu.fail_applications(message="CAA record forbids the CA")
    instance_id = apply(emu)
    clock.advance(APPLY + 1)

    progress = instances.progress(None, instance_id, CREDS)

    assert (progress.phase, progress.status, progress.final) == (FAILED, "failed", True)
    assert progress.reason == "CAA record forbids the CA"
    assert progress.certificate is None


def test_include_certificate_fetches_the_public_pem_and_never_the_key_cas_generated(
        emu: CasEmulator, instances: InstanceBackend, clock: Clock) -> None:
    instance_id = apply(emu, "www.example.com,api.example.com", full=2)
    clock.advance(APPLY + 1)
    stored = emu.get_instance(instance_id)
    assert stored.certificate_id is not None and stored.generate_csr_method == "online"
    answer = user_certificate(emu, stored.certificate_id)
    assert answer.key and "PRIVATE KEY" in answer.key  # CAS made the key, and its answer carries it

    progress = instances.progress(None, instance_id, CREDS, include_certificate=True)

    certificate = progress.certificate
    assert progress.phase == ISSUED and certificate is not None and certificate.pem is not None
    assert "BEGIN CERTIFICATE" in certificate.pem and certificate.pem.strip() == answer.cert.strip()
    sans = x509.load_pem_x509_certificate(certificate.pem.encode()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["www.example.com", "api.example.com"]
    assert pem_validity(certificate.pem) == (stored.cert_not_before_s, stored.cert_not_after_s)
    assert_no_private_key(progress, answer.key)


def test_an_instance_never_applied_on_is_WAITING_in_its_own_status(
        emu: CasEmulator, instances: InstanceBackend) -> None:
    progress = instances.progress(None, inactive(emu), CREDS)

    assert (progress.phase, progress.status, progress.validations) == (WAITING, "inactive", ())


def test_a_v2_progress_without_an_instance_id_is_a_clear_error_and_v2_has_no_release(
        emu: CasEmulator, instances: InstanceBackend) -> None:
    with pytest.raises(ValueError, match="instance"):
        instances.progress(None, None, CREDS)
    assert instances.release(None, "cas_dv-cn-whatever", CREDS) is False
    assert emu.requests() == []


# --------------------------------------------------------------------------- the emulator's GetUserCertificateDetail


def test_the_emulator_returns_no_key_for_an_uploaded_csr_and_neither_cert_nor_key_with_cert_filter(
        emu: CasEmulator, clock: Clock) -> None:
    instance_id = apply(emu, "", generate_csr_method="upload", csr=make_csr("upload.example.com", key="ec256"))
    clock.advance(APPLY + 1)
    cert_id = emu.get_instance(instance_id).certificate_id
    assert cert_id is not None

    uploaded = user_certificate(emu, cert_id)
    filtered = user_certificate(emu, cert_id, cert_filter=True)

    assert uploaded.cert and uploaded.key is None and (uploaded.id, uploaded.sans) == (cert_id, "upload.example.com")
    assert (filtered.cert, filtered.key, filtered.id) == (None, None, cert_id)


def test_the_emulator_refuses_an_unknown_cert_id_with_404(emu: CasEmulator) -> None:
    with pytest.raises(ClientException) as info:
        user_certificate(emu, 1)
    assert (info.value.code, info.value.status_code) == ("InvalidCertId.NotFound", 404)


def test_the_emulator_answers_the_same_certificate_and_key_every_time(emu: CasEmulator, clock: Clock) -> None:
    instance_id = apply(emu)
    clock.advance(APPLY + 1)
    cert_id = emu.get_instance(instance_id).certificate_id
    assert cert_id is not None

    first, second = user_certificate(emu, cert_id), user_certificate(emu, cert_id)

    assert (first.cert, first.key) == (second.cert, second.key)

