"""Prepare ./handler for upload: the runtime's wheels in ./python, then CPython 3.10 bytecode for everything.

s.yaml runs this as the fc3 resource's pre-deploy step, in ./handler: ``python3 ../deploy/build.py .``
Any Python 3 can run it. It works best with a Python 3.10 on the machine (the runtime's version), which it
looks for in ``CASRELAY_PYTHON310``, the interpreter running it, ``python3.10`` on PATH and pyenv's versions.

1. Wheels. ``pip install -r requirements.txt -t ./python`` for manylinux2014 x86_64, CPython 3.10, wheels only.
   ``--python-version`` makes pip pick 3.10 wheels, but pip still evaluates dependency markers for the Python
   that runs pip: run by 3.11, it leaves out ``async-timeout`` (aiohttp wants it on ``python_version < "3.11"``),
   and the CAS SDK then fails to import on FC. So pip runs under the 3.10 when there is one. Without one, this
   script installs with its own pip and then adds what the packages require under 3.10's markers.
2. Bytecode. Every new instance starts from the uploaded code, so without 3.10 ``.pyc`` files in it every
   cold start compiles every module it imports again (a ``.pyc`` written at run time, where the code
   directory is writable at all, helps only that instance). pip gets ``--no-compile`` (it would write
   bytecode for its own Python), and the 3.10 compiles the tree with ``--invalidation-mode checked-hash``
   (PEP 552): the zip fc3 uploads does not keep modification times exactly, and a hash-checked ``.pyc`` is
   valid whatever the times say but never used for a source that changed. ``.pyc`` files of other Pythons
   (from local test runs) are removed from the tree. Measured on this project's 2-core machine under load,
   ``import index`` plus ``index.initialize``: median 3262 ms without them, 1475 ms with them (9 runs each;
   fastest 1897 and 924 ms). Without a 3.10 the step warns and the deployment goes on without bytecode.

casrelay's own code must compile under 3.10 (a syntax error there is a broken deployment: the step fails); a
vendored file that does not compile only gets a warning.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from email.parser import Parser
from pathlib import Path

TARGET = (3, 10)
TAG = "cpython-310"
VENDORED = "python"
PIP_INSTALL = ["install", "--upgrade", "--no-compile", "--disable-pip-version-check",
               "--platform", "manylinux2014_x86_64", "--implementation", "cp", "--python-version", "3.10",
               "--only-binary=:all:", "-t", f"./{VENDORED}"]
#: The marker environment of FC's python3.10 runtime (Linux x86_64, CPython 3.10).
RUNTIME_MARKERS = {"python_version": "3.10", "python_full_version": "3.10.13", "implementation_name": "cpython",
                   "platform_python_implementation": "CPython", "sys_platform": "linux", "platform_system": "Linux",
                   "platform_machine": "x86_64", "os_name": "posix", "implementation_version": "3.10.13",
                   "extra": ""}
_FOREIGN_PYC = re.compile(r"\.cpython-(\d+)\.pyc$")


def candidates(env: dict[str, str] | None = None) -> list[str]:
    """Interpreters to try, most explicit first."""
    env = dict(os.environ) if env is None else env
    found: list[str] = []
    if env.get("CASRELAY_PYTHON310"):
        found.append(env["CASRELAY_PYTHON310"])
    if sys.version_info[:2] == TARGET:
        found.append(sys.executable)
    on_path = shutil.which("python3.10", path=env.get("PATH"))
    if on_path:
        found.append(on_path)
    pyenv_root = env.get("PYENV_ROOT") or os.path.join(os.path.expanduser("~"), ".pyenv")
    found.extend(sorted(glob.glob(os.path.join(pyenv_root, "versions", "3.10*", "bin", "python3.10")), reverse=True))
    return found


def _run(args: Sequence[str], cwd: Path | None = None, quiet: bool = False) -> int:
    # The interpreters are the deployer's own (CASRELAY_PYTHON310, PATH, pyenv, this one), run without a shell.
    try:
        return subprocess.run(list(args), cwd=cwd, check=False, timeout=1800,  # noqa: S603
                              capture_output=quiet).returncode
    except (OSError, subprocess.SubprocessError):
        return -1


def version_of(python: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run([python, "-c", "import sys; print(*sys.version_info[:2])"],  # noqa: S603
                             capture_output=True, text=True, timeout=60, check=True).stdout.split()
        return int(out[0]), int(out[1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def find_python310(options: Iterable[str]) -> str | None:
    for python in options:
        if version_of(python) == TARGET:
            return python
    return None


def has_pip(python: str) -> bool:
    return _run([python, "-m", "pip", "--version"], quiet=True) == 0


def pip_install(python: str, root: Path, requirements: Sequence[str]) -> int:
    return _run([python, "-m", "pip", *PIP_INSTALL, *requirements], cwd=root)


def _marker_true(marker: str) -> bool:
    try:
        from packaging.markers import Marker
    except ImportError:  # pip always ships it
        from pip._vendor.packaging.markers import Marker  # type: ignore[assignment]
    return bool(Marker(marker).evaluate(dict(RUNTIME_MARKERS)))


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def missing_requirements(target: Path) -> list[str]:
    """What the installed distributions require under the runtime's markers but is not installed."""
    metadata = {}
    for path in target.glob("*.dist-info/METADATA"):
        meta = Parser().parsestr(path.read_text(encoding="utf-8", errors="replace"), headersonly=True)
        metadata[_normal(meta.get("Name", ""))] = meta
    missing: dict[str, set[str]] = {}
    for meta in metadata.values():
        for requirement in meta.get_all("Requires-Dist") or []:
            spec, _, marker = requirement.partition(";")
            match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec)
            if not match or _normal(match.group(1)) in metadata:
                continue
            if marker.strip() and not _marker_true(marker.strip()):
                continue
            # Every requirer's specifier: pip installs a version that meets them all.
            missing.setdefault(_normal(match.group(1)), set()).add(re.sub(r"\[.*?\]", "", spec).replace(" ", ""))
    return sorted(spec for specs in missing.values() for spec in specs)


