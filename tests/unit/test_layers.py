"""The layers contract, read from the source: imports run one way, and no package imports itself in a circle.

Top to bottom: the composition root (CLI, commands, rounds, daemon, check-config),
the review app, the responders, the classifiers, and the foundation (mail
parsing, sources, store, settings, errors and the rest of ``pipeline``). A
module may import its own layer and the layers below it. The classifiers and
the responders need no database. Every import counts, also one inside a
function or under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("pipeline", "classifiers", "responders", "webapp")

# (layer name, module prefixes), top first; "pipeline" below catches the rest of the foundation.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("wiring", ("pipeline.cli", "pipeline.commands", "pipeline.rounds", "pipeline.daemon", "pipeline.checks")),
    ("webapp", ("webapp",)),
    ("responders", ("responders",)),
    ("classifiers", ("classifiers",)),
    ("foundation", ("pipeline",)),
)
NO_DATABASE = ("sqlalchemy", "alembic", "pipeline.store", "pipeline.runtime", "psycopg")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found.extend((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)
    return found


def _layer(module: str) -> int | None:
    for index, (_, prefixes) in enumerate(LAYERS):
        if any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes):
            return index
    return None


def _sources() -> dict[str, Path]:
    return {_module_name(path): path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
            if "migrations" not in path.parts}


def layer_violations() -> list[str]:
    """Every import of a higher layer, as ``file:line: module -> imported``."""
    problems = []
    for module, path in _sources().items():
        own = _layer(module)
        assert own is not None, module
        for line, imported in _imports(path):
            target = _layer(imported)
            if target is not None and target < own:
                problems.append(f"{path.relative_to(ROOT)}:{line}: {LAYERS[own][0]} {module} imports "
                                f"{LAYERS[target][0]} {imported}")
    return sorted(set(problems))


def database_imports() -> list[str]:
    """Every import of the database by the classifiers or the responders."""
    problems = []
    for module, path in _sources().items():
        if not module.startswith(("classifiers", "responders")):
            continue
        for line, imported in _imports(path):
            if any(imported == banned or imported.startswith(banned + ".") for banned in NO_DATABASE):
                problems.append(f"{path.relative_to(ROOT)}:{line}: {module} imports {imported}")
    return sorted(set(problems))


def package_cycles() -> list[list[str]]:
    """Circles between subpackages (``webapp.services``, ``pipeline.store``...), found with every import."""
    sources = _sources()

    def unit(module: str) -> str:
        parts = module.split(".")
        return ".".join(parts[:2]) if len(parts) > 1 and (ROOT / parts[0] / parts[1]).is_dir() else module

    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in sources.items():
        for _, imported in _imports(path):
            if imported.split(".")[0] in PACKAGES:
                target = next((name for name in (imported, imported.rsplit(".", 1)[0]) if name in sources), None)
                if target is not None and unit(target) != unit(module):
                    graph[unit(module)].add(unit(target))
    return _cycles(graph)


def module_cycles() -> list[list[str]]:
    """Circles between modules, counting every import (a lazy import in a circle is still a circle)."""
    sources = _sources()
    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in sources.items():
        for _, name in _imports(path):
            if name in sources and name != module and not module.startswith(name + "."):
                graph[module].add(name)
    return _cycles(graph)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_imports_run_down_the_layers() -> None:
    assert layer_violations() == []


def test_classifiers_and_responders_need_no_database() -> None:
    assert database_imports() == []


def test_no_circles_between_subpackages() -> None:
    assert package_cycles() == []


def test_no_circles_between_modules() -> None:
    assert module_cycles() == []


@pytest.mark.parametrize("checker, planted, expected", [
    (layer_violations, ("pipeline/store/zz_planted.py", "from webapp.app import create_app\n"), "zz_planted"),
    (database_imports, ("classifiers/zz_planted.py", "from sqlalchemy import select\n"), "zz_planted"),
])
def test_the_contract_catches_a_planted_violation(checker, planted, expected, tmp_path, monkeypatch) -> None:
    """The checks are not vacuous: a copy of the tree with one bad import fails them."""
    import shutil

    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "migrations"))
    relative, source = planted
    (tmp_path / relative).write_text(source, encoding="utf-8")
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    assert any(expected in problem for problem in checker())
