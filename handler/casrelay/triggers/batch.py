"""A queue trigger's invocation as values: the orders it carries and the messages that could not be read.

A batch is all-or-nothing for FC (no partial acknowledgement is documented), so one unreadable message
must not fail the others: it becomes a ``RecordProblem`` in its place, and the caller decides what to
do with it. Items keep arrival order so that a log line's index matches the message's position.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import RelayError
from ..records import OrderRecord

MAX_RECORDS = 10000  # EventBridge's CountBasedWindow maximum; anything beyond is not a real batch


@dataclass(frozen=True)
class RecordProblem:
    """A message that could not be read into an order; redelivery brings the same bytes, so it is permanent.

    ``trigger`` is ``"unknown"`` when not even the message's kind could be told.
    """

    index: int
    trigger: str
    message_id: str | None
    error: RelayError


BatchItem = OrderRecord | RecordProblem


@dataclass(frozen=True)
class Batch:
    """``mode``: "event-streaming" | "event-driven" | "raw-data" | "mns-topic". Each ``OrderRecord.trigger``
    is "mns" | "rocketmq" | "kafka" | "rabbitmq" | "mns-topic" | "eventbridge"; ``items[i]`` is message i."""

    mode: str
    items: tuple[BatchItem, ...]

    @property
    def records(self) -> tuple[OrderRecord, ...]:
        return tuple(i for i in self.items if isinstance(i, OrderRecord))

    @property
    def problems(self) -> tuple[RecordProblem, ...]:
        return tuple(i for i in self.items if isinstance(i, RecordProblem))
