"""Shared helpers for the benchmark scripts: paths, statistics, and the result each script reports.

Every script prints its figures and ends with one summary line per metric, such as
``cold_start: ratio 1.04x (target <= 1.10x)``. With ``--json PATH`` it also writes the metrics as
JSON, which ``run_all.py`` reads to build its Markdown table. Baselines are always measured in the
same run as the figure they are compared with; nothing here is a timed assertion.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HANDLER_DIR = ROOT / "handler"


def use_repo_paths() -> None:
    """Put the FC code root and the repository root on ``sys.path``, as pytest's ``pythonpath`` does."""
    for p in (str(HANDLER_DIR), str(ROOT)):
        if p not in sys.path:
            sys.path.insert(0, p)


@dataclass
class Metric:
    """One row of the results table. ``kind`` is ``ratio`` (measured / baseline <= target), ``limit``
    (measured < target, in ``unit``) or ``info`` (a figure shown for context, with no target: it is never
    "not met", and the table says so rather than inventing a target)."""

    name: str
    measured: float
    baseline: float
    unit: str
    target: float
    kind: str = "ratio"
    note: str = ""
    #: How the target reads in the table, when ``< target`` does not say it well (e.g. "0").
    target_text: str = ""

    @property
    def ratio(self) -> float:
        return self.measured / self.baseline if self.baseline else float("inf")

    @property
    def met(self) -> bool:
        if self.kind == "info":
            return True
        if self.kind == "ratio":
            return self.ratio <= self.target
        return self.measured < self.target

    def summary(self) -> str:
        verdict = "met" if self.met else "MISSED"
        if self.kind == "info":
            ratio = f"ratio {self.ratio:.2f}x; " if self.baseline else ""
            return f"{self.name}: {ratio}{fmt(self.measured)} {self.unit} (no target: context only)"
        if self.kind == "ratio":
            return f"{self.name}: ratio {self.ratio:.2f}x (target <= {self.target:.2f}x) {verdict}"
        base = f"; baseline {self.baseline:.1f} {self.unit}" if self.baseline else ""
        return f"{self.name}: {fmt(self.measured)} {self.unit} (target {self.target_label()}{base}) {verdict}"

    def target_label(self) -> str:
        if self.target_text:
            return self.target_text
        if self.kind == "info":
            return "- (context)"
        if self.kind == "ratio":
            return f"<= {self.target:.2f}x"
        return f"< {self.target:g} {self.unit}"


def fmt(value: float) -> str:
    """Whole numbers as such, others with one decimal."""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def parse_args(description: str, argv: Sequence[str] | None = None,
               extra: dict[str, tuple[type, object, str]] | None = None) -> argparse.Namespace:
    """The common options (``--json``, ``--quick``) and the script's own ``extra`` ones."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", metavar="PATH", help="also write the metrics as JSON to PATH (for run_all.py)")
    parser.add_argument("--quick", action="store_true",
                        help="fewer samples: a rough figure in a fraction of the time (spreads get wider)")
    for name, (typ, default, help_text) in (extra or {}).items():
        parser.add_argument(f"--{name}", type=typ, default=default, help=help_text)
    return parser.parse_args(argv)


def report(metrics: Sequence[Metric], json_path: str | None) -> None:
    print()
    for m in metrics:
        print(m.summary())
    if json_path:
        Path(json_path).write_text(json.dumps([asdict(m) for m in metrics], indent=1))


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by linear interpolation between the closest ranks, as numpy's default."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass(frozen=True)
class Stats:
    """Median, mean and p99 of one series: the median alone hides periodic costs (WAL checkpoints,
    collections), which the mean spreads over every order and the p99 shows as a tail."""

    median: float
    mean: float
    p99: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Stats:
        return cls(median(values), statistics.fmean(values), quantile(values, 0.99), len(values))

    def ratio(self, base: Stats) -> dict[str, float]:
        return {"median": self.median / base.median, "mean": self.mean / base.mean, "p99": self.p99 / base.p99}

    def us(self) -> str:
        return f"median {self.median * 1e6:7.0f}  mean {self.mean * 1e6:7.0f}  p99 {self.p99 * 1e6:7.0f} us"


def halves(ratios: Sequence[float]) -> tuple[float, float]:
    """Median of the first and of the second half of a series of paired ratios: two runs in one. When they
    disagree by more than a few percent, the figure is noise, whatever its median says."""
    mid = len(ratios) // 2
    return median(ratios[:mid] or ratios), median(ratios[mid:])


def machine_load() -> str:
    """The 1/5/15-minute load averages and the CPU count, to print beside figures taken on a shared machine."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def spread(values: Sequence[float]) -> str:
    """``min / p25 / median / p75 / max`` with milliseconds for second-valued samples."""
    qs = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else [values[0]] * 3
    return (f"min {min(values) * 1000:.1f}  p25 {qs[0] * 1000:.1f}  median {qs[1] * 1000:.1f}  "
            f"p75 {qs[2] * 1000:.1f}  max {max(values) * 1000:.1f} ms")


def child_env(**overrides: str) -> dict[str, str]:
    """The environment for a fresh benchmark subprocess: no cloud credentials, no proxies."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ALIBABA_CLOUD_", "CAS_", "IDEMPOTENCY_", "ORDER_SINKS", "WEBHOOK_"))}
    env.update({"HTTP_PROXY": "", "HTTPS_PROXY": "", "http_proxy": "", "https_proxy": ""})
    env.update(overrides)
    return env
