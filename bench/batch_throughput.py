"""Batch: casrelay's own cost per record, and 100 orders in one MNS batch event at CAS_MAX_QPS=10.

1. Own cost (``batch_own_cost``). A batch at 10 QPS takes N/QPS whatever casrelay does, so its wall time
   measures the pacer's margin, not casrelay. Here the pacer never binds (CAS_MAX_QPS=1000, the
   emulator's flow control off; the time the pacer slept is printed, and is ~0), and each round runs one
   MNS batch of N records through ``index.handler`` and, as the baseline, the same N bare SDK calls
   (the same request, tag included, checked on the wire) from a thread pool of casrelay's own
   BATCH_CONCURRENCY, in a shuffled order per round. The figure is wall time per record, median over
   the rounds.

2. Paced (``batch_paced_vs_floor``). The embedded default with the emulator's own flow control on (10 QPS per
   API, as CAS), 300 ms of latency on CreateCertificateForPackageRequest, the file sink and the SQLite ledger.
   ``index.initialize`` runs first, as FC does. The baseline is the rate limit's floor: N orders at 10 QPS
   cannot take less than N / 10 = 10 s, so the ratio says how close to the limit casrelay runs (casrelay paces
   with a 5% margin, so ~1.05x plus one round trip is the best it can do). Throttled requests must be 0: a
   throttled paid call costs a retry.
"""

from __future__ import annotations

import json
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from _common import Metric, halves, machine_load, median, parse_args, report, use_repo_paths
from _warm import QUOTAS, Runner, check_same_request, order_fields, stdout_to

use_repo_paths()

from devkit import cas_emulator  # noqa: E402
from devkit.embedded import embedded_default  # noqa: E402
from devkit.fc_local import load_index, make_context  # noqa: E402

TARGET = 1.1
#: casrelay's own cost per record is held to the warm direct order's target (the issue gives none of its own).
TARGET_OWN = 1.25
QPS = 10
LATENCY_MS = 300


def mns_batch(bodies: list[dict[str, str]]) -> bytes:
    """An EventBridge/MNS batch as tests/functional/test_batch.py builds it: a list of CloudEvents."""
    events = [{"id": f"ev-{i}", "source": "MNS-bench", "specversion": "1.0", "type": "mns:Queue:SendMessage",
               "data": {"requestId": f"r{i}", "messageId": f"M{i:04d}", "messageBody": json.dumps(body)}}
              for i, body in enumerate(bodies)]
    return json.dumps(events).encode()


def _own_round(runner: Runner, index: Any, pool: ThreadPoolExecutor, n: int, kind: str) -> float:
    """One batch of ``n`` records through the handler, or the same ``n`` bare SDK calls; seconds per record."""
    from devkit.fc_local import make_context

    if kind == "sdk":
        calls = [runner.prepare("sdk") for _ in range(n)]
        t0 = time.perf_counter()
        list(pool.map(lambda call: call(), calls))
        return (time.perf_counter() - t0) / n
    event = mns_batch([order_fields(runner.domain("batch")) for _ in range(n)])
    ctx = make_context()
    t0 = time.perf_counter()
    summary = index.handler(event, ctx)
    elapsed = time.perf_counter() - t0
    if summary.get("Counts") != {"placed": n}:
        raise SystemExit(f"the batch did not place every record: {summary.get('Counts')}")
    return elapsed / n


