"""Peak RSS of a 1000-record batch through ``index.handler``, in a fresh subprocess.

The CAS emulator runs in this (parent) process, so the child holds only what an FC instance holds:
the function, its dependencies and its data. Two children, same environment (emulator flow control
off, CAS_MAX_QPS=1000, the file sink only, the SQLite ledger in a scratch folder):

* ``baseline`` - ``import index`` + ``index.initialize(ctx)``, then exit;
* ``batch``    - the same, then one MNS batch event of 1000 unique orders through ``index.handler``.

Peak RSS is ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` at the end of each child. The target is on
the batch child's total (FC bills and kills by the instance's memory, not by the increment). If it is
missed, a third child repeats the batch under ``tracemalloc`` and prints the largest allocations.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import HANDLER_DIR, Metric, child_env, parse_args, report, use_repo_paths

use_repo_paths()

from devkit import cas_emulator  # noqa: E402
from devkit.embedded import embedded_default  # noqa: E402

TARGET_MB = 128

CHILD = r"""
import json, os, resource, sys, time
from types import SimpleNamespace
mode, handler_dir, out_path, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
sys.path.insert(0, handler_dir)

def rss_now_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0

def maxrss_kb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux

if mode == "tracemalloc":
    import tracemalloc
    tracemalloc.start(1)
result = {"start_kb": rss_now_kb()}
import index
ctx = SimpleNamespace(
    request_id="bench-peak-rss", region="cn-hangzhou", account_id="1234567890",
    credentials=SimpleNamespace(access_key_id=os.environ["ALIBABA_CLOUD_ACCESS_KEY_ID"],
                                access_key_secret=os.environ["ALIBABA_CLOUD_ACCESS_KEY_SECRET"],
                                security_token=None),
    function=SimpleNamespace(name="casrelay", handler="index.handler", memory=256, timeout=600),
)
index.initialize(ctx)
if index._app is None:
    raise SystemExit("initialize did not build the relay: " + str(index._config_error))
result["after_init_kb"] = rss_now_kb()
if mode == "tracemalloc":
    before = tracemalloc.take_snapshot()
    tracemalloc.reset_peak()
