"""Pace CAS calls under the account's limit (10 QPS per API), per API.

CAS throttles per region, API and account with a one-second window. Calls are spaced evenly, each
one reserving the next free slot, rather than sent in bursts of ten: a burst that lands across a
window edge counts twice on the server, and a throttled paid call costs a retry. A small margin
absorbs scheduling jitter between this process and CAS.

``Pacer`` spaces the calls of one process. Instances that share a Redis ledger share their slots
through it instead (``shared_pacer.SharedPacer``), since the account's limit is the sum over every
instance; both answer ``CallPacer``, which is all ``CasClient`` needs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

MARGIN = 1.05


class CallPacer(Protocol):
    """What ``CasClient.call`` asks before every signed call: wait for ``action``'s next slot."""

    def wait(self, action: str) -> float:
        """Block until ``action`` may be called; return how long it waited, in seconds."""
        ...


class Pacer:
    """Even spacing per action within this process: enough for a single instance (SQLite, memory)."""

    def __init__(self, qps: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval = MARGIN / qps if qps > 0 else 0.0
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep

    def wait(self, action: str) -> float:
        """Block until ``action`` may be called; return how long it waited."""
        if self.interval <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            slot = max(now, self._next.get(action, 0.0))
            self._next[action] = slot + self.interval
        delay = slot - now
        if delay > 0:
            self._sleep(delay)
        return delay
