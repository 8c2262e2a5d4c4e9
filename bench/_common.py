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
    """One row of the results table. ``kind`` is ``ratio`` (measured / baseline <= target) or
    ``limit`` (measured < target, in ``unit``)."""

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
        if self.kind == "ratio":
            return self.ratio <= self.target
        return self.measured < self.target

    def summary(self) -> str:
        verdict = "met" if self.met else "MISSED"
        if self.kind == "ratio":
            return f"{self.name}: ratio {self.ratio:.2f}x (target <= {self.target:.2f}x) {verdict}"
        base = f"; baseline {self.baseline:.1f} {self.unit}" if self.baseline else ""
        return f"{self.name}: {fmt(self.measured)} {self.unit} (target {self.target_label()}{base}) {verdict}"

    def target_label(self) -> str:
        if self.target_text:
            return self.target_text
        if self.kind == "ratio":
            return f"<= {self.target:.2f}x"
        return f"< {self.target:g} {self.unit}"


def fmt(value: float) -> str:
    """Whole numbers as such, others with one decimal."""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def parse_args(description: str, argv: Sequence[str] | None = None,
               extra: dict[str, tuple[type, object, str]] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--json", metavar="PATH", help="also write the metrics as JSON to PATH (for run_all.py)")
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
