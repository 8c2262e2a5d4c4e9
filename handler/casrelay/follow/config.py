"""The follower's settings, read from the environment with the rest of the configuration.

The backoff itself (``FOLLOW_BACKOFF_SECONDS``, ``FOLLOW_ORDERS``) is the ledger's (``LedgerConfig``), since the
ledger schedules an order's first poll in the write that saves its OrderId; what is here is what only the
follower reads.

The CA's deadlines are the documented ones (alibabacloud.com, "application review results processing", 2026):
a DV order not validated fails automatically after two calendar days, OV/EV after thirty, and CAS then says
``verify_fail``. The follower reports an order failed on its own only a grace day after the deadline, and one
that the CA is still reviewing (``process``) only thirty days after it: reporting a live order as failed could
make its owner buy another.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from ..config import env_flag
from ..products import Product
from .exceptions import FollowConfigError

DV_DEADLINE_SECONDS = 2 * 86400.0
OV_EV_DEADLINE_SECONDS = 30 * 86400.0
#: Orders polled per sweep at most; the rest are the soonest due of the next sweep.
FOLLOW_BATCH = 200
#: How far a poll moves the order's next poll on before it starts (see ``FollowSchedule.take``).
LEASE_SECONDS = 120.0
#: Tries of DeleteCertificateRequest (``DELETE_FAILED_ORDERS``) that failed for a passing reason, before the
#: failure is announced without the quota back.
RELEASE_TRIES = 5
#: Polls of one order that died half-way (taken, never saved) before the follower stops following it.
MAX_UNFINISHED = 10
#: Visits of a final order that still owes a message or a DNS removal (on the backoff, about a day) before the
#: follower stops and logs what is left.
MAX_FINAL_VISITS = 50
#: Validations kept per order (CAS asks for one per name; an order has at most a few names).
MAX_VALIDATIONS = 20
#: How long after the CA's deadline the follower still waits for CAS to say ``verify_fail`` itself.
DEADLINE_GRACE_SECONDS = 86400.0
#: How long after the deadline an order CAS still reviews (``process``) is followed before it is given up.
REVIEW_LIMIT_SECONDS = 30 * 86400.0
#: Tries of removing a DNS record that Alidns refused, before the follower stops and leaves it to an operator.
DNS_REMOVE_TRIES = 10


@dataclass(frozen=True)
class FollowConfig:
    #: ``FOLLOW_INCLUDE_CERTIFICATE``: ``certificate.issued`` carries the public certificate (PEM).
    include_certificate: bool = False
    #: ``DELETE_FAILED_ORDERS``: an order that failed validation is deleted (DeleteCertificateRequest), which
    #: gives its quota back (V1.0 packages; V2.0 has no such call).
    delete_failed: bool = False
    dv_deadline_seconds: float = DV_DEADLINE_SECONDS
    ov_ev_deadline_seconds: float = OV_EV_DEADLINE_SECONDS
    deadline_grace_seconds: float = DEADLINE_GRACE_SECONDS
    review_limit_seconds: float = REVIEW_LIMIT_SECONDS
    batch: int = FOLLOW_BATCH

    def deadline_seconds(self, product_code: object) -> float:
        """The CA's deadline for the product: thirty days for OV/EV, two for everything else (DV, free)."""
        if isinstance(product_code, str) and Product(product_code).organisation_validated:
            return self.ov_ev_deadline_seconds
        return self.dv_deadline_seconds


def load(env: Mapping[str, str] | None = None) -> FollowConfig:
    env = os.environ if env is None else env
    return FollowConfig(
        include_certificate=env_flag(env, "FOLLOW_INCLUDE_CERTIFICATE", False, FollowConfigError),
        delete_failed=env_flag(env, "DELETE_FAILED_ORDERS", False, FollowConfigError),
    )
