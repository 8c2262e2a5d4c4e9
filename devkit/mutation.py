"""Mutation testing of the money-critical modules with mutmut 3, outside CI.

    python3 -m devkit.mutation [--modules MODULE ...] [--max-children N] [--tests TEST ...]
                               [--mutants GLOB ...] [--keep] [--report FILE] [--fail-under SCORE]

MODULE is a path under ``handler/casrelay/`` (``reconcile.py``, ``ledger/base.py``; the ``.py`` and a
leading ``handler/casrelay/`` may be given or left off). Without ``--modules`` every module of
``MODULES`` is mutated, the money-critical ones first. Without ``--tests`` the unit-level tests of
``TESTS`` are the selection.

The checkout is never touched: the sources are copied into a fresh temporary directory, mutmut's
configuration is written there, and mutmut runs there. mutmut names a mutant after the file's path
(``src/`` stripped) while the tests import ``casrelay.*`` from ``handler/``, so the copy holds the
handler as ``src/`` with ``handler`` a symbolic link to it (``mutants/handler`` too): both the
tests' ``pythonpath`` and the tests that start ``python`` with ``handler`` on the path see the
mutated code.

Before mutating, the selection runs on the unmutated copy (twice by default): a test that fails
there (the tree is being edited, or the test is flaky) cannot tell a mutant from the original, so
it is deselected and listed. The Redis tests get a redis-server of the run's own on a free port,
one database per pytest session (a lock file per database), so that two mutmut workers never flush
each other's data and the shared server on 6379 is left alone.

mypy (``--no-type-check`` turns it off) first rejects the mutants that would not pass the project's
``python3 -m mypy``; mutmut marks them "caught by type check" and runs no test for them.

The script prints, per module, how many mutants there were and how many were killed, survived,
timed out, were caught by the type check, or had no test; then the overall score
``(killed + timeout + typecheck) / (mutants - skipped)``; then every surviving mutant with its diff
(also written to ``--report``). A run takes about 4 s of a 2-core machine per mutant.

This module is also the pytest plugin (``-p devkit.mutation``) that hands out the Redis databases
and records the baseline's failures; it does nothing in a pytest run that did not ask for it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "casrelay"

#: The modules that place, record, reconcile and deliver paid orders, money-critical first.
MODULES = (
    "cas/errors.py",
    "flows/reconcile.py",
    "ledger/base.py",
    "flows/place.py",
    "flows/new_order.py",
    "flows/retry.py",
    "flows/sweep.py",
    "ledger/guard.py",
    "ledger/persistence/memory.py",
    "ledger/persistence/sqlite.py",
    "ledger/persistence/redis.py",
    "ledger/record.py",
    "errors/values.py",
    "flows/delivery.py",
    "auth.py",
    # V2.0 instances (issue 12): the second way of placing the paid call, and its leases.
    "ordering/instance.py",
    "ledger/lease.py",
    "flows/lease.py",
    "flows/instance_order.py",
)
#: Unit-level tests that exercise those modules (the ones that exist are used).
TESTS = (
    "tests/unit/test_cas_errors.py",
    "tests/unit/test_paid_call_failure_classes.py",
    "tests/unit/test_reconcile.py",
    "tests/unit/test_ledger.py",
    "tests/unit/test_ledger_stores.py",
    "tests/unit/test_ledger_race.py",
    "tests/unit/test_error_values.py",
    "tests/unit/test_flow_dry_run_and_guard.py",
    "tests/functional/test_sweep.py",
    "tests/functional/test_idempotency.py",
    "tests/functional/test_webhook_auth.py",
    "tests/functional/test_signed_inputs.py",
    "tests/functional/test_http_order.py",
    "tests/functional/test_dry_run.py",
    "tests/unit/test_instance_leases.py",
    "tests/functional/test_instance_orders.py",
    "tests/functional/test_instance_review_fixes.py",
    "tests/functional/test_order_api_switch.py",
    # What the follower reads of a placed order decides what the sinks are told (issue 13).
    "tests/functional/test_order_progress.py",
)
#: Tests written to kill the mutants the tests above let live.
KILL_TESTS_GLOB = "tests/unit/test_mutation_kills_*.py"
#: What the tests read besides the code (``handler/`` itself is copied as ``src/``).
COPIED = ("tests", "devkit", "events", "schemas", "deploy", "pyproject.toml", "openapi.yaml", "s.yaml",
          "README.md", "requirements-dev.txt")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis", ".mypy_cache", ".ruff_cache",
                                 ".pytest_cache", "mutants", "*.sqlite3")
REDIS_DATABASES = 32

# Environment shared by the script and its plugin half.
ENV_REDIS = "CASRELAY_MUTATION_REDIS"  # redis://127.0.0.1:PORT of the run's own server
ENV_LOCKS = "CASRELAY_MUTATION_LOCKS"  # directory of the per-database lock files
ENV_FAILED = "CASRELAY_MUTATION_FAILED"  # file the baseline's failing node ids are appended to
TEST_REDIS = "CASRELAY_TEST_REDIS_URL"  # what tests/conftest.py reads


# ---------------------------------------------------------------------------------------------------
# The pytest plugin half (-p devkit.mutation).

_lock: IO[str] | None = None
_saved_redis_url: str | None = None


def pytest_configure(config: Any) -> None:
    """Take a free database of the run's redis-server for this pytest session (held until it ends, or
    until the process dies: the lock is an flock on an open file)."""
    global _lock, _saved_redis_url
    base, locks = os.environ.get(ENV_REDIS), os.environ.get(ENV_LOCKS)
    if not base or not locks or _lock is not None:
        return
    import fcntl

    for db in range(REDIS_DATABASES):
        handle = open(Path(locks) / f"db{db}.lock", "w")  # noqa: SIM115 - held for the whole session
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        _lock, _saved_redis_url = handle, os.environ.get(TEST_REDIS)
        os.environ[TEST_REDIS] = f"{base}/{db}"
        return
    raise RuntimeError(f"all {REDIS_DATABASES} Redis databases of the mutation run are taken")


def pytest_unconfigure(config: Any) -> None:
    global _lock
    if _lock is None:
        return
    if _saved_redis_url is None:
        os.environ.pop(TEST_REDIS, None)
    else:
        os.environ[TEST_REDIS] = _saved_redis_url
    _lock.close()
    _lock = None


def pytest_runtest_logreport(report: Any) -> None:
    target = os.environ.get(ENV_FAILED)
    if target and report.failed:
        with open(target, "a", encoding="utf-8") as out:
            out.write(report.nodeid + "\n")


# ---------------------------------------------------------------------------------------------------
# The script half.

def module_path(name: str) -> str:
    """``reconcile``, ``reconcile.py``, ``ledger.base``, ``handler/casrelay/ledger/base.py`` -> the path relative
    to ``handler/casrelay`` (``reconcile.py``, ``ledger/base.py``)."""
    rel = name.strip().removesuffix(".py")
    if "/" not in rel:
        rel = rel.replace(".", "/")
    for prefix in ("handler/", f"{PACKAGE}/"):
        rel = rel.removeprefix(prefix)
    rel += ".py"
    if not (ROOT / "handler" / PACKAGE / rel).is_file():
        raise SystemExit(f"no module handler/{PACKAGE}/{rel}")
    return rel


def module_of_key(key: str) -> str:
    """``casrelay.ledger.base.xǁLedgerǁordered__mutmut_3`` -> ``ledger/base.py``."""
    parts = key.split(".")
    for i in range(len(parts) - 1, -1, -1):
        if parts[i].startswith(("x_", "xǁ")):
            dotted = parts[:i]
            break
    else:
        dotted = parts[:-1]
    if dotted and dotted[0] == PACKAGE:
        dotted = dotted[1:]
    return "/".join(dotted) + ".py"


def default_tests() -> list[str]:
    found = [t for t in TESTS if (ROOT / t).is_file()]
    found += sorted(str(p.relative_to(ROOT)) for p in ROOT.glob(KILL_TESTS_GLOB))
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def own_redis(workdir: Path) -> Iterator[dict[str, str]]:
    """A redis-server of this run's own on loopback; yields the environment for the plugin half."""
    binary = shutil.which("redis-server")
    if binary is None:
        print("redis-server not found: each pytest session of the Redis tests starts its own (tests/conftest.py)")
        yield {}
        return
    port = _free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--databases", str(REDIS_DATABASES), "--dir", str(workdir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("the mutation run's redis-server did not start")
            time.sleep(0.05)
        locks = workdir / "redis-locks"
        locks.mkdir()
        yield {ENV_REDIS: f"redis://127.0.0.1:{port}", ENV_LOCKS: str(locks)}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def prepare_copy(workdir: Path) -> None:
    shutil.copytree(ROOT / "handler", workdir / "src", ignore=IGNORED, symlinks=True)
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, workdir / name, ignore=IGNORED, symlinks=True)
        elif source.is_file():
            shutil.copy2(source, workdir / name)
    (workdir / "handler").symlink_to("src", target_is_directory=True)
    (workdir / "mutants").mkdir()
    (workdir / "mutants" / "handler").symlink_to("src", target_is_directory=True)


