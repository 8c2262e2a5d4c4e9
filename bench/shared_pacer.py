"""Shared pacer: several FC instances on one Redis ledger against a CAS that allows 10 QPS per account and API.

Each instance is its own process (``python -c`` with ``handler/`` on ``sys.path``), as FC's instances
are: it imports ``index``, runs ``index.initialize`` (the SDK import and one paced DescribePackageState),
then waits at a start line. When every instance is ready they all receive one MNS batch of their share of
the orders at once. ``PRECHECK_QUOTA=true``, so each order makes two CAS calls of two APIs
(DescribePackageState, then CreateCertificateForPackageRequest), each limited on its own. Half of the
instances sign with the emulator's STS key and half with its long-term key: one account, one window.

The CAS emulator counts its windows per account and API (``DEMO_ACCOUNTS``), as CAS does, and answers
``Throttling.User`` beyond them; it counts every throttled request. The figures: throttled calls, orders
placed, orders whose first delivery failed (the batch must be redelivered), and the wall time from the
start line to the last instance's answer against the floor N / QPS. ``--pacer local`` is the per-process
pacer each instance had before (the baseline); ``--pacer auto`` shares it through Redis.

The Redis server is ``--redis-url``, else ``CASRELAY_TEST_REDIS_URL``, else one started here on a free
port. The orders' domains are new for each run, so nothing is flushed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: One FC instance: initialize, say ready, wait for the start line on stdin, run the batch, write the result.
CHILD = r"""
import json, os, re, sys, time
root, event_path, out_path = sys.argv[1:4]
sys.path[:0] = [os.path.join(root, "handler"), root]
from devkit.fc_local import make_context
import index
from casrelay.entry.redelivery import TransientFailure
index.initialize(make_context())
event = open(event_path, "rb").read()
open(out_path + ".ready", "w").close()
sys.stdin.readline()
started = time.time()
try:
    summary = index.handler(event, make_context())
    transient, counts = summary["Transient"], summary["Counts"]
except TransientFailure as exc:
    transient, counts = int(re.match(r"(\d+) of", str(exc)).group(1)), str(exc)
with open(out_path, "w") as out:
    json.dump({"started": started, "ended": time.time(), "transient": transient, "counts": counts}, out)
"""


@dataclass
class Figures:
    """What one run measured; ``wall_s`` runs from the start line to the last instance's answer."""

    pacer: str
    precheck: bool
    instances: int
    orders: int
    qps: int
    wall_s: float
    throttled: int
    throttled_by_action: dict[str, int]
    placed: int
    #: Every order placed, and exactly once.
    placed_once: bool
    #: Orders placed more than once (a second paid order): must be 0 in any mode.
    placed_twice: int
    first_delivery_failed: int
    calls_by_action: dict[str, int] = field(default_factory=dict)

    @property
    def floor_s(self) -> float:
        return self.orders / self.qps

    def lines(self) -> list[str]:
        return [
            f"pacer={self.pacer}: {self.instances} instances, {self.orders} orders, CAS at {self.qps} QPS per "
            f"account and API, PRECHECK_QUOTA={str(self.precheck).lower()}",
            f"  throttled calls: {self.throttled} {self.throttled_by_action or ''}".rstrip(),
            f"  CAS calls by API: {self.calls_by_action}",
            f"  orders placed: {self.placed} (all, each once: {self.placed_once}; twice: {self.placed_twice}); "
            f"first delivery failed: "
            f"{self.first_delivery_failed} of {self.orders}",
            f"  wall time: {self.wall_s:.2f} s; floor N/QPS = {self.floor_s:.1f} s; "
            f"ratio {self.wall_s / self.floor_s:.2f}x",
        ]


def _batch(domains: list[str]) -> bytes:
    """An EventBridge MNS batch in event-streaming mode, one order per message."""
    events = [{"id": f"ev-{d}", "source": "MNS-bench", "specversion": "1.0", "type": "mns:Queue:SendMessage",
               "data": {"requestId": f"r-{d}", "messageId": f"M-{d}", "messageBody": json.dumps({"Domain": d})}}
              for d in domains]
    return json.dumps(events).encode()


def _child_env(emulator_endpoint: str, redis_url: str, pacer: str, qps: int, sink: Path, sts: bool,
               precheck: bool) -> dict[str, str]:
    from devkit import cas_emulator
    from devkit.embedded import DEMO_WEBHOOK_SECRET

    keep = {k: v for k, v in os.environ.items()
            if not k.startswith(("ALIBABA_CLOUD_", "CAS_", "IDEMPOTENCY_", "ORDER_", "WEBHOOK_", "FC_"))}
    key = (cas_emulator.DEMO_STS_ACCESS_KEY_ID, cas_emulator.DEMO_STS_ACCESS_KEY_SECRET,
           cas_emulator.DEMO_SECURITY_TOKEN) if sts else \
        (cas_emulator.DEMO_ACCESS_KEY_ID, cas_emulator.DEMO_ACCESS_KEY_SECRET, "")
    return {**keep, "CAS_ENDPOINT": emulator_endpoint, "CAS_PROTOCOL": "http", "CAS_REGION": "cn-hangzhou",
            "ALIBABA_CLOUD_ACCESS_KEY_ID": key[0], "ALIBABA_CLOUD_ACCESS_KEY_SECRET": key[1],
            "ALIBABA_CLOUD_SECURITY_TOKEN": key[2], "WEBHOOK_SECRETS": DEMO_WEBHOOK_SECRET,
            "IDEMPOTENCY_STORE": redis_url, "ORDER_SINKS": f"file://{sink}", "CAS_MAX_QPS": str(qps),
            "CAS_PACER": pacer, "PRECHECK_QUOTA": "true" if precheck else "false", "BATCH_CONCURRENCY": "8",
            "RECONCILE_LIST_LAG_SECONDS": "0", "HTTP_PROXY": "", "HTTPS_PROXY": "", "http_proxy": "",
            "https_proxy": ""}


