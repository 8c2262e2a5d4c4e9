"""A loopback double of Alidns (Alibaba Cloud DNS, API 2015-01-09), for the order lifecycle's DNS validation.

casrelay's follower (issue 13) creates the TXT record that a CAS DNS validation asks for, with the real SDK
``alibabacloud-alidns20150109``, and removes it once the order is final. Tests point that SDK at this double
(``Config(endpoint=dns.endpoint, protocol=dns.protocol)``) and hand the same double to the CAS emulator's
lifecycle (``CasEmulator(lifecycle=Lifecycle(dns=dns))``), so that a validation succeeds exactly when the
record the order needs exists here. Calls: AddDomainRecord, DescribeSubDomainRecords, DescribeDomainRecords,
DeleteDomainRecord, DeleteSubDomainRecords and DescribeDomains (``actions``); the zones and records are in
``zones``; the wire (signature, nonces, flow control, faults) is the CAS emulator's (``emulator``).
``ZONES_ENV`` names the zones for the embedded default (a comma-separated list).
"""

from __future__ import annotations

import os

from .actions import (
    ACTION_ADD,
    ACTION_DELETE,
    ACTION_DELETE_SUB,
    ACTION_DOMAINS,
    ACTION_RECORDS,
    ACTION_SUB_RECORDS,
    ALIDNS_ACTIONS,
    API_VERSION,
)
from .emulator import AlidnsEmulator
from .zones import DnsRecord

#: The zones of the embedded default's Alidns double, comma-separated (``example.com,example.com.cn``).
ZONES_ENV = "ALIDNS_EMULATOR_ZONES"
DEFAULT_ZONES = ("example.com",)


def zones_from_environment(default: tuple[str, ...] = DEFAULT_ZONES) -> list[str]:
    """The zones ``ZONES_ENV`` lists, or ``default`` when it is unset or blank."""
    listed = [z.strip() for z in os.environ.get(ZONES_ENV, "").split(",") if z.strip()]
    return listed or list(default)


__all__ = [
    "ACTION_ADD",
    "ACTION_DELETE",
    "ACTION_DELETE_SUB",
    "ACTION_DOMAINS",
    "ACTION_RECORDS",
    "ACTION_SUB_RECORDS",
    "ALIDNS_ACTIONS",
    "API_VERSION",
    "DEFAULT_ZONES",
    "ZONES_ENV",
    "AlidnsEmulator",
    "DnsRecord",
    "zones_from_environment",
]