def toml_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


MYPY_CONFIG = """[mypy]
ignore_missing_imports = True
check_untyped_defs = True
follow_imports = silent
mypy_path = src:.
"""


def type_check_command(workdir: Path, modules: Sequence[str]) -> list[str]:
    """mypy on the mutated modules only (``follow_imports = silent``: a file being edited elsewhere cannot
    stop the run). mutmut runs it in ``mutants/`` and marks the mutants it rejects "caught by type check":
    such a mutant could not pass the project's own ``python3 -m mypy``."""
    config = workdir / "mypy-mutation.ini"
    config.write_text(MYPY_CONFIG + f"cache_dir = {workdir / '.mypy-mutation-cache'}\n", encoding="utf-8")
    return [sys.executable, "-m", "mypy", "--config-file", str(config), "--output", "json",
            *[f"src/{PACKAGE}/{m}" for m in modules]]


def write_config(workdir: Path, base: str, modules: Sequence[str], tests: Sequence[str], deselected: Sequence[str],
                 timeout_multiplier: float, type_check: bool) -> None:
    """The copy's pyproject.toml: the checkout's (``base``) plus a ``[tool.mutmut]`` table."""
    deselect_args = [arg for nodeid in deselected for arg in ("--deselect", nodeid)]
    checker = type_check_command(workdir, modules) if type_check else []
    config = "\n".join([
        "",
        "[tool.mutmut]",
        'source_paths = ["src"]',
        f"only_mutate = {toml_list([f'src/{PACKAGE}/{m}' for m in modules])}",
        f"also_copy = {toml_list([n for n in COPIED if n not in ('tests', 'pyproject.toml')])}",
        f"pytest_add_cli_args_test_selection = {toml_list(tests)}",
        f"pytest_add_cli_args = {toml_list(['-p', 'devkit.mutation', *deselect_args])}",
        f"timeout_multiplier = {timeout_multiplier}",
        "use_git_change_detection = false",
        f"type_check_command = {toml_list(checker)}",
        "",
    ])
    (workdir / "pyproject.toml").write_text(base + config, encoding="utf-8")
    shutil.copy2(workdir / "pyproject.toml", workdir / "mutants" / "pyproject.toml")


