"""Trigger event -> order records.

FC hands the handler raw bytes. What they hold depends on the trigger: an HTTP trigger's ``v1``
request object, for a direct InvokeFunction call the order itself, or a queue trigger's batch
(EventBridge CloudEvents or RawData, an MNS topic notification). The kind is told from the event's
shape, because FC passes no trigger type.
"""

from .batch import Batch, BatchItem, RecordProblem
from .detect import BatchInvocation, DirectInvocation, HttpInvocation, Invocation, TimerInvocation, classify
from .queue import read_mns_topic_stream, read_queue_event

__all__ = [
    "Batch",
    "BatchInvocation",
    "BatchItem",
    "DirectInvocation",
    "HttpInvocation",
    "Invocation",
    "RecordProblem",
    "TimerInvocation",
    "classify",
    "read_mns_topic_stream",
    "read_queue_event",
]
