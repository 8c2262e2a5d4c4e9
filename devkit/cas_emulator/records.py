"""What the emulator saw: one record per request, and counts by action and outcome.

Tests assert on these to tell "the client called once" from "the client retried and ordered twice",
so every request is recorded, whatever happened to it (answered, throttled, dropped, cut after the
commit). Records keep the decoded parameters and the headers with the security token redacted;
the list is bounded, the counts are not.
"""

from __future__ import annotations

import sys
import threading
from collections import Counter, deque
from dataclasses import dataclass

from .protocol import THROTTLING_CODE

MAX_RECORDS = 10_000


@dataclass(frozen=True)
class RequestRecord:
    """One request as the emulator saw it; security tokens are redacted from ``headers``."""

    seq: int
    received_at: float
    action: str
    access_key_id: str | None
    outcome: str
    http_status: int | None
    request_id: str
    params: dict[str, str]
    headers: dict[str, str]


class RequestLog:
    """The request records and counters, with the public methods that read them."""

    _lock: threading.RLock
    verbose: bool
    _seq: int
    _records: deque[RequestRecord]
    _throttled: list[RequestRecord]
    _counts: Counter[tuple[str, str]]

    def _init_records(self) -> None:
        self._seq = 0
        self._records = deque(maxlen=MAX_RECORDS)
        self._throttled = []
        self._counts = Counter()

    def _record(self, *, action: str, access_key_id: str | None, outcome: str, status: int | None,
                request_id: str, params: dict[str, str], headers: dict[str, str], received_at: float) -> None:
        with self._lock:
            self._seq += 1
            record = RequestRecord(self._seq, received_at, action, access_key_id, outcome, status,
                                   request_id, params, headers)
            self._records.append(record)
            self._counts[(action, outcome)] += 1
            if outcome == THROTTLING_CODE:
                self._throttled.append(record)
        if self.verbose:
            prefix = getattr(self, "name", "cas-emulator")  # the Alidns double logs through this too
            sys.stderr.write(f"{prefix} {action or '-'} ak={access_key_id or '-'} -> {outcome} "
                             f"({status if status is not None else 'no response'})\n")

    def requests(self, action: str | None = None) -> list[RequestRecord]:
        """The most recent requests (bounded), oldest first."""
        with self._lock:
            return [r for r in self._records if action is None or r.action == action]

    def throttled_requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._throttled)

    def request_count(self, action: str | None = None, outcome: str | None = None) -> int:
        with self._lock:
            return sum(n for (a, o), n in self._counts.items()
                       if (action is None or a == action) and (outcome is None or o == outcome))

    def counts_by_action(self) -> dict[str, int]:
        with self._lock:
            result: Counter[str] = Counter()
            for (action, _), n in self._counts.items():
                result[action] += n
            return dict(result)

    def counts_by_outcome(self, action: str | None = None) -> dict[str, int]:
        with self._lock:
            result: Counter[str] = Counter()
            for (a, outcome), n in self._counts.items():
                if action is None or a == action:
                    result[outcome] += n
            return dict(result)

    def _reset_records(self) -> None:
        with self._lock:
            self._records.clear()
            self._throttled.clear()
            self._counts.clear()