def baseline_failures(workdir: Path, tests: Sequence[str], env: dict[str, str], runs: int) -> list[str]:
    """Node ids of the selection that fail on the unmutated copy in any of ``runs`` runs."""
    failed: set[str] = set()
    for run in range(1, runs + 1):
        record = workdir / f"baseline-{run}.failed"
        record.touch()
        started = time.monotonic()
        with open(workdir / f"baseline-{run}.log", "w", encoding="utf-8") as log:
            subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "devkit.mutation", *tests],
                           cwd=workdir, env={**env, ENV_FAILED: str(record)}, stdout=log, stderr=subprocess.STDOUT,
                           check=False)
        these = {line for line in record.read_text(encoding="utf-8").splitlines() if line}
        print(f"baseline run {run}: {len(these)} failing test(s) ({time.monotonic() - started:.0f}s)", flush=True)
        failed |= these
    return sorted(failed)


@dataclass
class ModuleResult:
    statuses: Counter[str] = field(default_factory=Counter)
    survivors: list[str] = field(default_factory=list)
    #: Survivors that ``devkit/mutation_explained.py`` accepts, with a reason each.
    explained: int = 0

    @property
    def total(self) -> int:
        return sum(self.statuses.values())


def mutmut(workdir: Path, env: dict[str, str], *args: str,
           log: IO[str] | None = None) -> subprocess.CompletedProcess[str]:
    # mutmut.__main__ must be imported as a module, not run as __main__ (it warns and re-executes itself).
    code = "import sys; from mutmut.__main__ import cli; sys.argv = ['mutmut', *sys.argv[1:]]; cli()"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=workdir, env=env, text=True, check=False,
                          stdout=log if log is not None else subprocess.PIPE,
                          stderr=subprocess.STDOUT if log is not None else subprocess.PIPE)


