"""What the follower keeps of one order between polls, in the ledger record's ``follow`` field.

The record stores plain JSON (a dict); this is its typed view, read and written only by the follower. Every
field is what the next poll, possibly in another instance after this one died, needs to carry on without
doing anything twice: which phase was announced and which sinks have that message, which DNS records were
created (so they are removed once, and never created again), and whether the quota was already given back.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any

from ..ordering.progress import FINAL_PHASES, PHASES, WAITING, Validation
from .dns.base import DnsRecordRef


@dataclass(frozen=True)
class FollowState:
    phase: str = WAITING
    #: When the order was placed (the deadline runs from here).
    since: float = 0.0
    #: Polls made in this phase (the backoff's position; a new phase starts it again).
    polls: int = 0
    #: CAS's own word at the last poll.
    status: str = ""
    validations: tuple[Validation, ...] = ()
    #: ``IssuedCertificate`` fields, JSON-ready (``certificate_id``, ``identifier``, ``domains``, validity, pem).
    certificate: dict[str, Any] | None = None
    reason: str = ""
    #: Sink name -> time it confirmed this phase's message.
    deliveries: dict[str, float] = field(default_factory=dict)
    #: DNS records created (or found) for the validations, until removed.
    dns: tuple[DnsRecordRef, ...] = ()
    #: Every record in ``dns`` was removed (or there was nothing to remove) once the order was final.
    dns_removed: bool = False
    dns_remove_tries: int = 0
    #: The last DNS automation failure's code, for ``ledger_admin`` (empty when none).
    dns_error: str = ""
    #: Record names the automation can never serve (no zone holds them): not tried again for this order.
    dns_given_up: tuple[str, ...] = ()
    #: ``DELETE_FAILED_ORDERS``: None not tried, True deleted (quota back), False given up.
    released: bool | None = None
    release_tries: int = 0

    @property
    def final(self) -> bool:
        return self.phase in FINAL_PHASES

    def message_basis(self) -> str:
        """What makes this phase's message one message: the phase, and for a validation what it asks for (a
        new value is a new message; the same one re-pushed keeps its id)."""
        if not self.validations:
            return self.phase
        text = json.dumps([v.to_dict() for v in self.validations], sort_keys=True)
        return f"{self.phase}#{hashlib.sha256(text.encode()).hexdigest()[:16]}"

    def evolve(self, **changes: Any) -> FollowState:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase, "since": self.since, "polls": self.polls, "status": self.status,
            "validations": [v.to_dict() for v in self.validations], "certificate": self.certificate,
            "reason": self.reason, "deliveries": dict(self.deliveries), "dns": [r.to_dict() for r in self.dns],
            "dns_removed": self.dns_removed, "dns_remove_tries": self.dns_remove_tries, "dns_error": self.dns_error,
            "dns_given_up": list(self.dns_given_up),
            "released": self.released, "release_tries": self.release_tries,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, since: float) -> FollowState:
        """Read the record's ``follow``; anything missing or malformed falls back to a fresh start, which at
        worst polls CAS again and re-pushes a message under the id it had (never orders, never adds DNS twice:
        the DNS automation finds before it adds)."""
        data = data if isinstance(data, dict) else {}

        def num(name: str, default: float) -> float:
            value = data.get(name)
            return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default

        phase = data.get("phase")
        deliveries = data.get("deliveries")
        certificate = data.get("certificate")
        released = data.get("released")
        return cls(
            phase=phase if phase in PHASES else WAITING,
            since=num("since", since),
            polls=int(num("polls", 0)),
            status=str(data.get("status", ""))[:40],
            validations=tuple(Validation.from_dict(v) for v in data.get("validations") or ()
                              if isinstance(v, dict))[:50],
            certificate=certificate if isinstance(certificate, dict) else None,
            reason=str(data.get("reason", ""))[:500],
            deliveries={str(k): float(v) for k, v in deliveries.items() if isinstance(v, int | float)}
            if isinstance(deliveries, dict) else {},
            dns=tuple(DnsRecordRef.from_dict(r) for r in data.get("dns") or () if isinstance(r, dict))[:100],
            dns_removed=data.get("dns_removed") is True,
            dns_remove_tries=int(num("dns_remove_tries", 0)),
            dns_error=str(data.get("dns_error", ""))[:80],
            dns_given_up=tuple(str(n) for n in data.get("dns_given_up") or () if isinstance(n, str))[:50],
            released=released if isinstance(released, bool) else None,
            release_tries=int(num("release_tries", 0)),
        )
