"""Failures of the deployment: casrelay is configured so that it cannot serve an order safely.

Neither is the order's fault: once the operator fixes the variable or the role, the same order
succeeds, so a queue trigger must redeliver it rather than acknowledge it.
"""

from __future__ import annotations

from .base import RelayError


class NotConfigured(RelayError):
    """The function cannot serve safely as configured (for instance, webhook auth with no secret)."""


def not_configured(message: str) -> NotConfigured:
    return NotConfigured("NotConfigured", message)


class MissingCredentials(RelayError):
    """The function has no Alibaba Cloud credentials to sign with."""


def missing_credentials() -> MissingCredentials:
    return MissingCredentials(
        "MissingCredentials",
        "the function has no Alibaba Cloud credentials: give it a role, or set ALIBABA_CLOUD_ACCESS_KEY_ID "
        "and ALIBABA_CLOUD_ACCESS_KEY_SECRET",
        transient=True,
    )
