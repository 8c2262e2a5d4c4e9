"""Pace CAS calls under the account's limit (10 QPS per API), per API.

CAS throttles per region, API and account with a one-second window. Calls are spaced evenly, each
one reserving the next free slot, rather than sent in bursts of ten: a burst that lands across a
window edge counts twice on the server, and a throttled paid call costs a retry. A small margin
absorbs scheduling jitter between this process and CAS.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

MARGIN = 1.05


class Pacer:
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
