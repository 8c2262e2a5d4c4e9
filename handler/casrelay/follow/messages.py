"""The lifecycle's downstream messages: the order's usual message, with what this phase adds.

Each phase of one order has one message id (``FollowState.message_basis``), so a re-push after a sink
failure, or a second sweep, carries the id the first push had, and a receiver that drops repeats by id sees
each phase once. The certificate section holds public data only; the private key never reaches the
follower (``ordering.progress``).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from ..flows.delivery import Delivery
from ..ledger import LedgerRecord
from ..ordering.progress import FAILED, ISSUED, VALIDATION
from ..push import message as downstream
from .state import FollowState

KINDS = {VALIDATION: downstream.VALIDATION_REQUIRED, ISSUED: downstream.ISSUED, FAILED: downstream.FAILED}
#: ``Error.Code`` of a placed order that the CA failed, and of one the follower gave up on at the deadline.
VALIDATION_FAILED = "CertificateValidationFailed"
DEADLINE_PASSED = "CertificateDeadlinePassed"


def _iso(ts: object) -> str | None:
    if not isinstance(ts, int | float) or isinstance(ts, bool):
        return None
    try:
        return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return None  # an answer from CAS that is no time at all: said as unknown, never a stuck message


def lifecycle_message(delivery: Delivery, record: LedgerRecord, state: FollowState,
                      dns_automation: str | None) -> dict[str, Any] | None:
    """The message announcing ``state``'s phase, or None for a phase that announces nothing (waiting)."""
    kind = KINDS.get(state.phase)
    if kind is None:
        return None
    placed = record.order_id if record.order_id is not None else record.instance_id
    error = None
    if state.phase == FAILED:
        code = DEADLINE_PASSED if state.status == "deadline" else VALIDATION_FAILED
        error = {"Code": code, "Message": state.reason or "the CA failed the order"}
    message = delivery.message(kind, record, error, id_basis=f"{record.key}#{placed}#{state.message_basis()}")
    lifecycle: dict[str, Any] = {"Phase": state.phase, "CasStatus": state.status or None}
    if state.phase == VALIDATION:
        message["Validation"] = [v.to_message() for v in state.validations]
        lifecycle["DnsAutomation"] = dns_automation
        lifecycle["DnsRecordsCreated"] = len(state.dns)
    if state.phase == ISSUED and state.certificate is not None:
        cert = state.certificate
        section: dict[str, Any] = {
            "CertificateId": cert.get("certificate_id"), "CertIdentifier": cert.get("identifier"),
            "Domains": list(cert.get("domains") or ()), "NotBefore": _iso(cert.get("not_before")),
            "NotAfter": _iso(cert.get("not_after")),
        }
        if cert.get("pem"):
            section["Certificate"] = cert["pem"]
        message["Certificate"] = section
    if state.phase == FAILED:
        lifecycle["QuotaReleased"] = state.released is True
    message["Lifecycle"] = lifecycle
    return message
