"""Process every record of a queue batch, and fail the invocation only for what redelivery can fix.

EventBridge documents no partial-batch report, so the batch is acknowledged or redelivered whole:

- a permanently bad record (unreadable, invalid, refused by CAS) is reported downstream as
  ``certificate.order.failed`` and acknowledged, so it never blocks the stream;
- a transient failure (throttling, CAS or a sink down, an order still in progress elsewhere) makes
  the invocation fail at the end, after the rest of the batch was processed. The redelivered batch
  is cheap: the ledger answers every record that already succeeded without calling CAS.

Records run concurrently with a bound; the CAS gateway's pacer keeps the paid calls under
``CAS_MAX_QPS`` whatever the concurrency.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from .. import log
from ..errors import CasOutcomeUnknown, InvalidOrder, OrderInProgress, RelayError
from ..flows.delivery import Delivery
from ..flows.dry_run import DryRun
from ..flows.place import PlaceOnce
from ..records import OrderRecord
from ..triggers import BatchInvocation
from ..triggers.batch import Batch, BatchItem, RecordProblem
from .redelivery import TransientFailure

IN_PROGRESS_WAIT_SECONDS = 0.25
IN_PROGRESS_ATTEMPTS = 40  # a duplicate inside the same batch waits for its twin to finish


@dataclass(frozen=True)
class RecordOutcome:
    Index: int
    Trigger: str
    MessageId: str | None
    Outcome: str  # placed | duplicate | invalid | refused | unknown | transient | dry-run
    OrderId: str | None = None
    #: V2.0 (``CAS_ORDER_API=instance``): the instance applied on, where V1.0 has the OrderId.
    InstanceId: str | None = None
    Code: str | None = None
    Message: str | None = None

    @property
    def transient(self) -> bool:
        return self.Outcome in ("transient", "unknown")


class BatchEntry:
    def __init__(self, place: PlaceOnce, dry_run: DryRun, delivery: Delivery, concurrency: int) -> None:
        self.place = place
        self.dry_run = dry_run
        self.delivery = delivery
        self.concurrency = concurrency

    def handle(self, invocation: BatchInvocation, context: Any) -> dict[str, Any]:
        """Process the batch; raise ``TransientFailure`` at the end if any record must be redelivered."""
        summary = self.run(invocation.batch, context)
        if summary["Transient"]:
            raise TransientFailure(
                f"{summary['Transient']} of {summary['Records']} record(s) failed transiently "
                f"({summary['Counts']}); the batch must be redelivered"
            )
        return summary

    def _problem(self, index: int, item: RecordProblem) -> RecordOutcome:
        pending = self.delivery.push_failure(
            OrderRecord(params={}, trigger=item.trigger, message_id=item.message_id or f"index-{index}"),
            item.error, None)
        outcome = "transient" if pending else "invalid"
        return RecordOutcome(index, item.trigger, item.message_id, outcome, Code=item.error.code,
                             Message=item.error.message)

    def _record(self, index: int, record: OrderRecord, context: Any) -> RecordOutcome:
        if self.dry_run.wanted(record):
            try:
                self.dry_run.preview(record, context)
            except RelayError as err:
                return RecordOutcome(index, record.trigger, record.message_id, "invalid" if not err.transient
                                     else "transient", Code=err.code, Message=err.message)
            return RecordOutcome(index, record.trigger, record.message_id, "dry-run")
        for attempt in range(1, IN_PROGRESS_ATTEMPTS + 1):
            try:
                done = self.place.place(record, context, will_retry_in_progress=attempt < IN_PROGRESS_ATTEMPTS)
            except OrderInProgress:
                time.sleep(IN_PROGRESS_WAIT_SECONDS)
                continue
            except InvalidOrder as err:
                pending = self.delivery.push_failure(record, err, None)
                return RecordOutcome(index, record.trigger, record.message_id,
                                     "transient" if pending else "invalid", Code=err.code, Message=err.message)
            except CasOutcomeUnknown as err:
                return RecordOutcome(index, record.trigger, record.message_id, "unknown", Code=err.code,
                                     Message=err.message)
            except RelayError as err:
                kind = "transient" if err.transient else "refused"
                return RecordOutcome(index, record.trigger, record.message_id, kind, Code=err.code,
                                     Message=err.message)
            outcome = "duplicate" if done.duplicate else "placed"
            if done.pending_sinks:
                return RecordOutcome(index, record.trigger, record.message_id, "transient",
                                     **done.ids, Code="DeliveryPending",
                                     Message=f"not yet delivered to {', '.join(done.pending_sinks)}")
            return RecordOutcome(index, record.trigger, record.message_id, outcome, **done.ids)
        return RecordOutcome(index, record.trigger, record.message_id, "transient", Code="OrderInProgress",
                             Message="the same order is still being placed elsewhere")

    def _one(self, index: int, item: BatchItem, context: Any) -> RecordOutcome:
        with log.bound(trigger=item.trigger, message_id=item.message_id):
            return self._guarded(index, item, context)

    def _guarded(self, index: int, item: BatchItem, context: Any) -> RecordOutcome:
        try:
            if isinstance(item, RecordProblem):
                return self._problem(index, item)
            return self._record(index, item, context)
        except Exception as exc:  # a bug in one record must not drop the others; redeliver to be safe
            log.emit("internal.error", logging.ERROR, where=type(exc).__name__, index=index)
            return RecordOutcome(index, getattr(item, "trigger", "unknown"), getattr(item, "message_id", None),
                                 "transient", Code="InternalError", Message="casrelay failed on this record")

    def run(self, batch: Batch, context: Any) -> dict[str, Any]:
        started = time.monotonic()
        items = list(enumerate(batch.items))
        workers = max(1, min(self.concurrency, len(items)))
        if workers == 1:
            outcomes = [self._one(i, item, context) for i, item in items]
        else:
            # Each record runs in a copy of this invocation's context, so its log lines carry the bound fields.
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="casrelay-record") as pool:
                futures = [pool.submit(contextvars.copy_context().run, self._one, i, item, context)
                           for i, item in items]
                outcomes = [f.result() for f in futures]
        counts = Counter(o.Outcome for o in outcomes)
        summary = {
            "Mode": batch.mode,
            "Records": len(outcomes),
            "Counts": dict(sorted(counts.items())),
            "Transient": sum(1 for o in outcomes if o.transient),
            "Results": [{k: v for k, v in asdict(o).items() if v is not None} for o in outcomes],
        }
        log.emit("batch.summary", mode=batch.mode,
                 records=len(outcomes), counts=summary["Counts"], transient=summary["Transient"],
                 latency_ms=round((time.monotonic() - started) * 1000, 1))
        return summary
