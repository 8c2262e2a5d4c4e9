"""V2.0: what ``GetTaskAttribute`` and ``GetInstanceDetail`` say of an application, as one ``Progress``.

The task (``TaskId`` = the instance) says ``processing``, ``success`` or ``failed``
(models/_get_task_attribute_response_body.py, 3.9.4); the instance's detail holds the rest: the
``DomainValidationList`` to publish while processing (``ValidationType`` TXT or CNAME: a DNS record named
``ValidationKey``; HTTP: a file at ``ValidationKey``), and once issued ``CertificateId``, ``CertIdentifier``,
``Domain`` and the validity (models/_get_instance_detail_response_body.py). The task decides first:

- ``success`` is ``ISSUED``, once the detail names the certificate (a success whose detail names none yet is
  read as ``WAITING``: ISSUED is final, and the follower would never learn the certificate's ID);
- ``failed`` is ``FAILED``, with CAS's ``TaskMessage`` (or the instance's ``PendingResult``) as the reason;
- no task at all (``InvalidTaskId.NotFound``) or a word CAS adds later: an instance that is ``normal`` or
  ``willExpire`` with a certificate is ``ISSUED``; otherwise, as for ``processing``, the validation list
  makes it ``VALIDATION`` and its absence ``WAITING``.

A ``processing`` task never reads an old certificate on the instance as issued: the application in progress
is the one being followed. The certificate's PEM, when asked for, comes from GetUserCertificateDetail's
``Cert`` (``public_pem``); the same answer carries ``Key`` when CAS generated the key, which is never read.
``InstanceBackend.progress`` makes the calls and hands their answers to ``read_progress``; the SDK bodies
are read into ``InstanceFacts`` and dropped there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .pem import certificate_blocks, read_certificate
from .progress import FAILED, ISSUED, VALIDATION, WAITING, IssuedCertificate, Progress, Validation

PROCESSING, SUCCESS, TASK_FAILED = "processing", "success", "failed"
#: Instance statuses that hold an issued certificate (models/_list_instances_request.py).
ISSUED_STATUSES = frozenset({"normal", "willExpire"})
DNS_TYPES = frozenset({"TXT", "CNAME"})
FILE_TYPES = frozenset({"HTTP"})
FAILED_REASON = "CAS reports the application failed, without a reason"
#: Epoch values above this are milliseconds (10**11 s is the year 5138; 10**11 ms is 1973).
_MS_THRESHOLD = 10**11


@dataclass(frozen=True)
class InstanceFacts:
    """The public fields of GetInstanceDetail that the translation reads, copied off the SDK body."""

    status: str = ""
    certificate_id: int | None = None
    identifier: str | None = None
    domain: str = ""
    not_before: float | None = None
    not_after: float | None = None
    pending_result: str = ""
    #: ``DomainValidationList`` entries, each with CAS's names (Domain, ValidationType, ValidationKey...).
    validations: tuple[Mapping[str, str], ...] = ()


def read_progress(task: tuple[str, str] | None, detail_body: Any,
                  fetch_certificate: Callable[[int], Any] | None = None) -> Progress:
    """The ``Progress`` of a task (None: the instance has none) and a GetInstanceDetail body; once issued,
    ``fetch_certificate`` (GetUserCertificateDetail by CertId, None: not asked for) supplies the PEM."""
    status, message = task if task is not None else (None, "")
    detail = instance_facts(detail_body)
    progress = progress_from_task(status, message, detail)
    if fetch_certificate is not None and progress.phase == ISSUED and detail.certificate_id is not None:
        progress = progress_from_task(status, message, detail, public_pem(fetch_certificate(detail.certificate_id)))
    return progress


def certificate_id(detail_body: Any) -> int | None:
    """The ``CertificateId`` of a GetInstanceDetail (or ListInstances) entry, when it names one."""
    return _int(getattr(detail_body, "certificate_id", None))


def instance_facts(body: Any) -> InstanceFacts:
    """Copy the fields ``progress_from_task`` needs off a GetInstanceDetail body (None: an empty answer)."""
    if body is None:
        return InstanceFacts()
    entries = tuple(
        {name: _text(getattr(entry, attribute, None)) for attribute, name in (
            ("domain", "Domain"), ("validation_type", "ValidationType"), ("validation_key", "ValidationKey"),
            ("validation_value", "ValidationValue"))}
        for entry in (getattr(body, "domain_validation_list", None) or []) if entry is not None)
    return InstanceFacts(
        status=_text(getattr(body, "status", None)), certificate_id=certificate_id(body),
        identifier=_text(getattr(body, "cert_identifier", None)) or None, domain=_text(getattr(body, "domain", None)),
        not_before=_seconds(getattr(body, "certificate_not_before", None)),
        not_after=_seconds(getattr(body, "certificate_not_after", None)),
        pending_result=_text(getattr(body, "pending_result", None)), validations=entries)


def public_pem(body: Any) -> str | None:
    """Only the ``Cert`` of a GetUserCertificateDetail answer, and only its certificate blocks."""
    return certificate_blocks(_text(getattr(body, "cert", None)) or None)


def progress_from_task(task_status: str | None, task_message: str, detail: InstanceFacts,
                       pem: str | None = None) -> Progress:
    """The ``Progress`` of one application: ``task_status`` None when the instance has no task. ``pem`` is
    the public certificate to include (fetched only once issued)."""
    word = _text(task_status)
    extra = {"instance_status": detail.status} if detail.status else {}
    status = word or detail.status
    if word == SUCCESS:
        if detail.certificate_id is None:
            return Progress(WAITING, status=status, extra={**extra, "awaiting": "CertificateId"})
        return Progress(ISSUED, certificate=issued_certificate(detail, pem), status=status, extra=extra)
    if word == TASK_FAILED:
        return Progress(FAILED, reason=_text(task_message) or detail.pending_result or FAILED_REASON,
                        status=status, extra=extra)
    if word != PROCESSING and detail.status in ISSUED_STATUSES and detail.certificate_id is not None:
        return Progress(ISSUED, certificate=issued_certificate(detail, pem), status=status, extra=extra)
    validations = validations_from(detail.validations)
    if validations:
        return Progress(VALIDATION, validations, status=status, extra=extra)
    return Progress(WAITING, status=status, extra=extra)


def issued_certificate(detail: InstanceFacts, pem: str | None) -> IssuedCertificate:
    """The certificate as the detail names it; the PEM fills in what the detail left out."""
    facts = read_certificate(pem)
    domains = tuple(d.strip() for d in detail.domain.split(",") if d.strip()) or (facts.domains if facts else ())
    return IssuedCertificate(
        certificate_id=detail.certificate_id, identifier=detail.identifier, domains=domains,
        not_before=detail.not_before if detail.not_before is not None else (facts.not_before if facts else None),
        not_after=detail.not_after if detail.not_after is not None else (facts.not_after if facts else None),
        pem=pem)


def validations_from(entries: Sequence[Mapping[str, str]]) -> tuple[Validation, ...]:
    """Each ``DomainValidationList`` entry as a ``Validation``; an entry of a type not known here is left out."""
    out: list[Validation] = []
    for entry in entries:
        kind = entry.get("ValidationType", "").upper()
        key, value, domain = entry.get("ValidationKey", ""), entry.get("ValidationValue", ""), entry.get("Domain", "")
        if kind in DNS_TYPES:
            out.append(Validation("DNS", domain=domain, record_domain=key, record_type=kind, record_value=value))
        elif kind in FILE_TYPES:
            out.append(Validation("FILE", domain=domain, uri=key, content=value))
    return tuple(out)


def _text(value: Any) -> str:
    return str(value).strip() if value is not None else ""


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _seconds(value: Any) -> float | None:
    """An epoch value as seconds. The SDK model documents seconds, other CAS answers use milliseconds
    (ListUserCertificateOrder's CertStartTime): both are read, by magnitude."""
    number = _int(value)
    if number is None or number <= 0:
        return None
    return number / 1000 if number >= _MS_THRESHOLD else float(number)
