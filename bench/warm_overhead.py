"""Warm per-order overhead: one unique order through ``index.handler`` against the bare SDK call.

Everything runs in one process on the embedded default: the CAS emulator on loopback with its flow
control off (``qps=None``), CAS_MAX_QPS=1000 so casrelay's pacer does not dominate, the file sink only,
and the SQLite ledger in the run's scratch folder. ``index.initialize`` runs first, as FC does.

Three kinds of order, interleaved in a shuffled order within each round, each with a domain never
used before (so every handler call is a real placement, never a ledger replay):

* ``http``   - an FC3 HTTP ``v1`` event signed with Standard Webhooks (signing is the sender's work and
               is done before the clock starts), through ``index.handler``;
* ``direct`` - a direct-invocation event (the JSON order) through ``index.handler``;
* ``sdk``    - the baseline: ``Client.create_certificate_for_package_request_with_options`` on a client
               built once with the same endpoint and credentials, same order fields, autoretry off.

The function's JSON log lines go to a file in the scratch folder (FC captures stdout the same way).
If a ratio misses its target, the handler path is profiled and the time is attributed to its parts.
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import random
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _common import Metric, median, parse_args, report, spread, use_repo_paths

use_repo_paths()

from devkit import cas_emulator  # noqa: E402
from devkit.embedded import Embedded, embedded_default  # noqa: E402
from devkit.fc_local import http_event, load_index, make_context, sign_webhook  # noqa: E402

TARGET = 1.2
CONTEXT_LATENCY_MS = 30
KINDS = ("http", "direct", "sdk")


@contextmanager
def stdout_to(path: Path) -> Iterator[None]:
    saved = sys.stdout
    with path.open("a", encoding="utf-8") as f:
        sys.stdout = f
        try:
            yield
        finally:
            sys.stdout = saved


def _order(domain: str) -> dict[str, str]:
    return {"ProductCode": "symantec-free-1-free", "Domain": domain, "ValidateType": "DNS",
            "Email": "tom.zhang@example.com", "Phone": "13000000000"}


class Runner:
    def __init__(self, emb: Embedded) -> None:
        from alibabacloud_cas20200407 import models
        from alibabacloud_cas20200407.client import Client
        from alibabacloud_tea_openapi.utils_models import Config

        self.emb = emb
        self.index = load_index()
        self.models = models
        self.client = Client(Config(
            access_key_id=cas_emulator.DEMO_ACCESS_KEY_ID, access_key_secret=cas_emulator.DEMO_ACCESS_KEY_SECRET,
            endpoint=emb.emulator.endpoint, protocol="http", region_id="cn-hangzhou",
            connect_timeout=5000, read_timeout=10000,
        ))
        self.seq = 0

    def _domain(self, kind: str) -> str:
        self.seq += 1
        return f"{kind}-{self.seq}-{os.getpid()}.example.com"

    def prepare(self, kind: str) -> Callable[[], None]:
        """Everything a caller does before the call (unique order, signing, event) happens here, untimed;
        the returned callable is the timed part and checks the order was placed."""
        order = _order(self._domain(kind))
        if kind == "sdk":
            m = self.models

            def call_sdk() -> None:
                from darabonba.runtime import RuntimeOptions

                request = m.CreateCertificateForPackageRequestRequest(
                    product_code=order["ProductCode"], domain=order["Domain"], validate_type=order["ValidateType"],
                    email=order["Email"], phone=order["Phone"])
                runtime = RuntimeOptions(connect_timeout=5000, read_timeout=10000, autoretry=False, max_attempts=1)
                body = self.client.create_certificate_for_package_request_with_options(request, runtime).body
                if not body.order_id:
                    raise RuntimeError("the SDK call returned no OrderId")

            return call_sdk
        ctx = make_context()
        if kind == "http":
            raw = json.dumps(order).encode()
            headers = {"content-type": "application/json", **sign_webhook(self.emb.webhook_secret, raw)}
            event = json.dumps(http_event("POST", "/", {}, headers, raw)).encode()

            def call_http() -> None:
                result = self.index.handler(event, ctx)
                if result.get("statusCode") != 200:
                    raise RuntimeError(f"HTTP order failed: {result}")

            return call_http
        event = json.dumps(order).encode()

        def call_direct() -> None:
            result = self.index.handler(event, ctx)
            if not isinstance(result, dict) or "OrderId" not in result:
                raise RuntimeError(f"direct order failed: {result}")

        return call_direct

    def timed(self, kind: str) -> float:
        call = self.prepare(kind)
        t0 = time.perf_counter()
        call()
        return time.perf_counter() - t0


CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    # (label, path fragments of the files that make up the part). A part's time is the cumulative time
    # of its functions when called from outside the part, so everything they call (sqlite, sockets,
    # email_validator...) counts with them.
    ("CAS SDK call (models, signing, HTTP to the emulator, waiting for it)", ("alibabacloud_", "darabonba", "/Tea/")),
    ("ledger (record JSON, sqlite statements and their commits/fsync)", ("casrelay/ledger/",)),
    ("validation (domains/idna, email-validator, phonenumbers, tags)", ("casrelay/validation/",)),
    ("push (downstream message, file sink)", ("casrelay/push/",)),
    ("logging (JSON log lines)", ("casrelay/log.py",)),
    ("trigger parsing (event JSON, HTTP params)", ("casrelay/triggers/",)),
    ("webhook auth (standardwebhooks HMAC)", ("casrelay/auth.py",)),
    ("response document", ("casrelay/response.py",)),
    ("pacer", ("casrelay/cas/ratelimit.py",)),
)

Key = tuple[str, int, str]


def _part(key: Key) -> str | None:
    for label, marks in CATEGORIES:
        if any(mk in key[0] for mk in marks):
            return label
    return None


def _attribute(stats: pstats.Stats) -> tuple[float, list[tuple[str, float]]]:
    """(total time, [(part, time entered from outside the part)]), largest first; the rest is "other"."""
    raw: dict[Key, tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values())
    parts: dict[str, float] = {}
    for key, (_cc, _nc, _tt, _ct, callers) in raw.items():
        part = _part(key)
        if part is None:
            continue
        for caller, edge in callers.items():
            if _part(caller) != part:
                parts[part] = parts.get(part, 0.0) + edge[3]
    rows = sorted(parts.items(), key=lambda kv: -kv[1])
    rows.append(("other (casrelay orchestration: placement, relay, records, gateway models, dataclasses)",
                 total - sum(parts.values())))
    return total, rows


def profile(runner: Runner, kind: str, n: int, logs: Path) -> None:
    calls = [runner.prepare(kind) for _ in range(n)]
    prof = cProfile.Profile()
    with stdout_to(logs):
        prof.enable()
        for call in calls:
            call()
        prof.disable()
    stats = pstats.Stats(prof)
    total, rows = _attribute(stats)
    print(f"\n  where a {kind} order's time goes (cProfile over {n} orders; {total / n * 1000:.2f} ms/order under "
          "the profiler, which inflates Python-heavy parts more than waits):")
    for label, t in rows:
        if t / total >= 0.002:
            print(f"    {t / total * 100:5.1f}%  {t / n * 1000:6.2f} ms/order  {label}")
    raw: dict[Key, tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    print("    top functions by own time:")
    for (filename, line, func), (_cc, nc, tt, _ct, _callers) in sorted(raw.items(), key=lambda kv: -kv[1][2])[:8]:
        where = f"{filename.rsplit('/site-packages/', 1)[-1].rsplit('/handler/', 1)[-1]}:{line}({func})"
        print(f"      {tt / n * 1000:6.2f} ms/order  {tt / total * 100:5.1f}%  calls/order {nc / n:5.1f}  {where}")


QUOTAS = {code: 1_000_000 for code in cas_emulator.PRODUCT_CODES}


@contextmanager
def session(extra_env: dict[str, str] | None = None,
            tweak: Callable[[Embedded, Any], None] | None = None) -> Iterator[tuple[Embedded, Runner, Path]]:
    """The embedded default for this benchmark, initialised as FC does; ``tweak`` gets it and ``index``."""
    env = {"CAS_MAX_QPS": "1000", **(extra_env or {})}
    with embedded_default(extra_env=env, sinks=("file",), qps=None, quotas=QUOTAS) as emb:
        logs = emb.workdir / "function-stdout.log"
        runner = Runner(emb)
        with stdout_to(logs):
            runner.index.initialize(make_context())
        if tweak is not None:
            tweak(emb, runner.index)
        yield emb, runner, logs


def measure(runner: Runner, logs: Path, rounds: int, warmup: int, seed: int = 7) -> dict[str, list[float]]:
    rng = random.Random(seed)
    samples: dict[str, list[float]] = {k: [] for k in KINDS}
    with stdout_to(logs):
        for i in range(-warmup, rounds):
            kinds = list(KINDS)
            rng.shuffle(kinds)
            for kind in kinds:
                t = runner.timed(kind)
                if i >= 0:
                    samples[kind].append(t)
    return samples


def _sqlite_synchronous_normal(_emb: Embedded, index: Any) -> None:
    """What-if only: the proposed ``PRAGMA synchronous=NORMAL`` on the handler thread's ledger connection."""
    store = index._app.ledger.store
    store._conn().execute("PRAGMA synchronous=NORMAL")


