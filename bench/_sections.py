"""Where an order's time goes, in microseconds, with timers around casrelay's parts rather than a profiler.

cProfile inflates Python-heavy code several times over and hides waits, so its percentages mislead
about what to optimise. Here each part's entry points are wrapped, for the duration of the breakdown
only, with a ``perf_counter`` timer that keeps *exclusive* time (a part's time minus that of the
wrapped parts it calls), so the parts add up to the handler's time. A wrapper costs well under a
microsecond. Every target is looked up by name; a part whose code moved is reported as not found
rather than failing the benchmark (others change handler/ in parallel).

Garbage collection is counted on its own (``gc.callbacks``): a collection triggered inside any part
is a cost of every part's allocations, not of the one that happened to cross the threshold.
"""

from __future__ import annotations

import gc
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

#: The SDK method both casrelay and the baseline call: its time is the bare SDK call's.
SDK_METHOD = "create_certificate_for_package_request_with_options"
SDK_LABEL = "CAS SDK call (request model, signing, HTTP to the emulator, its answer)"


class Sections:
    """Exclusive time per label on the thread that created it (the benchmark's own thread)."""

    def __init__(self) -> None:
        self.own: defaultdict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self._stack: list[float] = []
        self._thread = threading.get_ident()
        self._restore: list[Callable[[], None]] = []
        self.missing: list[str] = []
        self._gc_started = 0.0
        #: Off while a baseline runs: only casrelay's own calls are attributed.
        self.enabled = True

    def wrap(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            if not self.enabled or threading.get_ident() != self._thread:
                return fn(*args, **kwargs)
            stack = self._stack
            stack.append(0.0)
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                dt = time.perf_counter() - t0
                children = stack.pop()
                self.own[label] += dt - children
                self.calls[label] += 1
                if stack:
                    stack[-1] += dt

        return timed

    def patch(self, label: str, owner: Any, name: str, kind: str = "") -> None:
        """Wrap ``owner.name`` (an instance's, a module's or a class's attribute) until ``restore``."""
        original = getattr(owner, name, None) if owner is not None else None
        if original is None:
            self.missing.append(f"{label} ({type(owner).__name__}.{name})")
            return
        own = vars(owner) if hasattr(owner, "__dict__") else {}
        had_own = name in own
        saved = own.get(name, original)
        wrapped = self.wrap(label, original)
        try:
            setattr(owner, name, staticmethod(wrapped) if kind == "static" else wrapped)
        except (AttributeError, TypeError):  # a frozen or slotted object: leave it unwrapped, and say so
            self.missing.append(f"{label} ({type(owner).__name__}.{name} cannot be wrapped)")
            return

        def undo() -> None:
            if had_own:
                setattr(owner, name, saved)
            else:
                delattr(owner, name)

        self._restore.append(undo)

    def _on_gc(self, phase: str, _info: dict[str, Any]) -> None:
        if not self.enabled or threading.get_ident() != self._thread:
            return
        if phase == "start":
            self._gc_started = time.perf_counter()
            return
        dt = time.perf_counter() - self._gc_started
        self.own["garbage collection (cyclic GC pauses)"] += dt
        self.calls["garbage collection (cyclic GC pauses)"] += 1
        if self._stack:  # taken out of the part it interrupted
            self._stack[-1] += dt

    @contextmanager
    def active(self) -> Iterator[Sections]:
        gc.callbacks.append(self._on_gc)
        try:
            yield self
        finally:
            gc.callbacks.remove(self._on_gc)
            for undo in reversed(self._restore):
                undo()
            self._restore.clear()


def instrument(sections: Sections, app: Any) -> None:
    """Wrap casrelay's parts as the running ``app`` has them (see the module docstring)."""
    import casrelay.app as app_module
    import casrelay.flows.place as place_module
    import casrelay.log as log_module
    from casrelay.ledger.record import LedgerRecord

    p = sections.patch
    p("trigger: decode and classify the event", app_module, "classify")
    p("validation (domains/idna, email, phone, tags)", place_module, "validate_order")
    p("idempotency key and payload hash", place_module, "order_key")
    p("idempotency key and payload hash", place_module, "payload_hash")
    p("order summary for the ledger (masked contacts)", place_module, "summary")
    ledger = getattr(app, "ledger", None)
    for name in ("claim", "attempting", "ordered", "delivered"):
        p("ledger logic (Ledger.claim/attempting/ordered/delivered: records, versions)", ledger, name)
    store = getattr(ledger, "store", None)
    for name in ("get", "create", "replace"):
        p("ledger store: SQL statements and commits (get/create/replace)", store, name)
    p("ledger record JSON (to_json)", LedgerRecord, "to_json")
    p("ledger record JSON (from_json)", LedgerRecord, "from_json", kind="static")
    backend = getattr(app, "backend", None)
    p("CAS: casrelay's request model and tags (backend.place)", backend, "place")
    client = getattr(backend, "client", None)
    p("CAS: casrelay's client wrapper (client cache, runtime options, call metrics)", client, "call")
    p("CAS: pacer", getattr(client, "pacer", None), "wait")
    from alibabacloud_cas20200407.client import Client

    p(SDK_LABEL, Client, SDK_METHOD)
    delivery = getattr(app, "delivery", None)
    p("downstream message (Delivery.message)", delivery, "message")
    for sink in getattr(delivery, "sinks", []):
        p(f"sink push ({type(sink).__name__})", sink, "push")
    p("log lines (JSON encode and write)", log_module, "_write")


def report_rows(sections: Sections, orders: int, handler_total: float) -> list[tuple[str, float, float]]:
    """(label, us per order, calls per order) for every part, largest first, and the rest of the handler."""
    rows = [(label, t / orders * 1e6, sections.calls[label] / orders) for label, t in sections.own.items()]
    rows.sort(key=lambda r: -r[1])
    rest = handler_total - sum(sections.own.values())
    rows.append(("rest of the handler (entry, flows, response, wrappers)", rest / orders * 1e6, 0.0))
    return rows