FAILED_LINE = re.compile(r"^FAILED (\S+?)(?: - .*)?$", re.MULTILINE)
#: How often a test that fails in mutmut's own unmutated runs is deselected and mutmut started again.
MAX_FLAKY_RETRIES = 3
RESULT_LINE = re.compile(r"^\s+(\S+__mutmut_\d+): (.+?)\s*$")


def collect_results(workdir: Path, env: dict[str, str], modules: Sequence[str]) -> dict[str, ModuleResult]:
    out = mutmut(workdir, env, "results", "--all", "true")
    results = {m: ModuleResult() for m in modules}
    for line in out.stdout.splitlines():
        match = RESULT_LINE.match(line)
        if not match:
            continue
        key, status = match.groups()
        result = results.setdefault(module_of_key(key), ModuleResult())
        result.statuses[status] += 1
        if status == "survived":
            result.survivors.append(key)
    return results


def triage(workdir: Path, env: dict[str, str], results: dict[str, ModuleResult]) -> tuple[list[str], list[str]]:
    """Each survivor's diff, split into those nobody has explained yet and those ``mutation_explained`` does
    (each of these with its reason); ``ModuleResult.explained`` counts the latter per module."""
    from .mutation_explained import explain, explained_entries

    entries = explained_entries()

    unexplained: list[str] = []
    explained: list[str] = []
    for module, result in results.items():
        for key in result.survivors:
            diff = mutmut(workdir, env, "show", key).stdout.rstrip()
            entry = explain(module, key, diff, entries)
            if entry is None:
                unexplained.append(diff + "\n")
            else:
                result.explained += 1
                explained.append(f"{key}: {entry.reason}")
    return unexplained, explained


TYPECHECK = "caught by type check"
COLUMNS = ("killed", "survived", "timeout", TYPECHECK, "no tests")


def score(statuses: Counter[str]) -> float:
    """(killed + timeout + caught by type check) / (mutants - skipped): a mutant mypy rejects cannot pass
    the project's checks, so it counts as killed."""
    tested = sum(statuses.values()) - statuses["skipped"]
    caught = statuses["killed"] + statuses["timeout"] + statuses[TYPECHECK]
    return 100.0 * caught / tested if tested else 0.0


def _row(name: str, statuses: Counter[str], explained: int) -> str:
    total = sum(statuses.values())
    other = total - sum(statuses[c] for c in COLUMNS)
    cells = " ".join(f"{statuses[c]:>9}" for c in COLUMNS)
    tested = total - statuses["skipped"]
    unexplained = statuses["survived"] - explained
    covered = 100.0 * (tested - unexplained - statuses["no tests"]) / tested if tested else 0.0
    return f"{name:30} {total:>8} {cells} {other:>6} {explained:>9} {score(statuses):>6.1f}% {covered:>6.1f}%"


