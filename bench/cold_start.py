"""Cold start: what a fresh FC instance pays before its first order, against importing the bare SDK.

Each sample is a fresh ``python`` subprocess, and the kinds are interleaved round by round so that
drift in machine load hits them alike; medians are reported. Four kinds:

* ``sdk``   - ``from alibabacloud_cas20200407.client import Client`` and
              ``from alibabacloud_tea_openapi.utils_models import Config``: the floor any CAS function pays;
* ``index`` - ``import index`` alone (handler/ on sys.path). casrelay defers the SDK to ``initialize``,
              so this is *less* work than the baseline and its ratio flatters;
* ``init``  - ``import index; index.initialize(ctx)`` with no credentials and CAS_WARM_CONNECTION=false:
              all the start-up work before the first order (settings, ledger, sinks, SDK import). This is
              the honest comparison with the bare SDK import, and the one the target applies to;
* ``init_gc`` - a what-if, not a metric: ``init`` with cyclic GC off during start-up and ``gc.freeze()``
              after it, the change proposed for index.py (casrelay's start-up pushes the heap over the
              threshold of one extra full collection, ~30-50 ms, that the bare SDK import does not pay).

Bytecode: the main run gives every kind a warm ``.pyc`` cache (``PYTHONPYCACHEPREFIX`` in a scratch
folder, filled by an unmeasured warm-up round), so both sides are compared like for like. A second, shorter
run copies handler/ to a scratch folder and sets PYTHONDONTWRITEBYTECODE=1, so casrelay compiles from source
every time while the SDK keeps its installed ``.pyc`` files: what an FC instance pays if the code package
ships no ``__pycache__`` (FC's code directory is read-only, so nothing is cached between cold starts). A
third run (one round by default: each sample takes seconds) compiles everything, the SDK included: what FC
runs when the dependencies' ``.pyc`` files were compiled for another Python than the runtime's
(``pip install -t`` writes them for the interpreter that runs pip, not for ``--python-version``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from _common import HANDLER_DIR, Metric, child_env, median, parse_args, report, spread

OPTIONAL = ("boto3", "botocore", "mns", "redis", "cryptography", "email_validator", "phonenumbers", "idna",
            "standardwebhooks", "alibabacloud_cas20200407", "aiohttp", "requests", "sqlite3")
MUST_NOT = {"index": ("boto3", "botocore", "mns", "redis", "cryptography"),
            "init": ("boto3", "botocore", "mns", "redis")}

CHILD = r"""
import gc, json, sys, time
mode, handler_dir = sys.argv[1], sys.argv[2]
optional = sys.argv[3].split(",")
sys.path.insert(0, handler_dir)
gc_time, gc_full, gc_start = [0.0], [0], [0.0]
def on_gc(phase, info):
    if phase == "start":
        gc_start[0] = time.perf_counter()
    else:
        gc_time[0] += time.perf_counter() - gc_start[0]
        gc_full[0] += info["generation"] == 2
gc.callbacks.append(on_gc)
w0, c0 = time.perf_counter(), time.process_time()
seen = {}
if mode == "sdk":
    from alibabacloud_cas20200407.client import Client
    from alibabacloud_tea_openapi.utils_models import Config
    w1, c1 = time.perf_counter(), time.process_time()
else:
    if mode == "init_gc":
        gc.disable()  # what-if: the proposed index.py change (no collections during start-up, then freeze)
    import index
    w1, c1 = time.perf_counter(), time.process_time()
    seen["index"] = [m for m in optional if m in sys.modules]
    if mode != "index":
        from types import SimpleNamespace
        index.initialize(SimpleNamespace(request_id="bench-cold-start", credentials=None))
    if mode == "init_gc":
        gc.freeze()
        gc.enable()
w2, c2 = time.perf_counter(), time.process_time()
seen[mode] = [m for m in optional if m in sys.modules]
if mode.startswith("init") and index._app is None:
    raise SystemExit("initialize did not build the relay: " + str(index._config_error))
print("BENCH " + json.dumps({"wall": w2 - w0, "cpu": c2 - c0, "import_wall": w1 - w0, "seen": seen,
                             "gc_ms": gc_time[0] * 1000, "gc_full": gc_full[0]}))
