"""Two concurrent invocations of one order place one paid order: threads in a process, and processes on Redis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import index
from devkit.cas_emulator import ACTION_CREATE
from tests.conftest import HttpClient

ROOT = Path(__file__).resolve().parents[2]


def test_concurrent_requests_for_one_order_in_one_process_place_one_order(embedded):
    embedded.emulator.set_latency(200, ACTION_CREATE)  # keep the first call in flight while the others arrive
    client = HttpClient(embedded)
    results: list[dict] = []
    barrier = threading.Barrier(6)

    def send() -> None:
        barrier.wait()
        results.append(client.request({"Domain": "race.example.com", "ValidateType": "DNS"}))

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(embedded.emulator.orders()) == 1
    statuses = sorted(r["statusCode"] for r in results)
    assert statuses.count(200) >= 1 and set(statuses) <= {200, 409}
    order_ids = {json.loads(r["body"])["OrderId"] for r in results if r["statusCode"] == 200}
    assert order_ids == {embedded.emulator.orders()[0].order_id}
    in_progress = [r for r in results if r["statusCode"] == 409]
    assert all(r["headers"]["Retry-After"] for r in in_progress)
    # once the first finished, a repeat is answered from the ledger
    again = client.request({"Domain": "race.example.com", "ValidateType": "DNS"})
    assert again["statusCode"] == 200 and again["headers"].get("Idempotent-Replayed") == "true"


def test_fifty_concurrent_invocations_place_exactly_the_expected_orders(embedded):
    client = HttpClient(embedded)
    orders = [{"Domain": f"n{i % 25}.example.com"} for i in range(50)]  # 25 distinct orders, each sent twice
    results: list[dict] = []
    lock = threading.Lock()

    def send(order: dict) -> None:
        deadline = time.monotonic() + 30  # 25 paid calls at 10 QPS take about 2.6 s
        while True:
            res = client.request(order)
            if res["statusCode"] != 409 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        with lock:
            results.append(res)

    threads = [threading.Thread(target=send, args=(o,)) for o in orders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r["statusCode"] for r in results] == [200] * 50
    placed = embedded.emulator.orders()
    assert sorted(o.domain for o in placed) == sorted(f"n{i}.example.com" for i in range(25))


CHILD = r"""
import json, sys, time
sys.path.insert(0, "handler")
import index
from devkit.fc_local import make_context
start = float(sys.argv[1])
time.sleep(max(0.0, start - time.time()))
try:
    out = index.handler(json.dumps({"Domain": "two-processes.example.com"}).encode(), make_context())
except Exception as exc:
    out = {"error": type(exc).__name__, "message": str(exc)}
print(json.dumps(out))
"""


def test_two_processes_sharing_redis_place_one_order(embedded, redis_url):
    embedded.emulator.set_latency(300, ACTION_CREATE)
    env = {**os.environ, **embedded.env, "IDEMPOTENCY_STORE": redis_url, "ORDER_SINKS": ""}
    start = time.time() + 2.0
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, str(start)], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = []
    for p in procs:
        out, _err = p.communicate(timeout=60)
        outputs.append(json.loads(out.strip().splitlines()[-1]))
    assert len(embedded.emulator.orders()) == 1, outputs
    placed = [o for o in outputs if "OrderId" in o]
    others = [o for o in outputs if "OrderId" not in o]
    assert len(placed) >= 1
    assert all(o.get("message", "").startswith("OrderInProgress") for o in others), outputs
    index.reset_for_tests()
