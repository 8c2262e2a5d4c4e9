"""Failures around the ledger: the key is busy, its earlier outcome is not known yet, or the store is down.

None of them means the order is bad; each asks the caller to come back (``retry_after``).
"""

from __future__ import annotations

from .base import RelayError


class OrderInProgress(RelayError):
    """Another invocation holds the key; the caller should come back shortly."""


def order_in_progress(retry_after: int) -> OrderInProgress:
    return OrderInProgress("OrderInProgress", "this order is being placed by another request; retry shortly",
                           retry_after=retry_after, transient=True)


class OutcomePending(RelayError):
    """An earlier attempt may have placed the order; casrelay waits for reconciliation or an operator."""


def outcome_pending(order_key: str, retry_after: int = 60) -> OutcomePending:
    return OutcomePending(
        "OrderOutcomeUnknown",
        "an earlier attempt for this order may have been placed; casrelay will not order it again until "
        f"reconciliation finds it or an operator resolves key {order_key}",
        retry_after=retry_after, transient=True,
    )


class LedgerUnavailable(RelayError):
    """The store could not be read or written before the paid call: nothing was ordered."""


def ledger_unavailable(reason: str) -> LedgerUnavailable:
    return LedgerUnavailable("LedgerUnavailable", f"the order ledger is unavailable ({reason}); nothing was ordered",
                             retry_after=2, transient=True)
