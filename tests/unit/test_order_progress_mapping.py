"""The translation of CAS's words into ``Progress``, as pure functions: V1.0 DescribeCertificateState
(``package_progress``), V2.0 GetTaskAttribute + GetInstanceDetail (``instance_progress``), and the PEM reader.

A word CAS has not documented (or adds later) must never end the follow: it is ``WAITING``. Nothing that can
hold a private key is read: the SDK bodies here raise if their key field is touched.
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from casrelay.ordering.instance_progress import (
    InstanceFacts,
    instance_facts,
    progress_from_task,
    public_pem,
    read_progress,
)
from casrelay.ordering.package_progress import VERIFY_FAIL_REASON, progress_from_state, state_fields
from casrelay.ordering.pem import _epoch, certificate_blocks, read_certificate
from casrelay.ordering.progress import FAILED, ISSUED, VALIDATION, WAITING

START = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
END = START + dt.timedelta(days=90)
KEY_PEM = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n"


def make_pem(cn: str = "www.example.com", sans: tuple[str, ...] | None = ("www.example.com", "api.example.com")
             ) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(START).not_valid_after(END))
    if sans is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


class KeyTrap(SimpleNamespace):
    """An SDK-like body whose key fields may not be read."""

    @property
    def private_key(self) -> Any:
        raise AssertionError("the private key was read")

    @property
    def key(self) -> Any:
        raise AssertionError("the private key was read")


# --------------------------------------------------------------------------- V1.0


@pytest.mark.parametrize("word", ["payed", "process", "unknow", "cancelled_by_a_new_release", "", None])
def test_v1_words_that_are_not_final_or_unknown_are_WAITING_with_cas_word(word: str | None) -> None:
    progress = progress_from_state({"Type": word} if word is not None else {})

    assert (progress.phase, progress.status, progress.final) == (WAITING, word or "", False)


def test_v1_domain_verify_dns_is_one_dns_validation_with_the_record_fields() -> None:
    progress = progress_from_state({"Type": "domain_verify", "ValidateType": "DNS", "RecordDomain": "_dnsauth.a.b",
                                    "RecordType": "TXT", "RecordValue": "token"})

    [v] = progress.validations
    assert progress.phase == VALIDATION
    assert (v.method, v.record_domain, v.record_type, v.record_value, v.uri) == (
        "DNS", "_dnsauth.a.b", "TXT", "token", "")


def test_v1_domain_verify_without_validate_type_is_read_from_the_fields_given() -> None:
    dns = progress_from_state({"Type": "domain_verify", "RecordDomain": "_dnsauth.a.b", "RecordValue": "t"})
    file = progress_from_state({"Type": "domain_verify", "Domain": "a.b", "Uri": "http://a.b/f.txt", "Content": "c"})
    nothing = progress_from_state({"Type": "domain_verify"})

    assert [v.method for v in dns.validations] == ["DNS"]
    assert [(v.method, v.domain, v.uri, v.content) for v in file.validations] == [
        ("FILE", "a.b", "http://a.b/f.txt", "c")]
    assert (nothing.phase, nothing.status) == (WAITING, "domain_verify")


def test_v1_verify_fail_is_FAILED_with_the_fixed_reason() -> None:
    progress = progress_from_state({"Type": "verify_fail"})

    assert (progress.phase, progress.reason, progress.final) == (FAILED, VERIFY_FAIL_REASON, True)


def test_v1_certificate_is_ISSUED_with_names_and_validity_from_the_pem_and_the_pem_only_when_asked() -> None:
    pem = make_pem()
    fields = {"Type": "certificate", "Certificate": pem, "CertId": "14000001"}

    plain, included = progress_from_state(fields), progress_from_state(fields, include_certificate=True)

    assert plain.phase == ISSUED and plain.certificate is not None
    assert plain.certificate.certificate_id == 14000001
    assert plain.certificate.domains == ("www.example.com", "api.example.com")
    assert (plain.certificate.not_before, plain.certificate.not_after) == (START.timestamp(), END.timestamp())
    assert plain.certificate.pem is None
    assert included.certificate is not None and included.certificate.pem == pem


def test_v1_a_pem_that_does_not_parse_is_still_ISSUED_with_the_certificate_id_and_no_names() -> None:
    broken = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
    for text in (broken, "garbage", ""):
        progress = progress_from_state({"Type": "certificate", "Certificate": text, "CertId": 7})
        assert progress.phase == ISSUED and progress.certificate is not None
        assert (progress.certificate.certificate_id, progress.certificate.domains) == (7, ())
        assert progress.certificate.not_before is None and progress.certificate.not_after is None


def test_v1_state_fields_never_read_the_private_key_and_drop_absent_fields() -> None:
    body = KeyTrap(type="certificate", certificate="PEM", cert_id=5, record_domain=None)

    assert state_fields(body) == {"Type": "certificate", "Certificate": "PEM", "CertId": 5}


def test_v1_a_key_pasted_into_the_certificate_field_is_not_carried_on() -> None:
    pem = make_pem()
    progress = progress_from_state({"Type": "certificate", "Certificate": pem + KEY_PEM}, include_certificate=True)

    assert progress.certificate is not None and progress.certificate.pem == pem
    assert "PRIVATE KEY" not in repr(progress)


# --------------------------------------------------------------------------- V2.0


def issued_detail(**fields: Any) -> InstanceFacts:
    base: dict[str, Any] = dict(status="normal", certificate_id=21000000, identifier="21000000-cn-hangzhou",
                                domain="www.example.com,api.example.com", not_before=START.timestamp(),
                                not_after=END.timestamp())
    return InstanceFacts(**(base | fields))


@pytest.mark.parametrize("word", ["queued", "PROCESSING_LATER", "", None])
def test_v2_unknown_task_words_on_an_instance_without_a_certificate_are_WAITING(word: str | None) -> None:
    progress = progress_from_task(word, "", InstanceFacts(status="pending"))

    assert (progress.phase, progress.final) == (WAITING, False)
    assert progress.status == (word or "pending")


def test_v2_success_is_ISSUED_with_the_detail_id_identifier_names_and_validity() -> None:
    progress = progress_from_task("success", "", issued_detail())

    certificate = progress.certificate
    assert progress.phase == ISSUED and certificate is not None
    assert (certificate.certificate_id, certificate.identifier) == (21000000, "21000000-cn-hangzhou")
    assert certificate.domains == ("www.example.com", "api.example.com")
    assert (certificate.not_before, certificate.not_after) == (START.timestamp(), END.timestamp())


def test_v2_success_whose_detail_names_no_certificate_yet_is_WAITING_not_a_final_issue() -> None:
    progress = progress_from_task("success", "", InstanceFacts(status="pending"))

    assert (progress.phase, progress.extra.get("awaiting")) == (WAITING, "CertificateId")


def test_v2_no_task_but_a_normal_or_expiring_instance_with_a_certificate_is_ISSUED() -> None:
    for status in ("normal", "willExpire"):
        assert progress_from_task(None, "", issued_detail(status=status)).phase == ISSUED
    assert progress_from_task(None, "", issued_detail(status="expired")).phase == WAITING


def test_v2_a_processing_task_never_reads_an_older_certificate_on_the_instance_as_issued() -> None:
    progress = progress_from_task("processing", "", issued_detail())

    assert progress.phase == WAITING


def test_v2_failed_takes_the_task_message_else_the_pending_result_else_a_fixed_reason() -> None:
    assert progress_from_task("failed", "CAA forbids", InstanceFacts(pending_result="other")).reason == "CAA forbids"
    assert progress_from_task("failed", "", InstanceFacts(pending_result="CA said no")).reason == "CA said no"
    fixed = progress_from_task("failed", "", InstanceFacts())
    assert fixed.phase == FAILED and fixed.reason


def test_v2_validation_types_map_txt_and_cname_to_dns_http_to_file_and_unknown_ones_are_left_out() -> None:
    entries = (
        {"Domain": "a.example.com", "ValidationType": "TXT", "ValidationKey": "_dnsauth.a", "ValidationValue": "t1"},
        {"Domain": "b.example.com", "ValidationType": "CNAME", "ValidationKey": "_x.b", "ValidationValue": "c.ca"},
        {"Domain": "c.example.com", "ValidationType": "HTTP", "ValidationKey": "http://c/f.txt",
         "ValidationValue": "body"},
        {"Domain": "d.example.com", "ValidationType": "EMAIL", "ValidationKey": "admin@d", "ValidationValue": "x"},
    )
    progress = progress_from_task("processing", "", InstanceFacts(status="pending", validations=entries))

    assert progress.phase == VALIDATION
    assert [(v.method, v.domain, v.record_domain, v.record_type, v.record_value, v.uri, v.content)
            for v in progress.validations] == [
        ("DNS", "a.example.com", "_dnsauth.a", "TXT", "t1", "", ""),
        ("DNS", "b.example.com", "_x.b", "CNAME", "c.ca", "", ""),
        ("FILE", "c.example.com", "", "", "", "http://c/f.txt", "body")]
    only_unknown = InstanceFacts(status="pending", validations=entries[3:])
    assert progress_from_task("processing", "", only_unknown).phase == WAITING


def test_v2_instance_facts_read_validity_in_seconds_or_milliseconds_and_copy_the_validation_list() -> None:
    entry = SimpleNamespace(domain="a.example.com", validation_type="TXT", validation_key="_dnsauth.a",
                            validation_value="t", cname="ignored")
    seconds = instance_facts(SimpleNamespace(status="normal", certificate_id="21", cert_identifier="21-cn-hangzhou",
                                             domain="a.example.com", certificate_not_before=1_767_323_045,
                                             certificate_not_after=1_775_099_045_000, pending_result=None,
                                             domain_validation_list=[entry, None]))

    assert (seconds.certificate_id, seconds.not_before, seconds.not_after) == (21, 1_767_323_045.0, 1_775_099_045.0)
    assert seconds.validations == ({"Domain": "a.example.com", "ValidationType": "TXT", "ValidationKey": "_dnsauth.a",
                                    "ValidationValue": "t"},)
    assert instance_facts(None) == InstanceFacts()


def test_v2_the_pem_fills_in_names_and_validity_the_detail_left_out() -> None:
    pem = make_pem()
    progress = progress_from_task("success", "", InstanceFacts(status="normal", certificate_id=3), pem)

    assert progress.certificate is not None
    assert progress.certificate.domains == ("www.example.com", "api.example.com")
    assert progress.certificate.not_after == END.timestamp() and progress.certificate.pem == pem


def test_v2_public_pem_takes_only_cert_never_key() -> None:
    pem = make_pem()

    assert public_pem(KeyTrap(cert=pem + KEY_PEM)) == pem
    assert public_pem(KeyTrap(cert=None)) is None


def test_v2_read_progress_fetches_the_certificate_only_once_issued_and_only_when_asked() -> None:
    pem, fetched = make_pem(), []

    def fetch(cert_id: int) -> Any:
        fetched.append(cert_id)
        return KeyTrap(cert=pem)

    issued = SimpleNamespace(status="normal", certificate_id=9, domain="www.example.com")
    pending = SimpleNamespace(status="pending", certificate_id=None, domain="www.example.com")

    assert read_progress(("processing", ""), pending, fetch).phase == WAITING
    assert read_progress(("success", ""), issued).certificate.pem is None  # type: ignore[union-attr]
    assert fetched == []
    with_pem = read_progress(("success", ""), issued, fetch)
    assert fetched == [9] and with_pem.certificate is not None and with_pem.certificate.pem == pem
    assert read_progress(None, issued).phase == ISSUED  # no task: the detail decides


# --------------------------------------------------------------------------- the PEM reader


def test_a_certificate_without_subject_alt_names_binds_its_common_name() -> None:
    facts = read_certificate(make_pem(cn="cn-only.example.com", sans=None))

    assert facts is not None and facts.domains == ("cn-only.example.com",)


def test_certificate_blocks_keep_every_certificate_of_a_chain_in_order_and_nothing_else() -> None:
    leaf, ca = make_pem(cn="leaf.example.com"), make_pem(cn="ca.example.com", sans=None)

    blocks = certificate_blocks(leaf + KEY_PEM + ca)

    assert blocks == leaf + ca
    facts = read_certificate(blocks)
    assert facts is not None and facts.domains == ("www.example.com", "api.example.com")  # the leaf's names
    assert certificate_blocks(KEY_PEM) is None and certificate_blocks(None) is None


def test_validity_is_read_from_the_naive_utc_properties_of_an_older_cryptography() -> None:
    old = SimpleNamespace(not_valid_before=START.replace(tzinfo=None))

    assert _epoch(old, "not_valid_before") == START.timestamp()
