"""The layout holds: every import under ``handler/`` points down the layers README draws, and none loops.

Imports are read from the source, inside functions too (casrelay imports its optional dependencies
lazily, and a lazy import can hide a cycle as well as an eager one can). The layers are parsed from
README's "Layers" block, so the drawing a newcomer reads and the rule this test enforces are one text.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HANDLER = ROOT / "handler"
#: Dependencies that s.yaml's pre-deploy step installs under handler/python: not casrelay's code.
VENDORED = HANDLER / "python"
MAX_MODULE_LINES = 320
MAX_FUNCTION_LINES = 60


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(HANDLER).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def handler_modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(HANDLER.rglob("*.py")) if VENDORED not in p.parents}


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The casrelay modules ``name`` imports, anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # ``from . import log`` imports the module casrelay.log, not the package's namespace.
            names = {f"{target}.{alias.name}" for alias in node.names}
            found |= names & modules.keys()
            if names - modules.keys():
                found.add(target)
    return {m for m in found if m in modules}


def import_graph() -> dict[str, set[str]]:
    modules = handler_modules()
    return {name: _imports(name, path, modules) - {name} for name, path in modules.items()}


def readme_layers() -> list[tuple[int, list[str]]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- layers -->\s*```text\n(.*?)```", text, re.DOTALL)
    assert block, "README has a ```text block after <!-- layers --> that lists the layers"
    layers = []
    for line in block.group(1).splitlines():
        fields = line.split()
        if fields and fields[0].isdigit():
            layers.append((int(fields[0]), fields[1:]))
    return layers


def layer_of(module: str, layers: list[tuple[int, list[str]]]) -> tuple[int, str] | None:
    """The rank and the room (the longest README name that is the module or a package above it)."""
    best: tuple[int, str] | None = None
    for rank, rooms in layers:
        for room in rooms:
            if (module == room or module.startswith(room + ".")) and (best is None or len(room) > len(best[1])):
                best = (rank, room)
    return best


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected set of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_under_handler_imports_another_in_a_loop() -> None:
    assert cycles(import_graph()) == []


def test_every_module_under_handler_stands_in_a_layer_that_readme_draws() -> None:
    layers = readme_layers()
    assert [m for m in handler_modules() if layer_of(m, layers) is None] == []


def test_every_import_under_handler_points_down_the_layers_or_stays_in_its_own_room() -> None:
    layers = readme_layers()
    wrong = []
    for source, targets in import_graph().items():
        source_layer = layer_of(source, layers)
        assert source_layer is not None
        for target in targets:
            target_layer = layer_of(target, layers)
            assert target_layer is not None
            if target_layer[1] != source_layer[1] and target_layer[0] >= source_layer[0]:
                wrong.append(f"{source} (layer {source_layer[0]}) imports {target} (layer {target_layer[0]})")
    assert wrong == []


def test_no_module_under_handler_is_longer_than_the_layout_allows() -> None:
    long = {name: n for name, path in handler_modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert long == {}


def test_no_function_under_handler_is_longer_than_the_layout_allows() -> None:
    long = {}
    for name, path in handler_modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long[f"{name}.{node.name}"] = length
    assert long == {}


# --- the checker itself ----------------------------------------------------------------------------


def test_the_cycle_finder_finds_a_loop_through_a_lazy_import() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_imports_inside_functions_and_relative_submodule_imports_are_read(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from . import log\n    from .ledger import guard, Ledger\n")
    modules = {"casrelay.log": source, "casrelay.ledger": source, "casrelay.ledger.guard": source,
               "casrelay.m": source}
    assert _imports("casrelay.m", source, modules) == {"casrelay.log", "casrelay.ledger.guard", "casrelay.ledger"}


@pytest.mark.parametrize(("module", "room"), [("casrelay.flows.place", "casrelay.flows"), ("index", "index"),
                                              ("casrelay.errors.values", "casrelay.errors")])
def test_a_module_belongs_to_the_deepest_room_readme_names(module: str, room: str) -> None:
    found = layer_of(module, readme_layers())
    assert found is not None and found[1] == room
