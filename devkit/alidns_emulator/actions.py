"""The Alidns actions the double answers, from decoded parameters to the body fields.

Every parameter travels in the query, whatever the call (``alibabacloud_alidns20150109`` 4.6.1,
``client.py``: each ``*_with_options`` builds ``query[...]`` only, style RPC, method POST), so the handlers
read the merged parameters the request pipeline decoded. The shapes follow the SDK models cited on each
handler; the error codes are the ones Alidns answers on the wire as reported in public issue threads
(cited where used), and each guess is marked UNVERIFIED.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from devkit.cas_emulator.actions import ActionHandler, Call
from devkit.cas_emulator.protocol import ApiError, invalid, missing
from devkit.cas_emulator.validation import int_param

from .zones import DEFAULT_LINE, DEFAULT_TTL, DnsRecord, DuplicateRecord, ZoneBook, norm

API_VERSION = "2015-01-09"
HOST_ID = "alidns.aliyuncs.com"
ACTION_ADD = "AddDomainRecord"
ACTION_SUB_RECORDS = "DescribeSubDomainRecords"
ACTION_RECORDS = "DescribeDomainRecords"
ACTION_DELETE = "DeleteDomainRecord"
ACTION_DELETE_SUB = "DeleteSubDomainRecords"
ACTION_DOMAINS = "DescribeDomains"
ALIDNS_ACTIONS: frozenset[str] = frozenset(
    {ACTION_ADD, ACTION_SUB_RECORDS, ACTION_RECORDS, ACTION_DELETE, ACTION_DELETE_SUB, ACTION_DOMAINS})
#: models/_describe_sub_domain_records_request.py names these (case-insensitive), CAA added as the console has it.
RECORD_TYPES = frozenset({"A", "AAAA", "CNAME", "TXT", "MX", "NS", "SRV", "CAA", "REDIRECT_URL", "FORWARD_URL"})
#: The wire answers of issue threads: DomainRecordDuplicate (TimothyYe/godns #47, jeessy2/ddns-go #1044),
#: InvalidDomainName.NoExist (acmesh-official/acme.sh #4670, jeessy2/ddns-go #1433), DomainRecordNotBelongToUser
#: (aliyun/aliyun-openapi-python-sdk #407); all HTTP 400 there.
DUPLICATE = ("DomainRecordDuplicate", "The DNS record already exists.")
NO_SUCH_ZONE = ("InvalidDomainName.NoExist",
                "The specified domain name does not exist. Refresh the page and try again.")
NO_SUCH_RECORD = ("DomainRecordNotBelongToUser", "The DNS record does not exist in your account.")


def _error(pair: tuple[str, str]) -> ApiError:
    return ApiError(400, pair[0], pair[1])


def _required(params: Mapping[str, str], name: str) -> str:
    value = (params.get(name) or "").strip()
    if not value:
        raise missing(name)
    return value


def _page(params: Mapping[str, str], max_size: int) -> tuple[int, int]:
    """``PageNumber`` (from 1) and ``PageSize`` (default 20); a size above the documented maximum is refused
    (models/_describe_*_request.py give the maxima; whether Alidns clamps instead is UNVERIFIED)."""
    number = int_param(params, "PageNumber", default=1, minimum=1) or 1
    size = int_param(params, "PageSize", default=20, minimum=1) or 20
    if size > max_size:
        raise invalid("PageSize", f"must be <= {max_size}")
    return number, size


def _record_item(record: DnsRecord, *, timestamps: bool) -> dict[str, Any]:
    """One ``DomainRecords.Record`` entry (models/_describe_sub_domain_records_response_body.py and
    _describe_domain_records_response_body.py, which adds the timestamps)."""
    item: dict[str, Any] = {"DomainName": record.zone, "RecordId": record.record_id, "RR": record.rr,
                            "Type": record.type, "Value": record.value, "TTL": record.ttl, "Line": record.line,
                            "Status": record.status, "Locked": False, "Weight": 1}
    if timestamps:
        item.update(CreateTimestamp=record.created_ms, UpdateTimestamp=record.created_ms)
    return item


def _paged(records: list[DnsRecord], number: int, size: int, *, timestamps: bool) -> dict[str, Any]:
    page = records[(number - 1) * size: number * size]
    return {"TotalCount": len(records), "PageNumber": number, "PageSize": size,
            "DomainRecords": {"Record": [_record_item(r, timestamps=timestamps) for r in page]}}


def _like(keyword: str, text: str) -> bool:
    return not keyword or keyword.lower() in text.lower()


class AlidnsActions(ZoneBook):
    """The action handlers, working on the zones and records they inherit."""

    def _alidns_handlers(self) -> dict[str, ActionHandler]:
        return {
            ACTION_ADD: self._add_record, ACTION_SUB_RECORDS: self._describe_sub_records,
            ACTION_RECORDS: self._describe_records, ACTION_DELETE: self._delete_record,
            ACTION_DELETE_SUB: self._delete_sub_records, ACTION_DOMAINS: self._describe_domains,
        }

    def _held_zone(self, params: Mapping[str, str]) -> str:
        """``DomainName`` as a zone of the account; InvalidDomainName.NoExist for any other name."""
        zone = norm(_required(params, "DomainName"))
        if zone not in self.zones():
            raise _error(NO_SUCH_ZONE)
        return zone

    def _add_record(self, params: dict[str, str], call: Call) -> dict[str, Any]:
        """AddDomainRecord: DomainName (the zone), RR, Type, Value, TTL, Line -> ``RecordId``
        (models/_add_domain_record_request.py, _add_domain_record_response_body.py)."""
        zone = self._held_zone(params)
        rr, type_, value = _required(params, "RR"), _required(params, "Type").upper(), _required(params, "Value")
        if type_ not in RECORD_TYPES:
            raise invalid("Type", f"{type_!r} is not a record type")  # the real code is UNVERIFIED
        ttl = int_param(params, "TTL", default=DEFAULT_TTL, minimum=1) or DEFAULT_TTL
        line = params.get("Line") or DEFAULT_LINE
        try:
            record = self._store(zone, rr, type_, value, ttl=ttl, line=line, now_ms=call.now_ms)
        except DuplicateRecord:
            raise _error(DUPLICATE) from None
        return {"RecordId": record.record_id}

    def _describe_sub_records(self, params: dict[str, str], call: Call) -> dict[str, Any]:
        """DescribeSubDomainRecords: every record of one full name (``SubDomain``), of one ``Type`` if given.

        With ``DomainName`` the name is split at that zone (it must be held); without it, at the longest zone
        of the account (the real service splits at the registrable domain: UNVERIFIED for delegated zones).
        PageSize at most 100 (models/_describe_sub_domain_records_request.py)."""
        sub = norm(_required(params, "SubDomain"))
        number, size = _page(params, 100)
        zone = self._held_zone(params) if params.get("DomainName") else self.zone_for(sub)
        if zone is None:
            raise _error(NO_SUCH_ZONE)
        type_ = (params.get("Type") or "").upper()
        line = params.get("Line") or ""
        found = [r for r in self.records(zone) if r.fqdn == sub and (not type_ or r.type == type_)
                 and (not line or r.line == line)]
        return _paged(found, number, size, timestamps=False)

    def _describe_records(self, params: dict[str, str], call: Call) -> dict[str, Any]:
        """DescribeDomainRecords: one zone's records, newest first (``Direction=ASC`` for oldest first), filtered
        by RRKeyWord and ValueKeyWord (substring, no case), TypeKeyWord and Type (exact), or by KeyWord on RR or
        value (``SearchMode`` LIKE, the default with KeyWord, or EXACT); PageSize at most 500
        (models/_describe_domain_records_request.py). ``OrderBy``, ``GroupId`` and ``Status`` are ignored."""
        zone = self._held_zone(params)
        number, size = _page(params, 500)
        records = self.records(zone)
        keyword = params.get("KeyWord") or ""
        if keyword:
            exact = (params.get("SearchMode") or "LIKE").upper() == "EXACT"
            if exact:
                records = [r for r in records if keyword.lower() in (r.rr, r.value.lower())]
            else:
                records = [r for r in records if _like(keyword, r.rr) or _like(keyword, r.value)]
        else:
            rr_kw, value_kw = params.get("RRKeyWord") or "", params.get("ValueKeyWord") or ""
            types = {t.upper() for t in (params.get("TypeKeyWord"), params.get("Type")) if t}
            records = [r for r in records if _like(rr_kw, r.rr) and _like(value_kw, r.value)
                       and all(r.type == t for t in types)]
        if (params.get("Direction") or "DESC").upper() != "ASC":
            records.reverse()
        return _paged(records, number, size, timestamps=True)

    def _delete_record(self, params: dict[str, str], call: Call) -> dict[str, Any]:
        """DeleteDomainRecord: ``RecordId`` -> ``RecordId`` (models/_delete_domain_record_response_body.py)."""
        record_id = _required(params, "RecordId")
        if self.remove_record(record_id) is None:
            raise _error(NO_SUCH_RECORD)
        return {"RecordId": record_id}

    def _delete_sub_records(self, params: dict[str, str], call: Call) -> dict[str, Any]:
        """DeleteSubDomainRecords: every record of ``RR`` in the zone (of ``Type`` if given) -> ``RR`` and
        ``TotalCount``, a string in models/_delete_sub_domain_records_response_body.py. Deleting nothing
        answers a count of 0 (UNVERIFIED: the real service may answer an error)."""
        zone = self._held_zone(params)
        rr = norm(_required(params, "RR"))
        count = self.remove_matching(zone, rr, params.get("Type") or None)
        return {"RR": rr, "TotalCount": str(count)}

    def _describe_domains(self, params: dict[str, str], call: Call) -> dict[str, Any]:
        """DescribeDomains: the account's zones, filtered by ``KeyWord`` (``SearchMode`` LIKE, the default, or
        EXACT), PageSize at most 100 (models/_describe_domains_request.py, _describe_domains_response_body.py).
        A client finds a name's zone as the longest listed zone the name ends in."""
        number, size = _page(params, 100)
        keyword = norm(params.get("KeyWord") or "")
        exact = (params.get("SearchMode") or "LIKE").upper() == "EXACT"
        zones = [z for z in self.zones() if not keyword or (z == keyword if exact else keyword in z)]
        counts = {z: len(self.records(z)) for z in zones}
        items = [{"DomainId": f"emulated-{i}", "DomainName": z, "PunyCode": z, "RecordCount": counts[z],
                  "AliDomain": False, "VersionCode": "mianfei", "Starmark": False,
                  "DnsServers": {"DnsServer": ["dns1.hichina.com", "dns2.hichina.com"]}}
                 for i, z in enumerate(zones, start=1)]
        page = items[(number - 1) * size: number * size]
        return {"TotalCount": len(items), "PageNumber": number, "PageSize": size, "Domains": {"Domain": page}}
