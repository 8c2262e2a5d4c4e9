"""The DNS automation the follower uses for CAS's DNS validations, chosen by ``DNS_AUTOVALIDATE``.

Off unless asked for: creating records in an account's zones is a permission a deployment grants on purpose
(the role needs the Alidns actions). ``open_dns`` reads and checks the variables once, at start-up, so that a
typo fails with the variable's name instead of on the first order that needs a record, and imports nothing
of the SDK (each automation imports its own on first use).
"""

from __future__ import annotations

from collections.abc import Mapping

from ...cas.ratelimit import CallPacer
from ...config import Settings, env_endpoint, env_protocol
from ..exceptions import FollowConfigError
from .base import DnsAutomation, DnsRecordRef

#: ``DNS_AUTOVALIDATE`` values that create records; ``none``, ``off`` or unset create none.
DNS_AUTOMATIONS = ("alidns",)
OFF_VALUES = ("", "none", "off")
DEFAULT_ALIDNS_ENDPOINT = "alidns.aliyuncs.com"


def open_dns(env: Mapping[str, str], settings: Settings, pacer: CallPacer) -> DnsAutomation | None:
    """The automation ``DNS_AUTOVALIDATE`` names, or None; raises ``FollowConfigError`` naming the variable.

    Alidns is reached at ``ALIDNS_ENDPOINT`` over ``ALIDNS_PROTOCOL`` (https; http only towards a loopback
    endpoint, as for CAS), with CAS's timeouts and ``CAS_CA_FILE``: one emulator setup serves both APIs.
    """
    choice = env.get("DNS_AUTOVALIDATE", "").strip().lower()
    if choice in OFF_VALUES:
        return None
    if choice not in DNS_AUTOMATIONS:
        raise FollowConfigError(f"DNS_AUTOVALIDATE must be alidns, or none to create no record, "
                                f"got {choice[:20]!r}")
    endpoint = env_endpoint(env, "ALIDNS_ENDPOINT", DEFAULT_ALIDNS_ENDPOINT, FollowConfigError)
    protocol = env_protocol(env, "ALIDNS_PROTOCOL", "ALIDNS_ENDPOINT", endpoint, FollowConfigError)
    from .alidns import AlidnsAutomation
    from .alidns_client import AlidnsClient

    client = AlidnsClient(endpoint, protocol, pacer, region=settings.cas_region,
                          connect_timeout_ms=settings.cas_connect_timeout_ms,
                          read_timeout_ms=settings.cas_read_timeout_ms, ca_file=settings.cas_ca_file)
    return AlidnsAutomation(client)


__all__ = ["DNS_AUTOMATIONS", "DnsAutomation", "DnsRecordRef", "open_dns"]
