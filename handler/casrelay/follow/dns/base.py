"""The small interface a DNS automation stands behind (``DNS_AUTOVALIDATE``), the way the ledger has stores.

The follower hands it the ``Validation`` CAS asked for and keeps what comes back (``DnsRecordRef``) in the
ledger record, so that the record is removed exactly once the order is final, by whichever sweep gets there.
``ensure`` must be idempotent: a sweep that died after creating the record, or two sweeps at once, must find
the record rather than create a second one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from ...cas.credentials import Credentials
from ...ordering.progress import Validation


@dataclass(frozen=True)
class DnsRecordRef:
    """A record this automation created (or found): where it lives and, once known, the provider's id."""

    zone: str
    rr: str
    type: str
    value: str
    record_id: str | None = None

    @property
    def name(self) -> str:
        return self.zone if self.rr == "@" else f"{self.rr}.{self.zone}"

    def to_dict(self) -> dict[str, Any]:
        return {"zone": self.zone, "rr": self.rr, "type": self.type, "value": self.value,
                "record_id": self.record_id}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DnsRecordRef:
        record_id = data.get("record_id")
        return cls(str(data.get("zone", "")), str(data.get("rr", "")), str(data.get("type", "")),
                   str(data.get("value", "")), None if record_id is None else str(record_id))


class DnsAutomation(ABC):
    #: For log lines and ``ledger_admin`` (``alidns``).
    name: str

    @abstractmethod
    def ensure(self, validation: Validation, creds: Credentials | None) -> DnsRecordRef:
        """The record ``validation`` asks for exists once this returns: found (same name, type and value) or
        created. Raises a ``FollowError``."""

    @abstractmethod
    def locate(self, validation: Validation, creds: Credentials | None) -> DnsRecordRef:
        """Where the record ``validation`` asks for lives (zone, RR), without its id and without creating it: what
        ``remove`` needs for a record whose id was lost (a sweep that died between creating it and saving the
        id). Raises a ``FollowError``."""

    @abstractmethod
    def remove(self, ref: DnsRecordRef, creds: Credentials | None) -> None:
        """Delete the record; a record already gone counts as removed. Raises a ``FollowError``."""
