"""Batch throughput: 100 orders in one MNS batch event at CAS_MAX_QPS=10, CAS answering in 300 ms.

The embedded default with the emulator's own flow control on (10 QPS per API, as CAS), 300 ms of
latency on CreateCertificateForPackageRequest, the file sink and the SQLite ledger. ``index.initialize``
runs first, as FC does. The baseline is the rate limit's floor: N orders at 10 QPS cannot take less than
N / 10 = 10 s, so the ratio says how close to the limit casrelay runs (casrelay paces with a 5% margin,
so ~1.05x plus one round trip is the best it can do). Throttled requests must be 0: a throttled paid call
costs a retry.
"""

from __future__ import annotations

import json
import sys
import time

from _common import Metric, parse_args, report, use_repo_paths

use_repo_paths()

from devkit import cas_emulator  # noqa: E402
from devkit.embedded import embedded_default  # noqa: E402
from devkit.fc_local import load_index, make_context  # noqa: E402

TARGET = 1.1
QPS = 10
LATENCY_MS = 300


def mns_batch(bodies: list[dict[str, str]]) -> bytes:
    """An EventBridge/MNS batch as tests/functional/test_batch.py builds it: a list of CloudEvents."""
    events = [{"id": f"ev-{i}", "source": "MNS-bench", "specversion": "1.0", "type": "mns:Queue:SendMessage",
               "data": {"requestId": f"r{i}", "messageId": f"M{i:04d}", "messageBody": json.dumps(body)}}
              for i, body in enumerate(bodies)]
    return json.dumps(events).encode()


def main() -> None:
    args = parse_args(__doc__ or "", extra={"orders": (int, 100, "records in the batch")})
    n = args.orders
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
        Metric("batch_throughput", elapsed, floor, "s", TARGET,
               note=f"{n} orders, one MNS batch, {QPS} QPS, {LATENCY_MS} ms latency; baseline = N/QPS"),
        Metric("batch_throttled", float(throttled), 0.0, "throttled requests", 1.0, kind="limit",
               note="throttled CAS requests during the batch; must be 0", target_text="0"),
    ]
    report(metrics, args.json)
    if placed != n or summary.get("Counts") != {"placed": n}:
        raise SystemExit(f"only {placed} of {n} orders were placed: the figures above do not measure a full batch")


if __name__ == "__main__":
    main()
