"""deploy/build.py, s.yaml's pre-deploy step: the wheels under 3.10's markers, then hash-checked 3.10 bytecode."""

from __future__ import annotations

import importlib.util
import struct
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("casrelay_build", ROOT / "deploy" / "build.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BUILD = _load()
PYTHON310 = BUILD.find_python310(BUILD.candidates())


def _tree(root: Path) -> Path:
    (root / "casrelay").mkdir(parents=True)
    (root / "index.py").write_text("import casrelay.app\n")
    (root / "casrelay" / "__init__.py").write_text("")
    (root / "casrelay" / "app.py").write_text("VALUE = 1\n")
    (root / "python" / "vendored").mkdir(parents=True)
    (root / "python" / "vendored" / "__init__.py").write_text("X = 2\n")
    stale = root / "casrelay" / "__pycache__"
    stale.mkdir()
    (stale / "app.cpython-311.pyc").write_bytes(b"old")
    (stale / "app.cpython-310.pyc").write_bytes(b"kept until recompiled")
    return root


def _dist(target: Path, name: str, *requires: str) -> None:
    info = target / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    lines = ["Metadata-Version: 2.1", f"Name: {name}", "Version: 1.0", *(f"Requires-Dist: {r}" for r in requires)]
    (info / "METADATA").write_text("\n".join(lines) + "\n")


def test_pip_installs_the_requirements_as_cpython_3_10_manylinux_wheels_into_python():
    args = " ".join(BUILD.PIP_INSTALL)
    for flag in ("-t ./python", "--python-version 3.10", "--implementation cp", "--only-binary=:all:",
                 "--platform manylinux2014_x86_64", "--no-compile"):
        assert flag in args


def test_requirements_that_only_python_3_10_needs_are_found(tmp_path):
    # What pip run by 3.11 leaves out (aiohttp 3.x and redis declare these).
    _dist(tmp_path, "aiohttp", 'async-timeout<6.0,>=4.0; python_version < "3.11"', "yarl>=1.0", "multidict")
    _dist(tmp_path, "redis", 'async-timeout>=4.0.3; python_full_version < "3.11.3"')
    _dist(tmp_path, "yarl", 'idna; extra == "idna"', 'typing-extensions; python_version >= "3.13"')
    _dist(tmp_path, "multidict", 'pywin32; sys_platform == "win32"')
    assert BUILD.missing_requirements(tmp_path) == ["async-timeout<6.0,>=4.0", "async-timeout>=4.0.3"]


def test_it_finds_no_python_in_candidates_that_do_not_run(tmp_path):
    assert BUILD.find_python310([str(tmp_path / "missing-python"), "/bin/false"]) is None


def test_the_interpreter_named_by_the_environment_comes_first():
    assert BUILD.candidates({"CASRELAY_PYTHON310": "/opt/py310/bin/python3.10", "PATH": ""})[0] == \
        "/opt/py310/bin/python3.10"


def test_bytecode_of_other_pythons_is_removed(tmp_path):
    root = _tree(tmp_path)
    assert BUILD.remove_foreign_bytecode(root) == 1
    assert [p.name for p in (root / "casrelay" / "__pycache__").iterdir()] == ["app.cpython-310.pyc"]


def test_without_python_3_10_it_warns_and_lets_the_deployment_go_on(tmp_path, monkeypatch, capsys):
    root = _tree(tmp_path)
    monkeypatch.setattr(BUILD, "find_python310", lambda _options: None)
    assert BUILD.main(["build.py", str(root), "--compile-only"]) == 0
    assert "no Python 3.10 found" in capsys.readouterr().err


@pytest.mark.skipif(PYTHON310 is None, reason="no Python 3.10 on this machine")
def test_it_writes_hash_checked_3_10_bytecode_for_the_code_and_the_vendored_packages(tmp_path):
    root = _tree(tmp_path)
    assert BUILD.main(["build.py", str(root), "--compile-only"]) == 0
    for pyc in (root / "casrelay" / "__pycache__" / "app.cpython-310.pyc",
                root / "__pycache__" / "index.cpython-310.pyc",
                root / "python" / "vendored" / "__pycache__" / "__init__.cpython-310.pyc"):
        # PEP 552: the flags word after the magic number is 0b11 for a checked hash-based .pyc.
        assert struct.unpack("<I", pyc.read_bytes()[4:8])[0] == 0b11, pyc
    assert not list(root.rglob("*.cpython-311.pyc"))


@pytest.mark.skipif(PYTHON310 is None, reason="no Python 3.10 on this machine")
def test_code_that_python_3_10_cannot_compile_fails_the_step(tmp_path):
    root = _tree(tmp_path)
    # except* is Python 3.11 syntax: fine for a newer local Python, a SyntaxError in the runtime's 3.10.
    (root / "casrelay" / "new.py").write_text("try:\n    pass\nexcept* ValueError:\n    pass\n")
    assert BUILD.main(["build.py", str(root), "--compile-only"]) == 1
