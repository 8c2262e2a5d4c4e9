"""A direct invocation's adapter (``InvokeFunction`` with the order as the event, sync or async).

An asynchronous invocation has nobody to read the answer, so whatever the answer cannot carry is
turned into a redelivery (``TransientFailure``): a transient failure, an outcome still unknown (the
ledger keeps the retry from ordering again, and the retry reconciles), a sink still pending. An
invalid order is also reported downstream, where somebody will read it.
"""

from __future__ import annotations

import logging
from typing import Any

from .. import log
from ..errors import CasOutcomeUnknown, InvalidOrder, RelayError
from ..flows.delivery import Delivery
from ..flows.dry_run import DryRun
from ..flows.place import PlaceOnce
from ..records import OrderRecord
from ..response import status_document
from .redelivery import TransientFailure


class DirectEntry:
    def __init__(self, place: PlaceOnce, dry_run: DryRun, delivery: Delivery) -> None:
        self.place = place
        self.dry_run = dry_run
        self.delivery = delivery

    def handle(self, record: OrderRecord, context: Any) -> dict[str, Any]:
        request_id = getattr(context, "request_id", None)
        try:
            if self.dry_run.wanted(record):
                return self.dry_run.preview(record, context)
            done = self.place.place(record, context)
        except InvalidOrder as err:
            if self.delivery.push_failure(record, err, None):
                raise TransientFailure(f"{err.code}: the failure could not be delivered to every sink") from None
            return status_document(err, request_id)
        except RelayError as err:
            if err.transient or isinstance(err, CasOutcomeUnknown):
                raise TransientFailure(f"{err.code}: {err.message}") from None
            return status_document(err, request_id)
        except Exception as exc:  # FC retries an asynchronous invocation; the ledger keeps that safe
            log.emit("internal.error", logging.ERROR, where=log.where(exc))
            raise TransientFailure("InternalError: casrelay failed unexpectedly; the error has been logged") from None
        if done.pending_sinks:
            raise TransientFailure(f"DeliveryPending: order {done.reference} is not yet "
                                   f"delivered to {', '.join(done.pending_sinks)}")
        return done.document
