"""Failures of the lifecycle follower, as values: one base, one class per failure mode, messages built here.

The follower runs long after the money was spent, so none of these ever touches an order's ledger state:
what each one answers is "will the next poll do better?" (``transient``). Messages name the DNS name or
zone involved and never carry SDK exception text (which can hold a URL with a signature, or a body).
"""

from __future__ import annotations

from ..config import ConfigError


class FollowConfigError(ConfigError):
    """A ``FOLLOW_*``, ``DNS_AUTOVALIDATE`` or ``ALIDNS_*`` variable cannot be used; the message names it."""


class FollowError(Exception):
    """Base of every follower failure. ``code`` is stable for log lines and tests."""

    code = "FollowFailed"
    default_transient = True

    def __init__(self, message: str, *, transient: bool | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.transient = self.default_transient if transient is None else transient


class DnsUnavailable(FollowError):
    """Alidns did not answer, throttled, or answered 5xx: the next poll tries again."""

    code = "DnsUnavailable"


class DnsRefused(FollowError):
    """Alidns refused the call (permissions, a record it will not take): an operator must act. Retried at
    the follower's slowest pace, since a fixed policy makes it work without anything else changing."""

    code = "DnsRefused"


class ZoneNotFound(FollowError):
    """No zone of this account holds the name: the record must be created by hand (or elsewhere)."""

    code = "ZoneNotFound"
    default_transient = False


def dns_unavailable(action: str, why: str) -> DnsUnavailable:
    return DnsUnavailable(f"Alidns {action} did not succeed ({why}); the next poll tries again")


def dns_refused(action: str, code: str) -> DnsRefused:
    return DnsRefused(f"Alidns refused {action} ({code[:80]})")


def zone_not_found(name: str) -> ZoneNotFound:
    return ZoneNotFound(f"no Alidns zone of this account holds {name[:255]}; create the record by hand")


def dns_missing_credentials(action: str) -> DnsRefused:
    """No credentials to sign with: the function's role (or ``ALIBABA_CLOUD_*``) must be set up."""
    return DnsRefused(f"Alidns {action} needs the function's credentials and none were found")


def record_not_automatable(name: str, why: str) -> ZoneNotFound:
    """The record CAS asks for is not one the automation can create (no valid DNS name, an unsupported type,
    an empty value): like a name outside every zone, it has to be created by hand."""
    return ZoneNotFound(f"the DNS record at {name[:255]} cannot be created automatically ({why[:120]}); "
                        "create the record by hand")
