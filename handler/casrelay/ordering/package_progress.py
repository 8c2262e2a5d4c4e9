"""V1.0: what ``DescribeCertificateState`` says of an order, as one ``Progress``.

The answer's ``Type`` is CAS's word for where the order stands (models/_describe_certificate_state_response_body.py,
``alibabacloud_cas20200407`` 3.9.4): ``domain_verify`` asks for a DNS record or a file, ``process`` is the CA's
review, ``certificate`` is issued, ``verify_fail`` failed review, ``payed`` has not been applied for, ``unknow``
is CAS's own "unknown". Any other word is read as "not final yet" (``WAITING``): a word CAS adds later must
make the follower poll again, never stop on an order that may still be issued.

The issued answer carries ``PrivateKey`` when CAS generated the key. ``state_fields`` copies the answer's
public fields by name into a plain mapping, so the key is never read, and the SDK object goes out of scope
with the call; the mapping itself (``progress_from_state``) is a pure function of those fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .pem import certificate_blocks, read_certificate
from .progress import FAILED, ISSUED, VALIDATION, WAITING, IssuedCertificate, Progress, Validation

DOMAIN_VERIFY, CERTIFICATE, VERIFY_FAIL = "domain_verify", "certificate", "verify_fail"
#: What CAS says of a failed review: DescribeCertificateState gives no reason text.
VERIFY_FAIL_REASON = "CAS reports the review failed (verify_fail)"
#: The answer's fields that ``progress_from_state`` reads, SDK attribute -> CAS's name. ``private_key`` is not
#: one of them, on purpose.
PUBLIC_FIELDS = {
    "type": "Type", "validate_type": "ValidateType", "record_domain": "RecordDomain", "record_type": "RecordType",
    "record_value": "RecordValue", "domain": "Domain", "uri": "Uri", "content": "Content",
    "certificate": "Certificate", "cert_id": "CertId",
}


def state_fields(body: Any) -> dict[str, Any]:
    """The public fields of a DescribeCertificateState answer (an SDK body), in CAS's names; absent ones left out."""
    out: dict[str, Any] = {}
    for attribute, name in PUBLIC_FIELDS.items():
        value = getattr(body, attribute, None)
        if value is not None:
            out[name] = value
    return out


def progress_from_state(fields: Mapping[str, Any], include_certificate: bool = False) -> Progress:
    """The ``Progress`` of one DescribeCertificateState answer (``fields`` as ``state_fields`` gives them)."""
    word = _text(fields.get("Type"))
    if word == DOMAIN_VERIFY:
        validation = _validation(fields)
        if validation is None:  # nothing to publish yet: CAS has not said how to validate
            return Progress(WAITING, status=word)
        return Progress(VALIDATION, (validation,), status=word)
    if word == CERTIFICATE:
        return Progress(ISSUED, certificate=_issued(fields, include_certificate), status=word)
    if word == VERIFY_FAIL:
        return Progress(FAILED, reason=VERIFY_FAIL_REASON, status=word)
    return Progress(WAITING, status=word)  # payed, process, unknow, and any word CAS adds later


def _text(value: Any) -> str:
    return str(value).strip() if value is not None else ""


def _validation(fields: Mapping[str, Any]) -> Validation | None:
    """The DNS record or the file CAS asks for; ``ValidateType`` first, else whichever fields it gave."""
    kind = _text(fields.get("ValidateType")).upper()
    record = {k: _text(fields.get(k)) for k in ("RecordDomain", "RecordType", "RecordValue")}
    file = {k: _text(fields.get(k)) for k in ("Domain", "Uri", "Content")}
    if kind == "DNS" or (not kind and record["RecordDomain"]):
        return Validation("DNS", domain=file["Domain"], record_domain=record["RecordDomain"],
                          record_type=record["RecordType"], record_value=record["RecordValue"])
    if kind == "FILE" or (not kind and file["Uri"]):
        return Validation("FILE", domain=file["Domain"], uri=file["Uri"], content=file["Content"])
    return None


def _issued(fields: Mapping[str, Any], include_certificate: bool) -> IssuedCertificate:
    """The certificate's ID, and its names and validity as its PEM states them (none when it cannot be read)."""
    pem = _text(fields.get("Certificate")) or None
    facts = read_certificate(pem)
    return IssuedCertificate(
        certificate_id=_int(fields.get("CertId")),
        domains=facts.domains if facts else (),
        not_before=facts.not_before if facts else None,
        not_after=facts.not_after if facts else None,
        pem=certificate_blocks(pem) if include_certificate else None)


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