def run(redis_url: str, *, instances: int = 4, orders: int = 40, qps: int = 10, pacer: str = "auto",
        precheck: bool = False, latency_ms: float = 0.0) -> Figures:
    """Place ``orders`` orders through ``instances`` processes at once; the emulator runs in this process."""
    from devkit.cas_emulator import CasEmulator
    from devkit.cas_emulator.state import DEMO_ACCOUNTS, RateLimiter

    run_id = uuid.uuid4().hex[:8]
    domains = [f"p{run_id}-{i}.example.com" for i in range(orders)]
    with CasEmulator(qps=qps) as emu, tempfile.TemporaryDirectory(prefix="casrelay-pacer-") as tmp:
        emu._limiter = RateLimiter(qps, accounts=DEMO_ACCOUNTS)  # CAS's window: per account, not per key
        if latency_ms:
            emu.set_latency(latency_ms)
        work = Path(tmp)
        procs = []
        for i in range(instances):
            (work / f"event-{i}").write_bytes(_batch(domains[i::instances]))
            env = _child_env(emu.endpoint, redis_url, pacer, qps, work / f"orders-{i}.jsonl", sts=i % 2 == 1,
                             precheck=precheck)
            log = (work / f"stdout-{i}.log").open("w")
            procs.append(subprocess.Popen(
                [sys.executable, "-c", CHILD, str(ROOT), str(work / f"event-{i}"), str(work / f"result-{i}")],
                env=env, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, text=True))
            log.close()
        _wait_for(lambda: all((work / f"result-{i}.ready").exists() for i in range(instances)), procs, work)
        # The initializers' warm-up calls are not part of the run: forget their records, and wait out the
        # one-second window they count in (the first call of a new connection leaves a handshake late).
        time.sleep(1.1)
        emu.reset_stats()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        for proc in procs:
            proc.wait(timeout=120)
        results = [json.loads((work / f"result-{i}").read_text()) for i in range(instances)]
        wall = max(r["ended"] for r in results) - min(r["started"] for r in results)
        throttled = emu.throttled_requests()
        placed = Counter(o.domain for o in emu.paid_orders())
    return Figures(pacer=pacer, precheck=precheck, instances=instances, orders=orders, qps=qps, wall_s=wall,
                   throttled=len(throttled), throttled_by_action=dict(Counter(r.action for r in throttled)),
                   placed=sum(placed.values()), placed_twice=sum(1 for n in placed.values() if n > 1),
                   placed_once=all(placed[d] == 1 for d in domains) and set(placed) == set(domains),
                   first_delivery_failed=sum(r["transient"] for r in results),
                   calls_by_action=emu.counts_by_action())


def _wait_for(ready: object, procs: list[subprocess.Popen[str]], work: Path, timeout: float = 120.0) -> None:
    """Until every instance is initialized; an instance that exits first fails the run with its output."""
    assert callable(ready)
    deadline = time.monotonic() + timeout
    while not ready():
        for i, proc in enumerate(procs):
            if proc.poll() is not None:
                raise RuntimeError(f"instance {i} exited with {proc.returncode} before the start line:\n"
                                   + (work / f"stdout-{i}.log").read_text()[-3000:])
        if time.monotonic() > deadline:
            raise TimeoutError("the instances did not initialize in time")
        time.sleep(0.02)


@contextmanager
def redis_server(url: str | None) -> Iterator[str]:
    """``url``, else ``CASRELAY_TEST_REDIS_URL``, else a redis-server of our own on a free port."""
    import shutil
    import socket

    url = url or os.environ.get("CASRELAY_TEST_REDIS_URL")
    if url:
        yield url
        return
    binary = shutil.which("redis-server")
    if not binary:
        raise SystemExit("redis-server is needed: apt-get install redis-server, or pass --redis-url")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import redis

        for _ in range(100):
            try:
                redis.Redis(port=port).ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import Metric, parse_args, report, use_repo_paths

    use_repo_paths()
    args = parse_args(__doc__ or "", extra={"instances": (int, 4, "FC instances (processes)"),
                                            "orders": (int, 40, "orders, split evenly over the instances"),
                                            "pacer": (str, "both", "local, auto, or both (local first)"),
                                            "precheck": (int, 0, "1: PRECHECK_QUOTA=true, two APIs per order"),
                                            "redis-url": (str, "", "the Redis server (default: see above)")})
    if args.pacer not in ("local", "auto", "redis", "both"):
        raise SystemExit("--pacer is local, auto, redis or both")
    modes = ["local", "auto"] if args.pacer == "both" else [args.pacer]
    figures: list[Figures] = []
    with redis_server(args.redis_url or None) as url:
        for mode in modes:
            got = run(url, instances=args.instances, orders=args.orders, pacer=mode, precheck=bool(args.precheck))
            figures.append(got)
            print("\n".join(got.lines()), flush=True)
    shared = figures[-1]
    metrics = [
        Metric("shared_pacer_wall", shared.wall_s, shared.floor_s, "s", 1.6,
               note=f"{shared.instances} instances, {shared.orders} orders, {shared.qps} QPS; baseline N/QPS"),
        Metric("shared_pacer_throttled", float(shared.throttled), 0.0, "throttled requests", 1.0, kind="limit",
               note="throttled CAS requests across all instances; must be 0", target_text="0"),
    ]
    report(metrics, args.json)


if __name__ == "__main__":
    main()