def what_if(label: str, rounds: int, extra_env: dict[str, str] | None = None,
            tweak: Callable[[Embedded, Any], None] | None = None) -> None:
    try:
        with session(extra_env, tweak) as (_emb, runner, logs):
            med = {k: median(v) for k, v in measure(runner, logs, rounds, 10, seed=11).items()}
    except Exception as exc:  # a diagnostic must not sink the benchmark (e.g. the store's internals changed)
        print(f"    {label}: not measured ({type(exc).__name__}: {exc})")
        return
    print(f"    {label}: http {med['http'] * 1000:.2f} ms ({med['http'] / med['sdk']:.2f}x), direct "
          f"{med['direct'] * 1000:.2f} ms ({med['direct'] / med['sdk']:.2f}x), sdk {med['sdk'] * 1000:.2f} ms")


def main() -> None:
    args = parse_args(__doc__ or "", extra={
        "rounds": (int, 150, "interleaved rounds; each places one order of every kind"),
        "warmup": (int, 20, "unmeasured rounds first"),
        "profile-orders": (int, 150, "orders profiled per kind when a target is missed"),
        "always-profile": (int, 0, "1: profile and run the what-ifs even when the targets are met"),
    })
    with session() as (emb, runner, logs):
        samples = measure(runner, logs, args.rounds, args.warmup)
        placed = len(emb.emulator.orders())
        expected = (args.warmup + args.rounds) * len(KINDS)
        print(f"warm per-order time, {args.rounds} interleaved rounds after {args.warmup} warm-up rounds "
              f"({placed} orders placed, expected {expected}); emulator qps off, CAS_MAX_QPS=1000, "
              f"file sink, SQLite ledger")
        if placed != expected:
            raise SystemExit("some orders were not placed")
        with logs.open() as f:
            lines = sum(1 for _ in f)
        handled = (args.warmup + args.rounds) * 2
        print(f"  function log lines: {lines} ({lines / handled:.1f} per order placed through the handler)")
        med = {k: median(v) for k, v in samples.items()}
        for kind in KINDS:
            print(f"  {kind:6s}: {spread(samples[kind])}")
        for kind in ("http", "direct"):
            print(f"  {kind} - sdk: {(med[kind] - med['sdk']) * 1000:.2f} ms of casrelay work per order "
                  f"(ratio {med[kind] / med['sdk']:.2f}x)")
        metrics = [
            Metric("warm_overhead_http", med["http"] * 1000, med["sdk"] * 1000, "ms/order", TARGET,
                   note="signed HTTP event through index.handler vs bare SDK call; median"),
            Metric("warm_overhead_direct", med["direct"] * 1000, med["sdk"] * 1000, "ms/order", TARGET,
                   note="direct invocation through index.handler vs bare SDK call; median"),
        ]
        diagnose = bool(args.always_profile) or not all(m.met for m in metrics)
        if diagnose:
            for kind in ("http", "direct", "sdk"):
                profile(runner, kind, args.profile_orders, logs)
    if diagnose:
        n = max(40, args.rounds // 3)
        print(f"\n  what-ifs ({n} interleaved rounds each, same process, each against its own SDK baseline):")
        what_if("ledger on memory:// (no SQLite at all)", n, {"IDEMPOTENCY_STORE": "memory://"})
        what_if("SQLite ledger with PRAGMA synchronous=NORMAL (WAL; no fsync per commit)", n,
                tweak=_sqlite_synchronous_normal)
        slow = f"CAS answering in {CONTEXT_LATENCY_MS} ms instead of ~3 ms (an assumed real round trip)"

        def latency(emb: Embedded, _index: Any) -> None:
            emb.emulator.set_latency(CONTEXT_LATENCY_MS, cas_emulator.ACTION_CREATE)

        def latency_and_normal(emb: Embedded, index: Any) -> None:
            latency(emb, index)
            _sqlite_synchronous_normal(emb, index)

        what_if(f"context: {slow}, as shipped", n, tweak=latency)
        what_if(f"context: {slow}, with synchronous=NORMAL", n, tweak=latency_and_normal)
    report(metrics, args.json)


if __name__ == "__main__":
    main()
