"""DNS automation for domain validation (``DNS_AUTOVALIDATE``): the interface in ``base``, Alidns in ``alidns``."""

from __future__ import annotations

from collections.abc import Mapping

from ...cas.ratelimit import CallPacer
from ...config import Settings
from .base import DnsAutomation


def open_dns(env: Mapping[str, str], settings: Settings, pacer: CallPacer) -> DnsAutomation | None:
    """Placeholder until the Alidns automation lands: no automation."""
    return None