def print_table(results: dict[str, ModuleResult]) -> float:
    head = (f"{'module':30} {'mutants':>8} " + " ".join(f"{c if c != TYPECHECK else 'typecheck':>9}" for c in COLUMNS)
            + f" {'other':>6} {'explained':>9} {'score':>7} {'+expl.':>7}")
    print(head)
    print("-" * len(head))
    grand: Counter[str] = Counter()
    explained = 0
    for module, result in results.items():
        print(_row(module, result.statuses, result.explained))
        grand.update(result.statuses)
        explained += result.explained
    print("-" * len(head))
    print(_row("all", grand, explained))
    for status in sorted(set(grand) - set(COLUMNS)):
        print(f"  other: {grand[status]} {status}")
    result_score = score(grand)
    print(f"score: {result_score:.1f}% = (killed + timeout + typecheck) / (mutants - skipped); "
          "+expl.: the same with the explained survivors counted as accounted for")
    return result_score


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m devkit.mutation", description=__doc__.split("\n\n")[0])
    parser.add_argument("--modules", nargs="+", metavar="MODULE", help=f"under handler/{PACKAGE}/ (default: all)")
    parser.add_argument("--max-children", type=int, default=2, help="mutmut workers (default 2)")
    parser.add_argument("--tests", nargs="+", metavar="TEST", help="pytest selection (default: the unit tests)")
    parser.add_argument("--mutants", nargs="+", metavar="GLOB", default=[],
                        help="only these mutant names (mutmut globs, e.g. 'casrelay.flows.reconcile.x_*')")
    parser.add_argument("--baseline-runs", type=int, default=2,
                        help="runs of the selection on the unmutated copy; a test failing in any is deselected")
    parser.add_argument("--timeout-multiplier", type=float, default=15.0, help="mutmut's timeout_multiplier")
    parser.add_argument("--no-type-check", dest="type_check", action="store_false",
                        help="do not let mypy reject mutants first (by default it does: see type_check_command)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (mutmut show/browse there)")
    parser.add_argument("--report", type=Path, help="write the surviving mutants' diffs here")
    parser.add_argument("--fail-under", type=float, help="exit 1 when the score is below this percentage")
    args = parser.parse_args(argv)

    modules = [module_path(m) for m in args.modules] if args.modules else list(MODULES)
    tests = args.tests or default_tests()
    workdir = Path(tempfile.mkdtemp(prefix="casrelay-mutation-"))
    print(f"work directory: {workdir}", flush=True)
    print(f"modules: {', '.join(modules)}", flush=True)
    print(f"tests: {' '.join(tests)}", flush=True)
    env = {k: v for k, v in os.environ.items() if k != TEST_REDIS and not k.startswith(("MUTANT_UNDER_TEST",))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    try:
        prepare_copy(workdir)
        with own_redis(workdir) as redis_env:
            env.update(redis_env)
            deselected = baseline_failures(workdir, tests, env, args.baseline_runs) if args.baseline_runs else []
            for nodeid in deselected:
                print(f"  deselected (fails without any mutant): {nodeid}")
            base = (workdir / "pyproject.toml").read_text(encoding="utf-8")
            for attempt in range(1, MAX_FLAKY_RETRIES + 2):
                log_path = workdir / f"mutmut-{attempt}.log"
                write_config(workdir, base, modules, tests, deselected, args.timeout_multiplier, args.type_check)
                started = time.monotonic()
                print(f"running mutmut with {args.max_children} worker(s); progress in {log_path}", flush=True)
                with open(log_path, "w", encoding="utf-8") as log:
                    run = mutmut(workdir, env, "run", "--max-children", str(args.max_children), *args.mutants,
                                 log=log)
                print(f"mutmut run exited {run.returncode} after {time.monotonic() - started:.0f}s", flush=True)
                if run.returncode == 0:
                    break
                text = log_path.read_text(encoding="utf-8", errors="replace")
                flaky = sorted(set(FAILED_LINE.findall(text)) - set(deselected))
                if not (flaky and ("failed to collect stats" in text or "Failed to run clean test" in text)
                        and attempt <= MAX_FLAKY_RETRIES):
                    print(text[-4000:])
                    return 2
                for nodeid in flaky:
                    print(f"  deselected (failed without any mutant, in mutmut's own clean run): {nodeid}")
                deselected = [*deselected, *flaky]
            results = collect_results(workdir, env, modules)
            unexplained, explained = triage(workdir, env, results)
            print()
            result_score = print_table(results)
            print(f"survivors: {sum(len(r.survivors) for r in results.values())}, explained "
                  f"{len(explained)} (devkit/mutation_explained.py), unexplained {len(unexplained)}")
            if unexplained:
                print(f"\nunexplained surviving mutants ({len(unexplained)}):\n")
                print("\n".join(unexplained))
            if args.report:
                args.report.write_text("\n".join([*unexplained, "", "# explained", *explained]), encoding="utf-8")
                print(f"diffs written to {args.report}")
            if args.fail_under is not None and result_score < args.fail_under:
                return 1
            return 0
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