def install_wheels(root: Path, python310: str | None) -> int:
    requirements = ["-r", "requirements.txt"]
    if python310 is not None and has_pip(python310):
        return pip_install(python310, root, requirements)
    print(f"build: no pip under Python 3.10; installing with {sys.executable} and adding what the packages need "
          "under Python 3.10's markers", file=sys.stderr)
    status = pip_install(sys.executable, root, requirements)
    for _ in range(10):  # each round may bring new requirements of its own
        if status != 0:
            return status
        extra = missing_requirements(root / VENDORED)
        if not extra:
            return 0
        print(f"build: adding {' '.join(extra)} (required under Python 3.10)", file=sys.stderr)
        status = pip_install(sys.executable, root, extra)
    return status


def remove_foreign_bytecode(root: Path) -> int:
    """Delete ``.pyc`` files of other CPython versions: dead weight in the zip."""
    removed = 0
    for pyc in root.rglob("__pycache__/*.pyc"):
        match = _FOREIGN_PYC.search(pyc.name)
        if match and match.group(1) != "310":
            pyc.unlink()
            removed += 1
    return removed


def compile_tree(python: str, paths: Sequence[Path]) -> int:
    args = [python, "-m", "compileall", "-q", "-f", "-j", "0", "--invalidation-mode", "checked-hash"]
    return _run([*args, *map(str, paths)])


def compile_code(root: Path, python310: str | None) -> int:
    removed = remove_foreign_bytecode(root)
    if python310 is None:
        print("build: no Python 3.10 found (set CASRELAY_PYTHON310 to one); deploying without 3.10 bytecode, so "
              "each cold start compiles the code again (about 1.8 s more, measured). "
              f"Removed {removed} .pyc file(s) of other Pythons.", file=sys.stderr)
        return 0
    own = [p for p in (root / "index.py", root / "casrelay") if p.exists()]
    if own and compile_tree(python310, own) != 0:
        print("build: casrelay's own code does not compile under Python 3.10; not deploying it", file=sys.stderr)
        return 1
    vendored = root / VENDORED
    if vendored.is_dir() and compile_tree(python310, [vendored]) != 0:
        print("build: some vendored files do not compile under Python 3.10 (listed above); they compile at import",
              file=sys.stderr)
    count = sum(1 for _ in root.rglob(f"__pycache__/*.{TAG}.pyc"))
    print(f"build: {count} {TAG} .pyc file(s) under {root} by {python310}; removed {removed} of other Pythons")
    return 0


def main(argv: Sequence[str]) -> int:
    args = list(argv[1:])
    compile_only = "--compile-only" in args
    root = Path(next((a for a in args if not a.startswith("--")), ".")).resolve()
    python310 = find_python310(candidates())
    if not compile_only:
        status = install_wheels(root, python310)
        if status != 0:
            print(f"build: pip failed ({status})", file=sys.stderr)
            return status
    return compile_code(root, python310)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
