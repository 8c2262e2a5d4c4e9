"""Failures downstream: the order exists, but a sink has not confirmed its message yet.

This is not a failure of the order, whose OrderId is in the ledger and in the answer; it asks a
sender that retries to send again, which re-pushes from the ledger without ordering again.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import RelayError


@dataclass
class DeliveryPending(RelayError):
    """``pending_sinks`` still lack the message of the order ``order_id``."""

    order_id: str = ""
    pending_sinks: tuple[str, ...] = ()


def delivery_pending(order_id: str, pending_sinks: tuple[str, ...]) -> DeliveryPending:
    return DeliveryPending(
        "DeliveryPending",
        "the order was placed but not yet delivered to every sink; retry this request to complete delivery "
        "(it will not order again)", retry_after=5, transient=True, order_id=order_id, pending_sinks=pending_sinks)