def own_cost(n: int, rounds: int) -> list[Metric]:
    """casrelay's own cost per batch record against the same calls made bare (see the module docstring)."""
    with embedded_default(extra_env={"CAS_MAX_QPS": "1000"}, sinks=("file",), qps=None, quotas=QUOTAS) as emb:
        index = load_index()
        logs = emb.workdir / "function-stdout.log"
        with stdout_to(logs):
            index.initialize(make_context())
        runner = Runner(emb, index)
        pacer = index._app.backend.client.pacer
        slept = [0.0]
        wait = pacer.wait
        pacer.wait = lambda action: slept.__setitem__(0, slept[0] + wait(action)) or 0.0
        concurrency = index._app.settings.batch_concurrency
        samples: dict[str, list[float]] = {"batch": [], "sdk": []}
        rng = random.Random(9)
        with ThreadPoolExecutor(concurrency) as pool, stdout_to(logs):
            for i in range(rounds + 1):
                kinds = list(samples)
                rng.shuffle(kinds)
                for kind in kinds:
                    t = _own_round(runner, index, pool, n, kind)
                    if i > 0:  # the first round warms both up
                        samples[kind].append(t)
        problems = check_same_request(emb, ["batch"])
        if problems:
            raise SystemExit("batch records and the baseline sent different requests: " + "; ".join(problems))
    med = {k: median(v) for k, v in samples.items()}
    pairs = [a / b for a, b in zip(samples["batch"], samples["sdk"], strict=True)]
    first, second = halves(pairs)
    print(f"batch own cost: {rounds} rounds of {n} records, BATCH_CONCURRENCY={concurrency}, CAS_MAX_QPS=1000, "
          f"emulator flow control off ({machine_load()})")
    print(f"  same request on the wire as the baseline's (tag included); pacer slept {slept[0] * 1000:.1f} ms "
          f"in total over {(rounds + 1) * n} records")
    print(f"  per record: batch {med['batch'] * 1e6:.0f} us, bare SDK calls {med['sdk'] * 1e6:.0f} us; "
          f"ratio {med['batch'] / med['sdk']:.2f}x (per-round {min(pairs):.2f}..{max(pairs):.2f}, halves "
          f"{first:.2f} / {second:.2f})")
    return [Metric("batch_own_cost", med["batch"] * 1e6, med["sdk"] * 1e6, "us/record", TARGET_OWN,
                   note=f"MNS batch of {n} through index.handler vs the same {n} bare SDK calls on "
                        f"{concurrency} threads; the pacer never binds; median of {rounds} rounds; held to the "
                        "warm direct target")]


def main() -> None:
    args = parse_args(__doc__ or "", extra={
        "orders": (int, 0, "records in the paced batch (default 100, --quick 30)"),
        "own-records": (int, 0, "records per own-cost batch (default 100, --quick 50)"),
        "own-rounds": (int, 0, "own-cost rounds (default 7, --quick 3)"),
    })
    own = own_cost(args.own_records or (50 if args.quick else 100), args.own_rounds or (3 if args.quick else 7))
    n = args.orders or (30 if args.quick else 100)
    floor = n / QPS
    with embedded_default(extra_env={"CAS_MAX_QPS": str(QPS)}, sinks=("file",)) as emb:
        index = load_index()
        emb.emulator.set_latency(LATENCY_MS, cas_emulator.ACTION_CREATE)
        logs = emb.workdir / "function-stdout.log"
        saved = sys.stdout
        with logs.open("w", encoding="utf-8") as out:
            sys.stdout = out
            try:
                t0 = time.monotonic()
                index.initialize(make_context())  # FC runs the initializer before the first invocation
                init_s = time.monotonic() - t0
                event = mns_batch([{"Domain": f"bulk{i}.example.com"} for i in range(n)])
                ctx = make_context()
                started = time.monotonic()
                summary = index.handler(event, ctx)
                elapsed = time.monotonic() - started
            finally:
                sys.stdout = saved
        throttled = len(emb.emulator.throttled_requests())
        creates = emb.emulator.requests(cas_emulator.ACTION_CREATE)
        placed = len(emb.emulator.orders())
        concurrency = index._app.settings.batch_concurrency if index._app else "?"
    print(f"batch throughput: {n} records in one MNS batch event, CAS_MAX_QPS={QPS}, emulator flow control "
          f"{QPS} QPS, {LATENCY_MS} ms latency on CreateCertificateForPackageRequest, "
          f"BATCH_CONCURRENCY={concurrency}")
    print(f"  initialize: {init_s * 1000:.0f} ms")
    print(f"  summary counts: {summary.get('Counts')}")
    print(f"  orders placed: {placed}; CreateCertificateForPackageRequest calls: {len(creates)}; "
          f"throttled requests: {throttled}")
    print(f"  elapsed: {elapsed:.2f} s; floor N/QPS = {floor:.1f} s; achieved {placed / elapsed:.2f} orders/s; "
          f"casrelay's own pacing floor (5% margin + one round trip) = "
          f"{(n - 1) * 1.05 / QPS + LATENCY_MS / 1000:.2f} s")
    metrics = [
        *own,
        Metric("batch_paced_vs_floor", elapsed, floor, "s", TARGET,
               note=f"{n} orders, one MNS batch, {QPS} QPS, {LATENCY_MS} ms latency; baseline = N/QPS: measures "
                    "the pacer's margin (1.05 spacing) and one round trip, not casrelay's own cost"),
        Metric("batch_throttled", float(throttled), 0.0, "throttled requests", 1.0, kind="limit",
               note="throttled CAS requests during the batch; must be 0", target_text="0"),
    ]
    report(metrics, args.json)
    if placed != n or summary.get("Counts") != {"placed": n}:
        raise SystemExit(f"only {placed} of {n} orders were placed: the figures above do not measure a full batch")


if __name__ == "__main__":
    main()