result["after_init_max_kb"] = maxrss_kb()
if mode in ("batch", "tracemalloc"):
    events = [{"id": f"ev-{i}", "source": "MNS-bench", "specversion": "1.0", "type": "mns:Queue:SendMessage",
               "data": {"requestId": f"r{i}", "messageId": f"M{i:05d}",
                        "messageBody": json.dumps({"Domain": f"rss{i}-{os.getpid()}.example.com",
                                                   "Email": "tom.zhang@example.com", "Phone": "13000000000"})}}
              for i in range(n)]
    event = json.dumps(events).encode()
    del events
    result["event_bytes"] = len(event)
    t0 = time.monotonic()
    summary = index.handler(event, ctx)
    result["elapsed_s"] = time.monotonic() - t0
    result["counts"] = summary.get("Counts")
    if mode == "tracemalloc":
        current, peak = tracemalloc.get_traced_memory()
        result["traced_current_kb"] = current // 1024
        result["traced_peak_kb"] = peak // 1024
        snap = tracemalloc.take_snapshot()
        def short(name):
            if "site-packages/" in name:
                return name.split("site-packages/")[-1].split("/")[0]
            if "casrelay/" in name:
                return "casrelay/" + name.split("casrelay/")[-1]
            return name.rsplit("/", 1)[-1]
        diff = snap.compare_to(before, "lineno")
        result["top_lines"] = [(str(d.traceback[0]), d.size_diff // 1024, d.count_diff) for d in diff[:15]]
        by_file = {}
        for d in snap.compare_to(before, "filename"):
            key = short(d.traceback[0].filename)
            by_file[key] = by_file.get(key, 0) + d.size_diff
        result["top_packages"] = sorted(((k, v // 1024) for k, v in by_file.items()), key=lambda kv: -kv[1])[:12]
result["end_kb"] = rss_now_kb()
result["max_kb"] = maxrss_kb()
with open(out_path, "w") as f:
    json.dump(result, f)
"""


def run_child(mode: str, env: dict[str, str], scratch: Path, n: int) -> dict[str, Any]:
    out = scratch / f"{mode}.json"
    logs = scratch / f"{mode}-stdout.log"
    with logs.open("w") as stdout:
        proc = subprocess.run([sys.executable, "-c", CHILD, mode, str(HANDLER_DIR), str(out), str(n)],
                              env=env, stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=600, check=False)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"{mode} child failed ({proc.returncode}): {proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.read_text())
    result["log_bytes"] = logs.stat().st_size
    return result


def mb(kb: float) -> float:
    return kb / 1024


def main() -> None:
    args = parse_args(__doc__ or "", extra={
        "records": (int, 1000, "records in the batch"),
        "always-trace": (int, 0, "1: run the tracemalloc child even when the target is met"),
    })
    n = args.records
    quotas = {code: 1_000_000 for code in cas_emulator.PRODUCT_CODES}
    with tempfile.TemporaryDirectory(prefix="casrelay-bench-rss-") as tmp, \
            embedded_default(extra_env={"CAS_MAX_QPS": "1000"}, sinks=("file",), qps=None, quotas=quotas) as emb:
        scratch = Path(tmp)
        env = child_env(**emb.env)
        base = run_child("baseline", env, scratch, n)
        batch = run_child("batch", {**env, "IDEMPOTENCY_STORE": f"sqlite://{scratch}/ledger-batch.sqlite3"},
                          scratch, n)
        print(f"peak RSS: fresh subprocesses ({sys.executable}); emulator (in the parent) qps off, "
              "CAS_MAX_QPS=1000, file sink, SQLite ledger")
        print(f"  baseline (import index + initialize): peak {mb(base['max_kb']):.1f} MB "
              f"(interpreter alone at start {mb(base['start_kb']):.1f} MB)")
        print(f"  batch of {n}: peak {mb(batch['max_kb']):.1f} MB; "
              f"after initialize {mb(batch['after_init_kb']):.1f} MB, "
              f"at exit {mb(batch['end_kb']):.1f} MB; event {batch['event_bytes'] / 1024:.0f} KB; "
              f"{batch['elapsed_s']:.1f} s; counts {batch['counts']}")
        print(f"  difference (the batch's own peak): {mb(batch['max_kb'] - base['max_kb']):.1f} MB "
              f"({(batch['max_kb'] - base['max_kb']) / n:.1f} KB per record)")
        metric = Metric("peak_rss", mb(batch["max_kb"]), mb(base["max_kb"]), "MB", TARGET_MB, kind="limit",
                        note=f"{n}-record batch through index.handler; baseline = import index + initialize")
        if args.always_trace or not metric.met:
            traced = run_child("tracemalloc", {**env, "IDEMPOTENCY_STORE": f"sqlite://{scratch}/ledger-tm.sqlite3"},
                               scratch, n)
            print(f"\n  tracemalloc (a separate child; Python allocations only): allocated at the end "
                  f"{traced['traced_current_kb'] / 1024:.1f} MB; peak during the batch "
                  f"{traced['traced_peak_kb'] / 1024:.1f} MB")
            print("  growth from after initialize to the end of the batch, by package / file:")
            for name, kb in traced["top_packages"]:
                print(f"    {kb / 1024:7.2f} MB  {name}")
            print("  growth by line:")
            for where, kb, count in traced["top_lines"]:
                print(f"    {kb / 1024:7.2f} MB  {count:7d} blocks  {where.split('site-packages/')[-1]}")
        if batch["counts"] != {"placed": n}:
            print(f"  WARNING: not every record was placed: {batch['counts']}")
    report([metric], args.json)


if __name__ == "__main__":
    main()
