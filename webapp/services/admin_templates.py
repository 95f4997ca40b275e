"""Reply templates for admins: list with their status, edit with a preview, save only what passes the checks.

The checks are those of ``triage check-config`` (``responders.render``): the
edited file is tried in a copy of the templates folder, and it is saved only
when it adds no problem there.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import ConfigError
from responders.render import Library, load_library, sample_entities, sample_facts
from responders.variables import build_variables
from webapp.errors import BadInput, NotFound
from webapp.sla import write_atomically

_FILE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,100}(?:\.html)?\.j2$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(?:-[a-z]{2,4})?$")
SHARED = "shared"  # the "language" of files at the top of the folder (the HTML layout)
MAX_CHARS = 100_000


@dataclass(frozen=True)
class TemplateEntry:
    """One template file and whether it can be used."""

    language: str
    name: str
    template_id: str | None
    topic: str | None
    version: int | None
    usable: bool
    problem: str | None


@dataclass(frozen=True)
class TemplateCheck:
    """The outcome of checking an edited template: its problems and, when it has none, a preview."""

    problems: tuple[tuple[str, str], ...]
    preview: str | None
    preview_of: str | None


def _path(directory: Path, language: str, name: str) -> Path:
    if not _FILE.match(name):
        raise BadInput("a template file name is letters, digits, '_' and '-', ending in .j2")
    if language == SHARED:
        return directory / name
    if not _LANGUAGE.match(language):
        raise BadInput("unknown template language")
    return directory / language / name


def list_templates(directory: Path, topics: Collection[str]) -> list[TemplateEntry]:
    """Every template file, each with its catalogue entry and whether the checks let it be used."""
    try:
        library = load_library(directory, topics)
    except ConfigError as exc:
        raise BadInput("the template catalogue itself is invalid: " + "; ".join(m for _, m in exc.problems)) from exc
    catalogue = library.catalogue
    problems = {where: message for where, message in library.problems}
    entries = []
    for language in catalogue.languages:
        folder = directory / language
        for path in sorted(folder.glob("*.j2")) if folder.is_dir() else []:
            template_id = path.name[:-3]
            spec = catalogue.by_id(template_id)
            problem = problems.get(str(path))
            usable = library.usable(template_id, language) if spec else problem is None
            entries.append(TemplateEntry(language, path.name, template_id if spec else None,
                                         spec.topic if spec else None, spec.version if spec else None,
                                         usable, problem))
    for path in sorted(directory.glob("*.j2")):
        entries.append(TemplateEntry(SHARED, path.name, None, None, None, str(path) not in problems,
                                     problems.get(str(path))))
    return entries


def read_template(directory: Path, language: str, name: str) -> str:
    """The text of a template file; ``NotFound`` when there is none."""
    path = _path(directory, language, name)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise NotFound("no such template") from exc


def _preview(library: Library, language: str, name: str) -> tuple[str | None, str | None]:
    catalogue = library.catalogue
    if language == SHARED:
        language = catalogue.default_language
    template_id = name[:-3]
    spec = catalogue.by_id(template_id)
    candidates = [spec] if spec is not None else list(catalogue.templates)
    for candidate in candidates:
        if candidate is None or not library.usable(candidate.id, language):
            continue
        variables = build_variables(language=language, topic=candidate.topic or "general",
                                    variant=candidate.variant, facts=sample_facts(full=True),
                                    entities=sample_entities(full=True), catalogue=catalogue)
        body = library.render(candidate.id, language, variables)
        return body.text, f"{candidate.id} ({language})"
    return None, None


def check_template(directory: Path, language: str, name: str, text: str, topics: Collection[str]) -> TemplateCheck:
    """Try the edited text in a copy of the folder: the problems it adds, or a preview with sample values."""
    if len(text) > MAX_CHARS:
        raise BadInput(f"a template has at most {MAX_CHARS} characters")
    target = _path(directory, language, name)
    if not target.exists():
        raise NotFound("no such template (new files are added to the folder and the catalogue by hand)")
    baseline = {(where.replace(str(directory), "", 1), message)
                for where, message in _problems(directory, topics)}
    with tempfile.TemporaryDirectory(prefix="triage-template-") as scratch:
        copy = Path(scratch) / "templates"
        shutil.copytree(directory, copy)
        _path(copy, language, name).write_text(text, encoding="utf-8")
        try:
            library = load_library(copy, topics)
        except ConfigError as exc:
            return TemplateCheck(tuple(exc.problems), None, None)
        added = tuple(
            (where.replace(str(copy), str(directory), 1), message) for where, message in library.problems
            if (where.replace(str(copy), "", 1), message) not in baseline
        )
        if added:
            return TemplateCheck(added, None, None)
        preview, of = _preview(library, language, name)
        return TemplateCheck((), preview, of)


def _problems(directory: Path, topics: Collection[str]) -> list[tuple[str, str]]:
    try:
        return load_library(directory, topics).problems
    except ConfigError as exc:
        return list(exc.problems)


def save_template(directory: Path, language: str, name: str, text: str, topics: Collection[str]) -> TemplateCheck:
    """Save the edited text when it adds no problem; the check (and preview) either way."""
    checked = check_template(directory, language, name, text, topics)
    if not checked.problems:
        write_atomically(_path(directory, language, name), text)
    return checked
