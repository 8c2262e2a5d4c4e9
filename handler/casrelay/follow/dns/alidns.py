"""``DNS_AUTOVALIDATE=alidns``: the record a CAS DNS validation asks for, created and removed through Alidns.

Every sweep may call ``ensure`` for the same order, and two sweeps may run at once, so ``ensure`` looks
before it adds (DescribeSubDomainRecords by full name, type and zone) and takes Alidns's
``DomainRecordDuplicate`` as "another sweep added it a moment ago", looking again instead of failing. It
calls AddDomainRecord at most once per call. A record at the same name with another value is someone
else's (a second order for the name, an operator's own TXT): it is neither returned nor ever deleted.

The zones come from DescribeDomains, every page, and are kept for ``ZONE_CACHE_SECONDS``: an account's zones
change rarely, and every sweep validates names. A name whose zone is not in the cache refreshes it once
before it is declared outside the account, so a zone added a minute ago is used at once. One cache per
instance is right because one function holds one role, hence one account, whatever STS token it signs with.

Names are sent in A-labels (``zones.normalise``); that Alidns accepts punycode for an IDN zone's
``DomainName`` and ``SubDomain`` is UNVERIFIED (DescribeDomains lists it as ``PunyCode``, which is read here).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ...cas.credentials import Credentials
from ...ordering.progress import Validation
from ..exceptions import ZoneNotFound, dns_unavailable, record_not_automatable
from .alidns_client import AlidnsClient, ExpectedAnswer
from .base import DnsAutomation, DnsRecordRef
from .zones import canonical_zones, find_zone, normalise, split

ACTION_DOMAINS = "DescribeDomains"
#: The shortest time between two listings of the zones made because a name was in none of them.
MIN_REFRESH_SECONDS = 60.0
ACTION_FIND = "DescribeSubDomainRecords"
ACTION_ADD = "AddDomainRecord"
ACTION_DELETE = "DeleteDomainRecord"
#: The largest page DescribeDomains and DescribeSubDomainRecords take (models/_describe_*_request.py).
PAGE_SIZE = 100
#: A bound on paging, so that an answer whose TotalCount never adds up cannot keep a sweep looping.
MAX_PAGES = 100
ZONE_CACHE_SECONDS = 300.0
#: AddDomainRecord's default, sent explicitly: the record lives only until the order is final.
RECORD_TTL = 600
#: What a CAS DNS validation asks for (DescribeCertificateState ``Type``; V2.0 DomainValidationList).
RECORD_TYPES = ("TXT", "CNAME")
#: AddDomainRecord's answer for a record that exists (same RR, type, value and line): TimothyYe/godns #47.
DUPLICATE = frozenset({"DomainRecordDuplicate"})
#: DeleteDomainRecord's answer for an id the account does not hold, a record deleted already among them
#: (aliyun/aliyun-openapi-python-sdk #407; the emulator answers it, HTTP 400, for a second delete).
GONE = frozenset({"DomainRecordNotBelongToUser"})
#: A lookup in a zone the account no longer holds: the record went with the zone.
NO_ZONE = frozenset({"InvalidDomainName.NoExist"})
#: The line AddDomainRecord uses when none is given; a record on another line is not the one we add.
DEFAULT_LINES = frozenset({"", "default"})


def _same_value(type_: str, listed: str, wanted: str) -> bool:
    """The value Alidns lists is the one wanted: exact for TXT (a pair of surrounding quotes aside, which DNS
    does not count as part of the text); for a CNAME target, without case or trailing dot, as DNS compares."""
    if type_ == "CNAME":
        return listed.rstrip(".").lower() == wanted.rstrip(".").lower()
    if len(listed) >= 2 and listed[0] == listed[-1] == '"':
        listed = listed[1:-1]
    return listed == wanted


def _listed_name(record: Any) -> str | None:
    """The full name of a listed record (RR and DomainName), normalised; None when it cannot be read."""
    rr, zone = getattr(record, "rr", None), getattr(record, "domain_name", None)
    if not zone:
        return None
    try:
        return normalise(zone if rr in (None, "", "@") else f"{rr}.{zone}")
    except ZoneNotFound:
        return None


def _is_ours(record: Any, ref: DnsRecordRef) -> bool:
    """Whether a listed record is the very record ``ref`` describes: name, type, value and default line."""
    listed = _listed_name(record)
    return (bool(getattr(record, "record_id", None))
            and (listed is None or listed == ref.name)
            and str(getattr(record, "type", "") or "").upper() == ref.type
            and _same_value(ref.type, str(getattr(record, "value", "") or ""), ref.value)
            and str(getattr(record, "line", "") or "") in DEFAULT_LINES)


def wanted_record(validation: Validation) -> tuple[str, str, str]:
    """``(name, type, value)`` of the record ``validation`` asks for, checked; ``ZoneNotFound`` (create it by
    hand) for anything this automation cannot create."""
    shown = validation.record_domain or validation.domain
    if validation.method.upper() != "DNS":
        raise record_not_automatable(shown, f"CAS asks for a {validation.method[:10]} validation, not DNS")
    name = normalise(validation.record_domain)
    type_ = validation.record_type.strip().upper()
    if type_ not in RECORD_TYPES:
        raise record_not_automatable(name, f"record type {type_[:10]!r} is not TXT or CNAME")
    if not validation.record_value:
        raise record_not_automatable(name, "CAS gave no record value")
    return name, type_, validation.record_value


class AlidnsAutomation(DnsAutomation):
    """Creates and removes validation records in the account's Alidns zones, idempotently."""

    name = "alidns"

    def __init__(self, client: AlidnsClient, *, zone_cache_seconds: float = ZONE_CACHE_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.zone_cache_seconds = zone_cache_seconds
        self._clock = clock
        self._zones: tuple[str, ...] | None = None
        self._zones_at = 0.0
        self._zone_lock = threading.Lock()

    # ------------------------------------------------------------------ zones

    def zones(self, creds: Credentials | None, *, refresh: bool = False) -> tuple[tuple[str, ...], bool]:
        """The account's zones (canonical) and whether they were read just now. One thread reads while the
        others wait for its answer, so a sweep's parallel orders cost one listing, not one each."""
        with self._zone_lock:
            cached = self._zones
            if cached is not None and not refresh and self._clock() - self._zones_at < self.zone_cache_seconds:
                return cached, False
            listed = self._list_zones(creds)
            self._zones, self._zones_at = listed, self._clock()
            return listed, True

    def _list_zones(self, creds: Credentials | None) -> tuple[str, ...]:
        from alibabacloud_alidns20150109 import models

        names: list[str] = []
        seen = 0
        for page in range(1, MAX_PAGES + 1):
            body = self.client.call(ACTION_DOMAINS, models.DescribeDomainsRequest(
                page_number=page, page_size=PAGE_SIZE), creds).body
            items = list(getattr(getattr(body, "domains", None), "domain", None) or [])
            seen += len(items)
            names += [str(d.puny_code or d.domain_name) for d in items if d.puny_code or d.domain_name]
            total = getattr(body, "total_count", None)
            if not items or (seen >= total if isinstance(total, int) else len(items) < PAGE_SIZE):
                break
        return tuple(canonical_zones(names))

    def locate(self, validation: Validation, creds: Credentials | None) -> DnsRecordRef:
        name, type_, value = wanted_record(validation)
        zone, rr = self.split(name, creds)
        return DnsRecordRef(zone, rr, type_, value)

    def split(self, name: str, creds: Credentials | None) -> tuple[str, str]:
        """``(zone, rr)`` for a full name, from the cached zones, refreshed once when none of them holds it."""
        zones, read_now = self.zones(creds)
        if not read_now and find_zone(name, zones) is None and self._clock() - self._zones_at >= MIN_REFRESH_SECONDS:
            # A zone added since the last listing is found at once; a name no zone holds (the common case of a
            # domain hosted elsewhere) costs one listing a minute at most, not one per poll of every such order.
            zones, _ = self.zones(creds, refresh=True)
        return split(name, zones)

    # ------------------------------------------------------------------ records

    def find(self, ref: DnsRecordRef, creds: Credentials | None,
             expected: frozenset[str] = frozenset()) -> list[str]:
        """The RecordIds of the records exactly like ``ref`` (name, type, value, default line), every page;
        ``expected`` as for ``AlidnsClient.call``."""
        from alibabacloud_alidns20150109 import models

        found: list[str] = []
        seen = 0
        for page in range(1, MAX_PAGES + 1):
            body = self.client.call(ACTION_FIND, models.DescribeSubDomainRecordsRequest(
                sub_domain=ref.name, type=ref.type, domain_name=ref.zone, page_number=page,
                page_size=PAGE_SIZE), creds, expected).body
            records = list(getattr(getattr(body, "domain_records", None), "record", None) or [])
            seen += len(records)
            found += [str(r.record_id) for r in records if _is_ours(r, ref)]
            total = getattr(body, "total_count", None)
            if not records or (seen >= total if isinstance(total, int) else len(records) < PAGE_SIZE):
                break
        return found

    def _add(self, ref: DnsRecordRef, creds: Credentials | None) -> str:
        from alibabacloud_alidns20150109 import models

        body = self.client.call(ACTION_ADD, models.AddDomainRecordRequest(
            domain_name=ref.zone, rr=ref.rr, type=ref.type, value=ref.value, ttl=RECORD_TTL), creds,
            expected=DUPLICATE).body
        record_id = getattr(body, "record_id", None)
        if not record_id:  # the record may exist; the next ensure finds it
            raise dns_unavailable(ACTION_ADD, "the answer held no RecordId")
        return str(record_id)

    def ensure(self, validation: Validation, creds: Credentials | None) -> DnsRecordRef:
        """Find the record, else add it once; an add refused as a duplicate (a racing sweep's add landed
        between our look and our add) is looked up again and that record returned."""
        name, type_, value = wanted_record(validation)
        zone, rr = self.split(name, creds)
        ref = DnsRecordRef(zone, rr, type_, value)
        found = self.find(ref, creds)
        if found:
            return replace(ref, record_id=found[0])
        try:
            return replace(ref, record_id=self._add(ref, creds))
        except ExpectedAnswer:
            found = self.find(ref, creds)
            if not found:
                raise dns_unavailable(ACTION_ADD, "DomainRecordDuplicate, yet no such record is listed") from None
            return replace(ref, record_id=found[0])

    def _delete(self, record_id: str, creds: Credentials | None) -> None:
        from alibabacloud_alidns20150109 import models

        try:
            self.client.call(ACTION_DELETE, models.DeleteDomainRecordRequest(record_id=record_id), creds,
                             expected=GONE)
        except ExpectedAnswer:
            return  # deleted already (an earlier sweep, or by hand): what remove wants

    def remove(self, ref: DnsRecordRef, creds: Credentials | None) -> None:
        """Delete the record by its id; without one, delete the records exactly like it (never one with another
        value). A record, or a zone, already gone counts as removed."""
        if ref.record_id:
            self._delete(ref.record_id, creds)
            return
        zone = normalise(ref.zone)
        name = normalise(ref.name)
        rr = "@" if name == zone else name[: -len(zone) - 1]
        exact = DnsRecordRef(zone, rr, ref.type.strip().upper(), ref.value)
        try:
            doomed = self.find(exact, creds, NO_ZONE)
        except ExpectedAnswer:
            return
        for record_id in doomed:
            self._delete(record_id, creds)
