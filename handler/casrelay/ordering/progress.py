"""What CAS says of a placed order after the paid call: the values the lifecycle follower reads.

Both API generations answer in their own words (V1.0 ``DescribeCertificateState``: ``domain_verify``,
``process``, ``certificate``, ``verify_fail``...; V2.0 ``GetTaskAttribute`` and ``GetInstanceDetail``:
``processing`` / ``success`` / ``failed`` with a ``DomainValidationList``). The backends translate them into
one ``Progress`` so that the follower (``casrelay.follow``) decides once what to push, to create in DNS and to
stop on. Nothing here may hold a private key: the V1.0 answer carries one when CAS generated the key, and the
backend drops it before a ``Progress`` exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: CAS has not asked for anything yet, or is reviewing (``payed``, ``process``, ``unknow``; V2.0 processing
#: without validation data): poll again later.
WAITING = "waiting"
#: CAS waits for the domain validation in ``Progress.validations``.
VALIDATION = "validation"
#: The certificate is issued (``certificate``; V2.0 ``success``).
ISSUED = "issued"
#: The order failed review (``verify_fail``; V2.0 ``failed``). Final.
FAILED = "failed"
PHASES = (WAITING, VALIDATION, ISSUED, FAILED)
FINAL_PHASES = frozenset({ISSUED, FAILED})


@dataclass(frozen=True)
class Validation:
    """One proof CAS asks for: a DNS record (``method`` DNS) or a file on the web server (``method`` FILE)."""

    method: str
    #: The name being validated (``Domain`` in the answer), when CAS says it.
    domain: str = ""
    record_domain: str = ""
    record_type: str = ""
    record_value: str = ""
    uri: str = ""
    content: str = ""

    def to_message(self) -> dict[str, Any]:
        """The message's ``Validation`` entry, in CAS's own field names."""
        domain = self.domain or None  # CAS names the domain for FILE; a DNS answer may leave it out
        if self.method == "DNS":
            return {"Method": "DNS", "Domain": domain, "RecordDomain": self.record_domain,
                    "RecordType": self.record_type, "RecordValue": self.record_value}
        return {"Method": "FILE", "Domain": domain, "Uri": self.uri, "Content": self.content}

    def to_dict(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Validation:
        return cls(**{k: str(data.get(k, "")) for k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class IssuedCertificate:
    """The issued certificate, public parts only."""

    certificate_id: int | None = None
    #: CAS's ``CertIdentifier`` (V2.0), when CAS gave one.
    identifier: str | None = None
    domains: tuple[str, ...] = ()
    #: Validity, epoch seconds.
    not_before: float | None = None
    not_after: float | None = None
    #: The public certificate chain (PEM), only when CAS returned it; never a key.
    pem: str | None = None


@dataclass(frozen=True)
class Progress:
    phase: str
    validations: tuple[Validation, ...] = ()
    certificate: IssuedCertificate | None = None
    #: Why the order failed (``FAILED``), in CAS's words when it gave any.
    reason: str = ""
    #: CAS's own status word (``domain_verify``, ``processing``...), for log lines.
    status: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def final(self) -> bool:
        return self.phase in FINAL_PHASES
