"""Delivery: get a ledger record's outcome to every sink, and remember which sinks have it.

The OrderId is in the ledger before anything here runs, so a sink that fails loses nothing: the
record keeps the sinks that confirmed (``deliveries``), and the next arrival of the order, or the
sweep, pushes to the others under the same message id. Placement and the sweep both deliver
through this one module, so they cannot disagree about what was sent.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .. import log
from ..errors import NOT_ORDERED_CODE, RelayError
from ..errors.values import to_value
from ..ledger import DELIVERED, Ledger, LedgerRecord, guard
from ..order import Order
from ..push import message as downstream
from ..push.base import Sink
from ..push.exceptions import SinkError
from ..records import OrderRecord
from ..response import instance_document, success_document


@dataclass(frozen=True)
class Delivered:
    """An order that exists, with the sinks that still lack its message."""

    document: dict[str, Any]
    record: LedgerRecord | None
    duplicate: bool
    pending_sinks: tuple[str, ...] = ()

    @property
    def ids(self) -> dict[str, str]:
        """What names the order for a summary or a log line: the OrderId (V1.0) or the InstanceId (V2.0)."""
        if "InstanceId" in self.document:
            return {"InstanceId": str(self.document["InstanceId"])}
        return {"OrderId": str(self.document["OrderIdString"])}

    @property
    def reference(self) -> str:
        return next(iter(self.ids.values()))


def document_of(record: LedgerRecord) -> dict[str, Any]:
    """The success body for a record CAS holds an order for: V1.0's OrderId, or V2.0's instance."""
    domains, product = tuple(record.order.get("domains", [])), str(record.order.get("product", ""))
    if record.instance_id is not None and record.order_id is None:
        return instance_document(record.instance_id, record.certificate_id, record.cas_request_id or "", domains,
                                 product)
    assert record.order_id is not None
    return success_document(record.order_id, record.cas_request_id or "", domains, product)


def _ordered_at(record: LedgerRecord) -> float | None:
    """When the order was placed: the follower's start when it has one (the follower's own writes move
    ``updated_at`` on, and a re-pushed message must say what the first one said)."""
    if not record.placed:
        return None
    since = (record.follow or {}).get("since")
    return float(since) if isinstance(since, int | float) and not isinstance(since, bool) else record.updated_at


class Delivery:
    def __init__(self, ledger: Ledger, sinks: Sequence[Sink], message_version: int = downstream.VERSION) -> None:
        """``message_version``: the downstream schema this deployment sends (2 for V2.0 instances)."""
        self.ledger = ledger
        self.sinks = list(sinks)
        self.message_version = message_version

    @property
    def sink_names(self) -> list[str]:
        return [s.name for s in self.sinks]

    def message(self, kind: str, record: LedgerRecord, error: dict[str, Any] | None = None,
                id_basis: str | None = None) -> dict[str, Any]:
        if id_basis is None:
            # One id per outcome: per OrderId for an order, so that a second order of one key is not dropped
            # as a repeat by a receiver that deduplicates on the id.
            placed = record.order_id if record.order_id is not None else record.instance_id
            id_basis = f"{record.key}#{placed}" if kind == downstream.CREATED else record.key
        return downstream.build(
            kind, key=record.key, id_basis=id_basis, trigger=str(record.source.get("trigger", "http")),
            source_message_id=record.source.get("message_id"), domains=record.order.get("domains", []),
            product_code=record.order.get("product"), validate_type=record.order.get("validate"),
            order_id=record.order_id, request_id=record.cas_request_id,
            ordered_at=_ordered_at(record), error=error,
            version=downstream.INSTANCE_VERSION if record.api == "instance" else downstream.VERSION,
            instance_id=record.instance_id if record.placed else None,
            certificate_id=record.certificate_id,
        )

    def push(self, message: dict[str, Any], skip: set[str] | frozenset[str] = frozenset()) -> tuple[list[str],
                                                                                                    list[str]]:
        """Push to every sink not in ``skip``; return (confirmed, failed) sink names."""
        confirmed, failed = [], []
        for sink in self.sinks:
            if sink.name in skip:
                continue
            try:
                sink.push(message, message["Id"])
                confirmed.append(sink.name)
            except SinkError as err:
                failed.append(sink.name)  # the sink.failed line is also the failure's metric: one write
                log.emit("sink.failed", logging.WARNING, sink=sink.name, message_id=message["Id"],
                         type=message["Type"], reason=str(err)[:200], transient=err.transient)
            except Exception as exc:  # a broken sink must not lose the order; it stays pending
                failed.append(sink.name)
                log.emit("sink.failed", logging.ERROR, sink=sink.name, message_id=message["Id"],
                         type=message["Type"], reason=type(exc).__name__, transient=True)
        return confirmed, failed

    def push_tracked(self, kind: str, record: LedgerRecord, error: dict[str, Any] | None = None,
                     id_basis: str | None = None) -> tuple[LedgerRecord, tuple[str, ...]]:
        """Push the record's current message to the sinks that lack it, and record who confirmed."""
        message = self.message(kind, record, error, id_basis)
        confirmed, failed = self.push(message, set(record.deliveries))
        if confirmed or not failed:
            current = record
            record = guard.settle(lambda: self.ledger.delivered(current, confirmed, self.sink_names), record.key,
                                  fallback=record, event="ledger.delivery_unrecorded", level=logging.WARNING)
        return record, tuple(failed)

    def push_failed(self, record: LedgerRecord) -> tuple[LedgerRecord, tuple[str, ...]]:
        """Push a ``failed`` record's refusal. A "not ordered" verdict gets an id of its own (per attempt),
        so that a later, real refusal of the same key is not dropped as its duplicate."""
        error = record.error or {}
        basis = record.key
        if error.get("Code") == NOT_ORDERED_CODE:
            basis = f"{record.key}#not-ordered#{record.attempted_at or record.created_at}"
        return self.push_tracked(downstream.FAILED, record, error, id_basis=basis)

    def push_unknown(self, record: LedgerRecord) -> tuple[LedgerRecord, tuple[str, ...]]:
        error = record.error or {"Code": "CasOutcomeUnknown", "Message": record.note or ""}
        return self.push_tracked(downstream.UNKNOWN, record, error)

    def deliver(self, record: LedgerRecord, duplicate: bool) -> Delivered:
        """The answer for an order that exists, after pushing it wherever it is still missing."""
        pending: tuple[str, ...] = ()
        if record.state != DELIVERED:
            record, pending = self.push_tracked(downstream.CREATED, record)
        return Delivered(document_of(record), record, duplicate, pending)

    def push_failure(self, record: OrderRecord, err: RelayError, order: Order | None) -> tuple[str, ...]:
        """Report a record that will never be ordered (invalid, or refused before the ledger) downstream."""
        basis = f"{record.trigger}:{record.message_id}" if record.message_id else f"{record.trigger}:{record.params!r}"
        message = downstream.build(
            downstream.FAILED, key=None, id_basis=basis, trigger=record.trigger, source_message_id=record.message_id,
            domains=list(order.domains) if order else [], product_code=order.product_code if order else None,
            validate_type=order.validate_type if order else None, error=to_value(err), version=self.message_version,
        )
        return tuple(self.push(message)[1])