"""

KINDS = ("sdk", "index", "init", "init_gc")


def _run_child(kind: str, handler_dir: Path, env: Mapping[str, str]) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", CHILD, kind, str(handler_dir), ",".join(OPTIONAL)],
                         env=dict(env), capture_output=True, text=True, timeout=60, check=False)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("BENCH ")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"{kind} child failed ({out.returncode}): {out.stderr[-2000:]}{out.stdout[-500:]}")
    result: dict[str, Any] = json.loads(lines[-1][len("BENCH "):])
    return result


def _series(rounds: int, warmup: int, handler_dir: Path, base_env: Mapping[str, str], scratch: Path,
            kinds: Sequence[str] = KINDS) -> dict[str, list[dict[str, Any]]]:
    samples: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
    for i in range(-warmup, rounds):
        for kind in kinds:
            # A fresh ledger file per start, as a new FC instance gets an empty /tmp.
            env = {**base_env, "IDEMPOTENCY_STORE": f"sqlite://{scratch}/ledger-{kind}-{i + warmup}.sqlite3"}
            r = _run_child(kind, handler_dir, env)
            if i >= 0:
                samples[kind].append(r)
    return samples


def _print_series(title: str, samples: dict[str, list[dict[str, Any]]]) -> dict[str, float]:
    print(f"\n{title}")
    med: dict[str, float] = {}
    for kind, rows in samples.items():
        walls = [r["wall"] for r in rows]
        cpus = [r["cpu"] for r in rows]
        med[kind] = median(walls)
        med[f"{kind}_cpu"] = median(cpus)
        print(f"  {kind:7s} wall: {spread(walls)}")
        print(f"  {kind:7s} cpu : median {median(cpus) * 1000:.1f} ms; cyclic GC median "
              f"{median([r['gc_ms'] for r in rows]):.1f} ms, full collections median "
              f"{median([r['gc_full'] for r in rows]):g}")
        if kind == "init":
            print(f"  {'':7s} of which `import index`: median {median([r['import_wall'] for r in rows]) * 1000:.1f} ms")
    sdk, sdk_cpu = med["sdk"], med["sdk_cpu"]
    for kind in samples:
        if kind != "sdk":
            paired = median([r["wall"] / b["wall"] for r, b in zip(samples[kind], samples["sdk"], strict=True)])
            print(f"  {kind} / sdk: wall {med[kind] / sdk:.2f}x, cpu {med[f'{kind}_cpu'] / sdk_cpu:.2f}x "
                  f"(median of per-round ratios {paired:.2f}x)")
    return med


def main() -> None:
    args = parse_args(__doc__ or "", extra={
        "rounds": (int, 12, "interleaved rounds with a warm .pyc cache (each runs every kind once)"),
        "source-rounds": (int, 3, "interleaved rounds compiling casrelay from source (0 skips them)"),
        "nopyc-rounds": (int, 1, "rounds compiling everything from source, SDK included (0 skips them)"),
    })
    scratch = Path(tempfile.mkdtemp(prefix="casrelay-bench-cold-"))
    try:
        fc_env = {
            # What s.yaml sets, minus the secret's value; no credentials (initialize only imports the SDK).
            "CAS_ENDPOINT": "cas.aliyuncs.com", "CAS_REGION": "cn-hangzhou", "CAS_PROTOCOL": "https",
            "WEBHOOK_AUTH": "standard", "WEBHOOK_SECRETS": "whsec_Y2FzcmVsYXktbG9jYWwtZGVtby1zZWNyZXQtMDAwMA==",
            "DEFAULT_PRODUCT_CODE": "symantec-free-1-free", "CAS_WARM_CONNECTION": "false",
        }
        cached_env = child_env(PYTHONPYCACHEPREFIX=str(scratch / "pycache"), **fc_env)
        cached_env.pop("PYTHONDONTWRITEBYTECODE", None)
        print(f"cold start: {args.rounds} interleaved rounds of fresh subprocesses ({sys.executable}), "
              "medians; a first round fills the .pyc cache and is not counted")
        cached = _series(args.rounds, 1, HANDLER_DIR, cached_env, scratch)
        med = _print_series("warm .pyc cache for everything (like for like):", cached)
        print(f"  what-if init_gc (the proposed index.py change: no cyclic GC during start-up, then gc.freeze()): "
              f"{med['init_gc'] * 1000:.0f} ms, {med['init_gc'] / med['sdk']:.2f}x the bare SDK import")

        src_med: dict[str, float] | None = None
        if args.source_rounds > 0:
            code_root = scratch / "code"
            shutil.copytree(HANDLER_DIR, code_root, ignore=shutil.ignore_patterns("__pycache__", "python"))
            src_env = child_env(PYTHONDONTWRITEBYTECODE="1", **fc_env)
            src_env.pop("PYTHONPYCACHEPREFIX", None)
            src = _series(args.source_rounds, 0, code_root, src_env, scratch, kinds=("sdk", "index", "init"))
            src_med = _print_series("casrelay compiled from source, SDK from its installed .pyc "
                                    "(a code package shipped without __pycache__):", src)

        nopyc_med: dict[str, float] | None = None
        if args.nopyc_rounds > 0:
            empty = scratch / "empty-pycache"
            empty.mkdir()
            # An empty, never-written cache prefix: no .pyc is found anywhere, so everything compiles.
            nopyc_env = child_env(PYTHONDONTWRITEBYTECODE="1", PYTHONPYCACHEPREFIX=str(empty), **fc_env)
            nopyc = _series(args.nopyc_rounds, 0, HANDLER_DIR, nopyc_env, scratch, kinds=("sdk", "init"))
            nopyc_med = _print_series("nothing compiled, SDK included (what FC runs when the package's .pyc files "
                                      "are missing or were compiled for another Python than the runtime's):", nopyc)

        print("\noptional modules in sys.modules:")
        first = {k: v[0]["seen"] for k, v in cached.items()}
        print(f"  after the bare SDK import          : {', '.join(first['sdk']['sdk']) or '-'}")
        print(f"  after `import index`               : {', '.join(first['index']['index']) or '-'}")
        print(f"  after `import index; initialize()` : {', '.join(first['init']['init']) or '-'}")
        problems = [f"`{'import index' if kind == 'index' else 'initialize'}` imported {m}"
                    for kind, banned in MUST_NOT.items() for m in banned if m in first[kind][kind]]
        if "cryptography" in first["init"]["init"] and "cryptography" in first["sdk"]["sdk"]:
            print("  (cryptography after initialize comes from the SDK itself: the bare SDK import loads it too)")
        for p in problems:
            print(f"  PROBLEM: {p}")
        if not problems:
            print("  ok: no boto3/mns/redis anywhere, and no cryptography from `import index` (no Csr seen yet)")

        metrics = [
            Metric("cold_start", med["init"] * 1000, med["sdk"] * 1000, "ms", 1.10,
                   note=f"import index + initialize (no creds, no warm connection) vs bare SDK import; warm .pyc "
                        f"cache; median wall of {args.rounds} fresh processes each. What-if with the proposed "
                        f"gc.disable()/gc.freeze() start-up: {med['init_gc'] / med['sdk']:.2f}x"),
            Metric("cold_start_import_only", med["index"] * 1000, med["sdk"] * 1000, "ms", 1.10,
                   note="import index alone (the SDK is deferred to initialize) vs bare SDK import"),
        ]
        if src_med is not None:
            metrics.append(Metric("cold_start_casrelay_from_source", src_med["init"] * 1000, src_med["sdk"] * 1000,
                                  "ms", 1.10, note=f"as cold_start, casrelay compiled from source, SDK from .pyc; "
                                                   f"{args.source_rounds} rounds"))
        if nopyc_med is not None:
            metrics.append(Metric("cold_start_no_pyc", nopyc_med["init"] * 1000, nopyc_med["sdk"] * 1000, "ms",
                                  1.10, note=f"as cold_start, nothing compiled (SDK included; {args.nopyc_rounds} "
                                             "sample(s) each): the absolute cold start when no usable .pyc is shipped"))
        metrics.append(Metric("cold_start_unwanted_imports", float(len(problems)), 0.0, "modules", 1.0,
                              kind="limit", target_text="0",
                              note="; ".join(problems) or "boto3/mns/redis never imported; cryptography not "
                                                          "imported by `import index`"))
        report(metrics, args.json)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
