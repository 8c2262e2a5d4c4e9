"""Doubles shared by the flow unit tests: a clock, a scripted ordering backend, recording sinks, and the
flows wired to a memory ledger, so that each test can state one rule of the money path without the
emulator, the network or a trigger in between."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from casrelay.config import Settings
from casrelay.flows.delivery import Delivery
from casrelay.flows.new_order import NewOrder
from casrelay.flows.place import PlaceOnce
from casrelay.flows.reconcile import Reconciler
from casrelay.flows.retry import PaidCall
from casrelay.flows.sweep import Sweeper
from casrelay.ledger import Ledger, LedgerConfig, LedgerRecord, open_store
from casrelay.ledger.exceptions import StoreUnavailable
from casrelay.ledger.persistence.memory import MemoryStore
from casrelay.ordering import ListedOrder, Listing, OrderingBackend, PackageState, PlacedOrder
from casrelay.ordering.progress import WAITING, Progress
from casrelay.push.base import Sink
from casrelay.push.exceptions import SinkError
from casrelay.records import OrderRecord

NOW = 1_800_000_000.0
PRODUCT = "symantec-free-1-free"
ORDER = {"Domain": "a.example.com", "ValidateType": "DNS"}


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class FakeBackend(OrderingBackend):
    """CAS as a script: ``answers`` are returned (PlacedOrder) or raised (exceptions) in turn by the paid
    call; ``orders`` is what the search for reconciliation lists."""

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
    progress_calls: list[tuple[int | None, str | None]] = field(default_factory=list)

    action = "CreateCertificateForPackageRequest"

    def place(self, order: Any, creds: Any, tags: tuple[tuple[str, str], ...] = (), attempt: Any = None) -> PlacedOrder:
        self.created.append((order, tags))
        self.creds_seen.append(creds)
        answer = self.answers.pop(0) if self.answers else PlacedOrder(1000 + len(self.created), "REQ")
        if isinstance(answer, BaseException):
            raise answer
        assert isinstance(answer, PlacedOrder)
        return answer

    def quota(self, product_code: str, creds: Any) -> PackageState:
        if self.package_error is not None:
            raise self.package_error
        return PackageState(product_code, 100, 100 - self.remaining)

    def find(self, domains: Any, creds: Any) -> Listing:
        self.keywords.append(str(domains[0]).removeprefix("*."))
        self.creds_seen.append(creds)
        if self.list_error is not None:
            raise self.list_error
        return Listing(tuple(self.orders), self.complete)

    def cancel(self, order_id: int, creds: Any) -> None:
        if self.cancel_error is not None:
            raise self.cancel_error
        if order_id in self.cancel_fails_for:
            from casrelay.errors import cas_unavailable

            raise cas_unavailable(f"cancelling {order_id} failed")
        self.cancelled.append(order_id)

    def progress(self, order_id: int | None, instance_id: str | None, creds: Any,
                 include_certificate: bool = False) -> Progress:
        """The flows' fake CAS reviews forever: the follower only ever hears "waiting"."""
        self.progress_calls.append((order_id, instance_id))
        return Progress(WAITING, status="process")

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
    backend: FakeBackend
    sinks: list[RecordingSink]
    settings: Settings
    delivery: Delivery
    reconciler: Reconciler
    placement: PlaceOnce
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


def world(*, sinks: Iterable[RecordingSink] | None = None, backend: FakeBackend | None = None, store: Any = None,
          settings: Settings | None = None, **config: Any) -> World:
    """The flows as ``casrelay.app.App`` wires them, over a memory ledger, a fake backend and a test clock."""
    clock = Clock()
    settings = settings or Settings()
    ledger_config = LedgerConfig(**{"reconcile_list_lag_seconds": 0, "sweep_min_age_seconds": 0, **config})
    ledger = Ledger(store if store is not None else open_store("memory://"), ledger_config, clock=clock)
    fake = backend if backend is not None else FakeBackend()
    sink_list = list(sinks) if sinks is not None else [RecordingSink("file")]
    sleeps: list[float] = []
    delivery = Delivery(ledger, sink_list)
    reconciler = Reconciler(ledger, fake, ledger_config.cancel_duplicates, ledger_config.reconcile_list_lag_seconds,
                            clock=clock)
    new_order = NewOrder(ledger_config, ledger, fake, PaidCall(fake, sleep=sleeps.append), delivery, reconciler)
    placement = PlaceOnce(settings, ledger_config, ledger, delivery, reconciler, new_order)
    sweeper = Sweeper(ledger, ledger_config, delivery, reconciler, settings.cas_read_timeout_ms, clock=clock,
                      monotonic=clock)
    return World(clock, ledger, fake, sink_list, settings, delivery, reconciler, placement, sweeper, sleeps)


def listed(order_id: int, domain: str = "a.example.com", *, product: str = PRODUCT, status: str = "PAYED",
           bought: float | None = NOW) -> ListedOrder:
    return ListedOrder(order_id, domain, product, status, None if bought is None else int(bought * 1000))
