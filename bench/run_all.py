"""Run every benchmark, each in its own process, and print a Markdown table of the results.

Each script's own output is shown as it runs; the table at the end (metric, measured, baseline,
ratio, target, met?) is meant to be pasted into README. Every ratio is against a baseline measured
in the same run of the same script.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import Metric, fmt, machine_load

BENCHES = ("cold_start", "warm_overhead", "ledger_scale", "batch_throughput", "peak_rss")
HERE = Path(__file__).resolve().parent


def _cell(value: float, unit: str) -> str:
    return f"{fmt(value)} {unit}".strip()


def table(metrics: list[Metric]) -> str:
    rows = ["| metric | measured | baseline | ratio | target | met? |", "|---|---|---|---|---|---|"]
    for m in metrics:
        baseline = _cell(m.baseline, m.unit) if m.baseline else "-"
        ratio = f"{m.ratio:.2f}x" if m.baseline else "-"
        rows.append(f"| `{m.name}` | {_cell(m.measured, m.unit)} | {baseline} | {ratio} | {m.target_label()} "
                    f"| {'yes' if m.met else '**no**'} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", choices=BENCHES, help="run only these benchmarks")
    parser.add_argument("--quick", action="store_true", help="pass --quick to every benchmark (rough figures, "
                                                             "about a third of the time)")
    args = parser.parse_args()
    load_before = machine_load()
    chosen = args.only or list(BENCHES)
    metrics: list[Metric] = []
    failed: list[str] = []
    durations: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="casrelay-bench-") as tmp:
        for name in chosen:
            out = Path(tmp) / f"{name}.json"
            print(f"\n=== {name} " + "=" * (60 - len(name)), flush=True)
            started = time.monotonic()
            command = [sys.executable, str(HERE / f"{name}.py"), "--json", str(out)]
            command += ["--quick"] if args.quick else []
            proc = subprocess.run(command, check=False)
            durations[name] = time.monotonic() - started
            if proc.returncode != 0 or not out.exists():
                failed.append(f"{name} (exit {proc.returncode})")
            if out.exists():
                metrics.extend(Metric(**m) for m in json.loads(out.read_text()))
    print("\n=== results " + "=" * 53)
    print(f"\nPython {platform.python_version()} on {platform.machine()}, {platform.system()}; "
          + ", ".join(f"{k} {v:.0f} s" for k, v in durations.items()) + f"{' (--quick)' if args.quick else ''}")
    print(f"machine: {load_before} at the start, {machine_load()} at the end\n")
    print(table(metrics))
    print()
    for m in metrics:
        if m.note:
            print(f"- `{m.name}`: {m.note}")
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    missed = [m.name for m in metrics if not m.met]
    targeted = [m for m in metrics if m.kind != "info"]
    print(f"\n{len(targeted) - len(missed)} of {len(targeted)} targets met ({len(metrics) - len(targeted)} figures "
          "shown for context only)" + (f"; missed: {', '.join(missed)}"
                                                                        if missed else ""))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
