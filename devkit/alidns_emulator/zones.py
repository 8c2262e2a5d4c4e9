"""The emulated Alidns account: the zones it holds and the records in them.

Kept apart from the wire so that the CAS emulator's validation can ask "does this TXT record exist" of
the same store the Alidns calls write (``has_record``), and so that a test can inspect or seed records
without a client. A record is a value object keyed by its ``RecordId``; the store keeps the rules a
client's idempotency depends on: a record is one (zone, RR, Type, Value, Line), a second add of the same
one is refused, and names are compared without case (Alidns hands RR back in lower case, as
xuchao1213/AliyunDdnsCSharp #11 observed; the rest of its normalisation is UNVERIFIED).

Zones are configured, as the zones an account has added to Alidns: the double knows nothing of public
suffixes, so ``example.com.cn`` or a delegated ``dev.example.com`` is a zone only because it is listed.
``zone_for`` is the longest listed zone a name falls in, which is how a client should split a record name
into DomainName and RR.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable
from dataclasses import dataclass

#: RecordIds are numeric strings (models/_add_domain_record_response_body.py: ``record_id: str``); this one
#: is above 2**53 on purpose, so that a client that reads one as a float is caught.
FIRST_RECORD_ID = 9_007_199_254_741_001
DEFAULT_TTL = 600  # models/_add_domain_record_request.py: "Default value: 600"
DEFAULT_LINE = "default"  # models/_add_domain_record_request.py: "The default value is default"
ENABLED = "ENABLE"  # the record Status seen in DescribeDomainRecords answers (UNVERIFIED: the model lists none)


def norm(name: str) -> str:
    """A DNS name as the store compares it: no surrounding space, no trailing dot, lower case."""
    return name.strip().rstrip(".").lower()


@dataclass
class DnsRecord:
    """One stored record; ``rr`` is ``@`` for the zone apex, as AddDomainRecord requires."""

    record_id: str
    zone: str
    rr: str
    type: str
    value: str
    ttl: int
    line: str
    created_ms: int
    status: str = ENABLED

    @property
    def fqdn(self) -> str:
        return self.zone if self.rr == "@" else f"{self.rr}.{self.zone}"

    def same_as(self, rr: str, type_: str, value: str, line: str) -> bool:
        return (self.rr, self.type, self.value, self.line) == (norm(rr), type_.upper(), value, line)


class DuplicateRecord(Exception):
    """The record exists already (Alidns answers DomainRecordDuplicate)."""


class ZoneBook:
    """The zones and records, behind the double's one re-entrant lock (``_lock``)."""

    _lock: threading.RLock

    def _init_zones(self, zones: Iterable[str]) -> None:
        self._zones: list[str] = []
        for zone in zones:
            if norm(zone) and norm(zone) not in self._zones:
                self._zones.append(norm(zone))
        self._dns_records: dict[str, DnsRecord] = {}
        self._next_record_id = FIRST_RECORD_ID

    # ------------------------------------------------------------------ zones

    def zones(self) -> list[str]:
        """The zones the account holds, in the order configured."""
        with self._lock:
            return list(self._zones)

    def add_zone(self, zone: str) -> None:
        with self._lock:
            if norm(zone) not in self._zones:
                self._zones.append(norm(zone))

    def zone_for(self, name: str) -> str | None:
        """The longest zone of the account that ``name`` is in (at a label boundary), or None."""
        wanted = norm(name)
        with self._lock:
            matches = [z for z in self._zones if wanted == z or wanted.endswith("." + z)]
        return max(matches, key=len) if matches else None

    def split(self, name: str) -> tuple[str, str] | None:
        """(DomainName, RR) for a full record name, e.g. ``_dnsauth.www.example.com.cn`` ->
        (``example.com.cn``, ``_dnsauth.www``); None when no zone of the account holds it."""
        zone = self.zone_for(name)
        if zone is None:
            return None
        wanted = norm(name)
        return zone, "@" if wanted == zone else wanted[: -len(zone) - 1]

    # ------------------------------------------------------------------ records

    def records(self, zone: str | None = None) -> list[DnsRecord]:
        """Copies of the records (of one zone), oldest first."""
        with self._lock:
            return [copy.copy(r) for r in self._dns_records.values() if zone is None or r.zone == norm(zone)]

    def has_record(self, name: str, type_: str, value: str) -> bool:
        """Whether an enabled record of this full name, type and exact value exists: what a CA's check sees."""
        wanted = norm(name)
        with self._lock:
            return any(r.fqdn == wanted and r.type == type_.upper() and r.value == value and r.status == ENABLED
                       for r in self._dns_records.values())

    def has_txt(self, name: str, value: str) -> bool:
        """``has_record(name, "TXT", value)``: the callable the CAS emulator's lifecycle takes."""
        return self.has_record(name, "TXT", value)

    def _store(self, zone: str, rr: str, type_: str, value: str, *, ttl: int = DEFAULT_TTL,
               line: str = DEFAULT_LINE, now_ms: int = 0) -> DnsRecord:
        """Add a record to a zone the caller has checked; ``DuplicateRecord`` if it exists already."""
        with self._lock:
            if any(r.zone == zone and r.same_as(rr, type_, value, line) for r in self._dns_records.values()):
                raise DuplicateRecord(f"{rr}.{zone} {type_} {value!r}")
            record = DnsRecord(str(self._next_record_id), zone, norm(rr), type_.upper(), value, ttl, line, now_ms)
            self._next_record_id += 1
            self._dns_records[record.record_id] = record
            return copy.copy(record)

    def put_record(self, name: str, type_: str, value: str, *, ttl: int = DEFAULT_TTL) -> DnsRecord:
        """Seed a record by its full name (a test's shortcut past AddDomainRecord); the zone must be held."""
        parts = self.split(name)
        if parts is None:
            raise ValueError(f"no zone of the account holds {name!r}; zones: {self.zones()}")
        return self._store(parts[0], parts[1], type_, value, ttl=ttl)

    def remove_record(self, record_id: str) -> DnsRecord | None:
        with self._lock:
            return self._dns_records.pop(str(record_id), None)

    def remove_matching(self, zone: str, rr: str, type_: str | None) -> int:
        """Remove every record of ``rr`` in ``zone`` (of one type, if given); the number removed."""
        with self._lock:
            doomed = [k for k, r in self._dns_records.items()
                      if r.zone == zone and r.rr == norm(rr) and (type_ is None or r.type == type_.upper())]
            for key in doomed:
                del self._dns_records[key]
            return len(doomed)
