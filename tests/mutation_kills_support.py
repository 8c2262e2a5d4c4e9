"""Doubles shared by ``tests/test_mutation_kills_*.py``: a clock, a scripted CAS gateway, recording sinks,
and a Placement/Sweeper wired to a memory ledger, so that each test can state one rule of the money path
without the emulator, the network or a trigger in between."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from casrelay.cas.gateway import ListedOrder, Listing, PackageState, PlacedOrder
from casrelay.config import Settings
from casrelay.ledger import Ledger, LedgerConfig, LedgerRecord, open_store
from casrelay.ledger.exceptions import StoreUnavailable
from casrelay.ledger.persistence.memory import MemoryStore
from casrelay.placement import Placement
from casrelay.push.base import Sink
from casrelay.push.exceptions import SinkError
from casrelay.records import OrderRecord
from casrelay.sweep import Sweeper

NOW = 1_800_000_000.0
PRODUCT = "symantec-free-1-free"
ORDER = {"Domain": "a.example.com", "ValidateType": "DNS"}


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Gateway:
    """CAS as a script: ``answers`` are returned (PlacedOrder) or raised (exceptions) in turn by the paid
    call; ``orders`` is what ListUserCertificateOrder lists."""

    answers: list[Any] = field(default_factory=list)
    orders: list[ListedOrder] = field(default_factory=list)
    complete: bool = True
    remaining: int = 10
    list_error: Exception | None = None
    package_error: Exception | None = None
    cancel_error: Exception | None = None
    #: OrderIds whose cancellation fails (with ``cancel_error``, or an unavailable CAS).
    cancel_fails_for: set[int] = field(default_factory=set)
    created: list[tuple[Any, tuple[tuple[str, str], ...]]] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    creds_seen: list[Any] = field(default_factory=list)

    def create_order(self, order: Any, creds: Any, extra_tags: tuple[tuple[str, str], ...] = ()) -> PlacedOrder:
        self.created.append((order, extra_tags))
        self.creds_seen.append(creds)
        answer = self.answers.pop(0) if self.answers else PlacedOrder(1000 + len(self.created), "REQ")
        if isinstance(answer, BaseException):
            raise answer
        assert isinstance(answer, PlacedOrder)
        return answer

    def package_state(self, product_code: str, creds: Any) -> PackageState:
        if self.package_error is not None:
            raise self.package_error
        return PackageState(product_code, 100, 100 - self.remaining)

    def list_orders(self, keyword: str, creds: Any) -> Listing:
        self.keywords.append(keyword)
        self.creds_seen.append(creds)
        if self.list_error is not None:
            raise self.list_error
        return Listing(tuple(self.orders), self.complete)

    def cancel_order(self, order_id: int, creds: Any) -> None:
        if self.cancel_error is not None:
            raise self.cancel_error
        if order_id in self.cancel_fails_for:
            from casrelay.errors import cas_unavailable

            raise cas_unavailable(f"cancelling {order_id} failed")
        self.cancelled.append(order_id)

    def preview(self, order: Any, creds: Any, tags: tuple[tuple[str, str], ...]) -> dict[str, Any]:
        return {"Action": "CreateCertificateForPackageRequest", "Tags": [list(t) for t in tags],
                "Domain": order.domain_param, "HasCredentials": creds is not None}


class RecordingSink(Sink):
    """Accepts every message (or fails on cue) and remembers what it accepted."""

    def __init__(self, name: str, fail: BaseException | None = None) -> None:
        self.name = name
        self.fail = fail
        self.accepted: list[tuple[str, dict[str, Any]]] = []
        self.attempts = 0

    def push(self, message: Mapping[str, Any], message_id: str) -> None:
        self.attempts += 1
        if self.fail is not None:
            raise self.fail
        self.accepted.append((message_id, dict(message)))

    @property
    def types(self) -> list[str]:
        return [m["Type"] for _, m in self.accepted]


def sink_down(name: str) -> RecordingSink:
    return RecordingSink(name, SinkError(name, "down", transient=True))


class FlakyStore(MemoryStore):
    """A memory store whose writes can be made to fail (``StoreUnavailable``) by operation name."""

    def __init__(self) -> None:
        super().__init__()
        self.failing: set[str] = set()
        self.failing_once: set[str] = set()

    def _maybe_fail(self, op: str) -> None:
        if op in self.failing_once:
            self.failing_once.discard(op)
            raise StoreUnavailable(f"{op} failed on cue, once")
        if op in self.failing:
            raise StoreUnavailable(f"{op} failed on cue")

    def get(self, key: str) -> LedgerRecord | None:
        self._maybe_fail("get")
        return super().get(key)

    def create(self, record: LedgerRecord) -> bool:
        self._maybe_fail("create")
        return super().create(record)

    def replace(self, record: LedgerRecord, expected_version: int) -> bool:
        self._maybe_fail("replace")
        self._maybe_fail(f"replace:{record.state}")
        return super().replace(record, expected_version)

    def delete(self, key: str, expected_version: int) -> bool:
        self._maybe_fail("delete")
        return super().delete(key, expected_version)

    def scan_open(self, before: float, limit: int) -> tuple[list[LedgerRecord], list[str]]:
        self._maybe_fail("scan_open")
        return super().scan_open(before, limit)

    def purge_expired(self, now: float, limit: int) -> int:
        self._maybe_fail("purge_expired")
        return super().purge_expired(now, limit)


@dataclass
class World:
    clock: Clock
    ledger: Ledger
    gateway: Gateway
    sinks: list[RecordingSink]
    placement: Placement
    sweeper: Sweeper
    sleeps: list[float]

    @property
    def store(self) -> Any:
        return self.ledger.store

    def place(self, params: Mapping[str, Any] | None = None, *, context: Any = None, trigger: str = "http",
              message_id: str | None = "m-1", idempotency_key: str | None = None) -> Any:
        record = OrderRecord(dict(ORDER if params is None else params), trigger, message_id, idempotency_key)
        return self.placement.place(record, context)

    def records(self) -> list[LedgerRecord]:
        return self.ledger.store.scan()

    def only_record(self) -> LedgerRecord:
        [record] = self.records()
        return record


def world(*, sinks: Iterable[RecordingSink] | None = None, gateway: Gateway | None = None, store: Any = None,
          settings: Settings | None = None, **config: Any) -> World:
    clock = Clock()
    ledger_config = LedgerConfig(**{"reconcile_list_lag_seconds": 0, "sweep_min_age_seconds": 0, **config})
    ledger = Ledger(store if store is not None else open_store("memory://"), ledger_config, clock=clock)
    gw = gateway if gateway is not None else Gateway()
    sink_list = list(sinks) if sinks is not None else [RecordingSink("file")]
    sleeps: list[float] = []
    placement = Placement(settings or Settings(), ledger_config, ledger, gw, sink_list,  # type: ignore[arg-type]
                          sleep=sleeps.append)
    placement.reconciler._clock = clock
    sweeper = Sweeper(ledger, ledger_config, placement, clock=clock, monotonic=clock)
    return World(clock, ledger, gw, sink_list, placement, sweeper, sleeps)


def listed(order_id: int, domain: str = "a.example.com", *, product: str = PRODUCT, status: str = "PAYED",
           bought: float | None = NOW) -> ListedOrder:
    return ListedOrder(order_id, domain, product, status, None if bought is None else int(bought * 1000))
