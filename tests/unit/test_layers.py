"""Layers run one way: read every import (top-level, in functions, for type checking) with ``ast``.

``responders/`` and ``classifiers/`` need no database: they import no
SQLAlchemy and nothing of the store; the store imports nothing above it; and no
module imports itself back through others.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("pipeline", "classifiers", "responders", "webapp")
DATABASE = ("sqlalchemy", "alembic", "pipeline.store", "pipeline.runtime", "pipeline.ingest")
WIRING = ("pipeline.cli", "pipeline.commands", "pipeline.daemon", "pipeline.worker", "pipeline.rounds",
          "pipeline.checks")
ABOVE_THE_STORE = ("classifiers", "responders", "webapp", *WIRING)
# Still reading and writing the database inside classifiers/: they go when triage's own rounds move to the wiring.
CLASSIFIERS_WITH_DATABASE = {"classifiers/cli.py", "classifiers/service.py"}


def _files(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts)


def _module(path: Path) -> str:
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    return name.removesuffix(".__init__")


def imported(path: Path) -> Iterator[str]:
    """Every module a file imports, wherever the import statement is (names imported from a module included)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def offenders(package: str, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    """The files of ``package`` importing any of ``forbidden`` (or below), with what they import."""
    found: dict[str, list[str]] = {}
    for path in _files(package):
        bad = sorted({name for name in imported(path) if _under(name, forbidden)})
        if bad:
            found[path.relative_to(ROOT).as_posix()] = bad
    return found


def test_the_import_reader_sees_every_kind_of_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import sqlalchemy.orm\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                      "    from pipeline.store.models import Inquiry\n"
                      "def f():\n    from pipeline.store import replies\n")
    assert {"sqlalchemy.orm", "pipeline.store.models", "pipeline.store.replies"} <= set(imported(sample))


def test_responders_need_no_database() -> None:
    assert offenders("responders", DATABASE) == {}


def test_responders_import_nothing_above_them() -> None:
    assert offenders("responders", ("webapp", *WIRING)) == {}


def test_classifiers_need_no_database_except_the_files_still_to_move() -> None:
    found = offenders("classifiers", DATABASE)
    assert set(found) <= CLASSIFIERS_WITH_DATABASE, found


@pytest.mark.parametrize("package", ["pipeline/store", "pipeline/mail"])
def test_the_foundation_imports_nothing_above_it(package: str) -> None:
    assert offenders(package, ABOVE_THE_STORE) == {}


def test_no_import_circles() -> None:
    modules = {_module(path): path for package in PACKAGES for path in _files(package)}
    graph = {name: {m for m in imported(path) if m in modules and m != name} for name, path in modules.items()}
    circles: list[list[str]] = []
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    for start in graph:  # Tarjan's strongly connected components, iteratively
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        circles.append(sorted(component))
    assert circles == []
