"""The one exception the handler raises on purpose: it makes FC, or the queue trigger, deliver again."""

from __future__ import annotations


class TransientFailure(Exception):
    """Raised out of the handler so that FC or the trigger redelivers; the message names the cause only."""
