"""Reply templates loaded and rendered in Jinja2's sandbox; a bad template is refused at load time, never used.

Each language has its own ``ImmutableSandboxedEnvironment`` rooted at
``<templates>/<language>/`` with ``StrictUndefined`` (plain text: no
autoescape); the optional HTML part is rendered by ``_layout.html.j2`` in an
environment that autoescapes. At load time every template is parsed, scanned
for names the documented variables do not have and for any reach into Python
internals (``_``-names, the ``attr`` filter, frame and code attributes), and
rendered once with sample values of every shape; a template that fails any of
these, or that uses a layout that fails, is refused with the reason.

A reply answering several intents is composed: each intent's template gives
its ``heading`` and ``body`` blocks (a section), and the language's
``_layout.j2`` puts one greeting, every section in order and one closing
around them (``sections`` variable).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, Template, TemplateNotFound, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup, escape

from classifiers.entities import Entity
from pipeline.errors import ConfigError, TemplateError
from responders.blanks import blank
from responders.casefacts import CaseFacts
from responders.catalogue import Catalogue, load_catalogue
from responders.facts import InquiryFacts
from responders.variables import TOP_LEVEL, build_variables

HTML_LAYOUT = "_layout.html.j2"
TEXT_LAYOUT = "_layout.j2"
Problem = tuple[str, str]

_UNSAFE_ATTRIBUTES = frozenset({
    "mro", "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code", "cr_await", "ag_frame", "ag_code",
    "f_globals", "f_locals", "f_builtins", "f_back", "f_code", "tb_frame", "tb_next", "func_globals",
    "func_code", "im_func", "im_self", "im_class", "format_map",
})
_GLOBALS = frozenset({"range", "dict", "namespace", "blank"})
_URL_SPLIT = re.compile(r"(https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]])")

_MONTHS = {
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
    "fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre"),
    "es": ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
           "noviembre", "diciembre"),
    "de": ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
           "November", "Dezember"),
}
_AND = {"en": "and", "fr": "et", "es": "y", "de": "und"}


# --- filters (pure, per language) ---------------------------------------------------------


def date_long(value: str, language: str) -> str:
    """An ISO date written out in a language: 15 March 2027, 1er mars 2027, 15 de marzo de 2027."""
    try:
        day = date.fromisoformat(str(value)[:10])
    except ValueError:
        return str(value)
    month = _MONTHS.get(language, _MONTHS["en"])[day.month - 1]
    if language == "fr":
        return f"{'1er' if day.day == 1 else day.day} {month} {day.year}"
    if language == "es":
        return f"{day.day} de {month} de {day.year}"
    if language == "de":
        return f"{day.day}. {month} {day.year}"
    return f"{day.day} {month} {day.year}"


def join_and(items: Iterable[Any], language: str) -> str:
    """Items as a phrase: "a", "a and b", "a, b and c" (et, y)."""
    values = [str(item) for item in items]
    if len(values) <= 1:
        return "".join(values)
    return f"{', '.join(values[:-1])} {_AND.get(language, 'and')} {values[-1]}"


def amount(value: str, language: str) -> str:
    """A normalised amount ("CHF 1234.50") written as a language writes it: CHF 1,234.50, 1 234,50 CHF, 1.234,50 CHF."""
    currency, _, number = str(value).partition(" ")
    whole, _, decimals = number.partition(".")
    if not whole.isdigit() or (decimals and not decimals.isdigit()):
        return str(value)
    groups = f"{int(whole):,}"
    if language == "fr":
        text = groups.replace(",", "\u202f") + (f",{decimals}" if decimals else "")
        return f"{text}\u00a0{currency}"
    if language in ("es", "de"):
        text = groups.replace(",", ".") + (f",{decimals}" if decimals else "")
        return f"{text} {currency}"
    return f"{currency} {groups}" + (f".{decimals}" if decimals else "")


def paragraphs(text: str) -> Markup:
    """Plain text as HTML paragraphs: escaped, blank lines between paragraphs, links made clickable."""
    pieces = _URL_SPLIT.split(text.strip())  # text, url, text, url, ..., text
    html = "".join(str(escape(piece)) if index % 2 == 0 else f'<a href="{escape(piece)}">{escape(piece)}</a>'
                   for index, piece in enumerate(pieces))
    blocks = (block for block in re.split(r"\n[ \t]*\n", html) if block.strip())
    return Markup("\n".join("<p>" + block.strip("\n").replace("\n", "<br>\n") + "</p>" for block in blocks))


def tidy_text(text: str) -> str:
    """Rendered text with trailing spaces cut, at most one blank line in a row, and one final newline."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    tidy: list[str] = []
    for line in lines:
        if not line and (not tidy or not tidy[-1]):
            continue
        tidy.append(line)
    while tidy and not tidy[-1]:
        tidy.pop()
    return "\n".join(tidy) + "\n"


# --- environments -------------------------------------------------------------------------

MAX_RANGE = 1000
MAX_LOOP_DEPTH = 2              # with MAX_RANGE, at most a million turns of a loop without output
MAX_RENDER_CHARS = 200_000      # a reply is a few thousand characters; anything near this is a runaway template
MAX_RENDER_SECONDS = 2.0


def bounded(chunks: Iterator[str], *, max_chars: int = MAX_RENDER_CHARS,
            max_seconds: float = MAX_RENDER_SECONDS) -> str:
    """The text of a rendering, stopped with ``TemplateError`` once it grows too long or takes too long."""
    deadline = time.monotonic() + max_seconds
    parts: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > max_chars:
            raise TemplateError(f"the template's output passed {max_chars:,} characters: stopped")
        if time.monotonic() > deadline:
            raise TemplateError(f"the template took more than {max_seconds:g} s to render: stopped")
        parts.append(chunk)
    return "".join(parts)


def _small_range(*args: int) -> range:
    """``range`` for templates, short enough that no loop can stall loading or rendering."""
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise OverflowError(f"range() in a reply template is limited to {MAX_RANGE} items")
    return numbers



def _environment(directory: Path, language: str | None, *, autoescape: bool) -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        loader=FileSystemLoader(str(directory), encoding="utf-8", followlinks=False),
        undefined=StrictUndefined,
        autoescape=autoescape,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.globals = {name: value for name, value in env.globals.items() if name in _GLOBALS}
    env.globals["range"] = _small_range
    env.globals["blank"] = blank
    lang = language or "en"
    env.filters["date_long"] = lambda value: date_long(value, lang)
    env.filters["join_and"] = lambda items: join_and(items, lang)
    env.filters["amount"] = lambda value: amount(value, lang)
    env.filters["paragraphs"] = paragraphs
    return env


# --- load-time checks ---------------------------------------------------------------------


def _unsafe(ast: nodes.Template) -> tuple[int, str] | None:
    for node in ast.find_all((nodes.Getattr, nodes.Getitem, nodes.Name, nodes.Filter, nodes.Include,
                              nodes.Extends, nodes.Import, nodes.FromImport)):
        if isinstance(node, nodes.Getattr) and (node.attr.startswith("_") or node.attr in _UNSAFE_ATTRIBUTES):
            return node.lineno, f"reaches into Python internals (.{node.attr})"
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and \
                isinstance(node.arg.value, str) and node.arg.value.startswith("_"):
            return node.lineno, f"reaches into Python internals ([{node.arg.value!r}])"
        if isinstance(node, nodes.Name) and node.name.startswith("_"):
            return node.lineno, f"uses the private name {node.name!r}"
        if isinstance(node, nodes.Filter) and node.name == "attr":
            return node.lineno, "uses the attr filter (it reaches attributes by name); write value.name instead"
        if isinstance(node, (nodes.Include, nodes.Extends, nodes.Import, nodes.FromImport)) and \
                not isinstance(node.template, nodes.Const):
            return node.lineno, "names another template with an expression; write its file name as a string"
    return None


def _deep_loop(ast: nodes.Template) -> tuple[int, str] | None:
    """A loop nested deeper than ``MAX_LOOP_DEPTH`` (the way a template could spin without printing)."""
    def depth(node: nodes.Node, level: int) -> tuple[int, str] | None:
        for child in node.iter_child_nodes():
            inner = level + 1 if isinstance(child, nodes.For) else level
            if inner > MAX_LOOP_DEPTH:
                return child.lineno, f"nests loops {inner} deep; at most {MAX_LOOP_DEPTH} are allowed"
            found = depth(child, inner)
            if found:
                return found
        return None

    return depth(ast, 0)


def _undeclared(ast: nodes.Template, known: Collection[str]) -> tuple[int, str] | None:
    unknown = sorted(meta.find_undeclared_variables(ast) - set(known))
    if not unknown:
        return None
    line = next((n.lineno for n in ast.find_all(nodes.Name) if n.name == unknown[0]), 1)
    return line, (f"uses undefined variable {unknown[0]!r}; known: {', '.join(sorted(TOP_LEVEL))}")


def _check_source(env: ImmutableSandboxedEnvironment, name: str, known: Collection[str]) \
        -> tuple[str | None, str | None, set[str]]:
    """(problem with its line, digest of the source, templates it references) of one template file."""
    assert env.loader is not None
    try:
        source, _, _ = env.loader.get_source(env, name)
    except TemplateNotFound:
        return "file not found", None, set()
    except UnicodeDecodeError as exc:
        return f"not UTF-8 text ({exc.reason} at byte {exc.start})", None, set()
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()
    try:
        ast = env.parse(source, name)
        env.compile(source, name)  # what parsing lets through, e.g. {% extends %} inside a block
    except TemplateSyntaxError as exc:
        return f"line {exc.lineno}: syntax error: {exc.message}", digest, set()
    except Exception as exc:  # anything else the compiler refuses is a problem of the file, never a crash
        return f"cannot be compiled: {type(exc).__name__}: {exc}", digest, set()
    for finding in (_unsafe(ast), _deep_loop(ast), _undeclared(ast, known)):
        if finding is not None:
            return f"line {finding[0]}: {finding[1]}", digest, set()
    return None, digest, {ref for ref in meta.find_referenced_templates(ast) if ref is not None}


class _LanguageChecker:
    """Checks the files of one language folder once each, following extends/include/import."""

    def __init__(self, env: ImmutableSandboxedEnvironment) -> None:
        self.env = env
        self.problems: dict[str, str | None] = {}
        self.digests: dict[str, str] = {}
        self.references: dict[str, set[str]] = {}

    def check(self, name: str) -> str | None:
        """The problem of a file or of any file it uses; None when all pass."""
        if name in self.problems:
            return self.problems[name]
        self.problems[name] = None  # a template that uses itself is stopped by Jinja at render time
        problem, digest, referenced = _check_source(self.env, name, TOP_LEVEL | _GLOBALS)
        self.references[name] = referenced
        if digest is not None:
            self.digests[name] = digest
        if problem is None:
            for ref in sorted(referenced):
                ref_problem = self.check(ref)
                if ref_problem is not None:
                    problem = f"uses {ref}, which was refused ({ref_problem})"
                    break
        self.problems[name] = problem
        return problem

    def digest(self, name: str) -> str:
        """A digest of a file and of every file it uses, so a stored suggestion names the exact text."""
        names, todo = set(), [name]
        while todo:
            current = todo.pop()
            if current not in names:
                names.add(current)
                todo.extend(self.references.get(current, ()))
        joined = "\n".join(f"{n}:{self.digests.get(n, '')}" for n in sorted(names))
        return hashlib.sha256(joined.encode("utf-8")).hexdigest()


def sample_facts(*, full: bool) -> InquiryFacts:
    """An inquiry to try every template on at load time: with every kind of value, or with none."""
    return InquiryFacts(
        inquiry_id=1042 if full else None,
        message_id="<sample@example.org>" if full else None,
        references=(),
        subject="Question about DM/212 345" if full else "",
        sender_name="Ana O'Neil-Åström" if full else "",
        sender_address="ana@example.org",
        reply_to=None,
        recipients=(),
        sent_at=datetime(2026, 3, 1, 9, 30, tzinfo=timezone.utc) if full else None,
        new_text="",
    )


def sample_case_facts(*, full: bool) -> tuple[CaseFacts, ...]:
    """A register record with every fact (or none) for the sample inquiries."""
    if not full:
        return ()
    return (CaseFacts(
        number="DM/212345", kind="registration", status="published", holder="Sample Holder AG",
        registration_number="DM/212345",
        filing_date=date(2022, 3, 1), registration_date=date(2022, 3, 15), expiry_date=date(2027, 3, 15),
        renewal_due=date(2027, 3, 15), renewed_on=date(2022, 3, 15), renewed_until=date(2027, 3, 15),
        fees_due="CHF 934.50", fees_paid="CHF 1234.50", paid_on=date(2026, 10, 3), credited_on=date(2026, 10, 6),
        publication_date=date(2022, 9, 16), bulletin="2022/37", deferred_until=date(2022, 9, 15),
        notice_date=date(2026, 9, 1), remedy_by=date(2026, 12, 1), as_of=date(2026, 11, 20)),)


def sample_entities(*, full: bool) -> tuple[Entity, ...]:
    """Entities of every kind, two of each (or none) for the sample inquiries."""
    if not full:
        return ()
    values = {
        "registration": ("DM/212345", "DM/089001"), "application": ("A1234567", "HA12345678"),
        "patent": ("EP3456789", "US10123456B2"), "reference": ("2024-ACME-17", "K-55/B"),
        "amount": ("CHF 1234.50", "EUR 300"), "date": ("2027-03-15", "2026-10-01"),
    }
    return tuple(Entity(kind, value, 0, 0) for kind, pair in values.items() for value in pair)


@dataclass(frozen=True)
class Section:
    """One intent's part of a composed reply: a heading naming the question, and the answer."""

    template_id: str
    heading: str
    text: str

    def as_variable(self) -> dict[str, str]:
        """The section as the layouts see it in ``sections``."""
        return {"id": self.template_id, "heading": self.heading, "text": self.text}


@dataclass(frozen=True)
class RenderedBody:
    """The rendered text of a reply and, when the catalogue asks for it, its HTML."""

    text: str
    html: str | None


@dataclass
class Library:
    """The catalogue with its templates compiled; only the templates that passed every check can be rendered."""

    catalogue: Catalogue
    problems: list[Problem] = field(default_factory=list)
    digests: dict[tuple[str, str], str] = field(default_factory=dict)
    _compiled: dict[tuple[str, str], Template] = field(default_factory=dict, repr=False)
    _layouts: dict[str, Template] = field(default_factory=dict, repr=False)
    _html: Template | None = field(default=None, repr=False)

    def usable(self, template_id: str, language: str) -> bool:
        """Whether a template can be rendered in a language."""
        return (template_id, language) in self._compiled

    def render(self, template_id: str, language: str, variables: Mapping[str, Any]) -> RenderedBody:
        """The text (and HTML) of a template for these variables; ``TemplateError`` if it cannot be rendered."""
        template = self._compiled.get((template_id, language))
        if template is None:
            why = self.catalogue.refused.get((template_id, language), "not in the catalogue")
            raise TemplateError(f"template {template_id!r} ({language}) cannot be used: {why}")
        try:
            text = tidy_text(bounded(template.generate(variables)))
        except Exception as exc:  # a template error at render time must not stop the pipeline
            raise TemplateError(f"template {template_id!r} ({language}) failed to render: "
                                f"{type(exc).__name__}: {exc}") from exc
        return RenderedBody(text, self.html_of(text, language, str(variables.get("inquiry", {}).get("subject", ""))))

    def render_section(self, template_id: str, language: str, variables: Mapping[str, Any]) -> Section:
        """One template's heading and answer (its ``heading`` and ``body`` blocks), without greeting or closing.

        ``TemplateError`` ("template X failed: ...") when it cannot be rendered.
        """
        template = self._compiled.get((template_id, language))
        if template is None:
            why = self.catalogue.refused.get((template_id, language), "not in the catalogue")
            raise TemplateError(f"template {template_id!r} ({language}) cannot be used: {why}")
        try:
            heading, text = _section_of(template, variables)
        except Exception as exc:  # a template error at render time must not stop the pipeline
            raise TemplateError(f"template {template_id!r} ({language}) failed: {type(exc).__name__}: {exc}") \
                from exc
        if not text.strip():
            raise TemplateError(f"template {template_id!r} ({language}) failed: it rendered no answer")
        spec = self.catalogue.by_id(template_id)
        return Section(template_id, heading or (spec.description if spec else template_id), text)

    def compose(self, language: str, variables: Mapping[str, Any]) -> RenderedBody:
        """The reply around ``variables["sections"]``: one greeting, each section in order, one closing."""
        layout = self._layouts.get(language)
        if layout is None:
            raise TemplateError(f"template '_layout.j2' ({language}) cannot be used: "
                                f"{self.catalogue.refused.get(('_layout', language), 'missing')}")
        try:
            text = tidy_text(bounded(layout.generate(variables)))
        except Exception as exc:  # a template error at render time must not stop the pipeline
            raise TemplateError(f"template '_layout.j2' ({language}) failed: {type(exc).__name__}: {exc}") from exc
        return RenderedBody(text, self.html_of(text, language, str(variables.get("inquiry", {}).get("subject", ""))))

    def html_of(self, text: str, language: str, title: str) -> str | None:
        """The HTML part for a plain-text body (None when the catalogue asks for plain text only)."""
        if self._html is None or not self.catalogue.html:
            return None
        try:
            return self._html.render(language=language, subject=title, body=text)
        except Exception as exc:  # the HTML layout passed its checks; fail loudly if it still breaks
            raise TemplateError(f"the HTML layout failed to render: {type(exc).__name__}: {exc}") from exc


def _section_of(template: Template, variables: Mapping[str, Any]) -> tuple[str, str]:
    """The rendered ``heading`` and ``body`` blocks of a template (heading on one line)."""
    context = template.new_context(dict(variables))
    heading = bounded(template.blocks["heading"](context)) if "heading" in template.blocks else ""
    context = template.new_context(dict(variables))
    body = bounded(template.blocks["body"](context)) if "body" in template.blocks else ""
    return " ".join(heading.split()), body.strip("\n")


def _try_render(template: Template, variables: Sequence[Mapping[str, Any]], *, blocks: bool = True) -> str | None:
    for values in variables:
        try:
            text = bounded(template.generate(values))
            _, section = _section_of(template, values) if blocks else ("", text)
        except Exception as exc:  # any failure on sample values refuses the template
            return f"fails with sample values: {type(exc).__name__}: {exc}"
        if not text.strip():
            return "renders to an empty text"
        if not section.strip():
            return "its body block renders to an empty text"
    return None


def _try_layout(layout: Template, samples: Sequence[Mapping[str, Any]]) -> str | None:
    """Why a language's layout cannot compose replies (it fails, or leaves out a section), or None."""
    for values in samples:
        for sections in (_sample_sections()[:1], _sample_sections()):
            try:
                text = bounded(layout.generate({**values, "sections": sections}))
            except Exception as exc:  # any failure on sample values refuses the layout
                return f"fails with sample values: {type(exc).__name__}: {exc}"
            if any(section["text"] not in text for section in sections):
                return "its body block does not print every section ({% for section in sections %})"
    return None


def _sample_sections() -> list[dict[str, str]]:
    return [{"id": "general", "heading": "One <question>", "text": "An answer {{ x }}"},
            {"id": "fees", "heading": "Another", "text": "Second\n\nanswer"}]


def load_library(directory: Path, topics: Collection[str] | None = None) -> Library:
    """Load the catalogue and every template; refuse (and list) each one that fails a check.

    Raises ``ConfigError`` only when the catalogue itself is unusable.
    """
    catalogue = load_catalogue(directory, topics)
    library = Library(catalogue)
    refused: dict[tuple[str, str], str] = {}
    for language in catalogue.languages:
        checker = _LanguageChecker(_environment(directory / language, language, autoescape=False))
        samples = [_sample_variables(catalogue, language, full) for full in (True, False)]
        for spec in catalogue.templates:
            name = f"{spec.id}.j2"
            problem = checker.check(name)
            if problem is None:
                template = checker.env.get_template(name)
                problem = _try_render(template, [{**s, "topic": spec.topic or "", "variant": spec.variant}
                                                 for s in samples])
            if problem is None:
                library._compiled[(spec.id, language)] = template
                library.digests[(spec.id, language)] = checker.digest(name)
            else:
                refused[(spec.id, language)] = problem
                library.problems.append((str(catalogue.path_of(spec.id, language)),
                                         f"template refused, never used: {problem}"))
        layout_problem = checker.check(TEXT_LAYOUT)
        if layout_problem is None:
            layout = checker.env.get_template(TEXT_LAYOUT)
            layout_problem = _try_layout(layout, samples)
            if layout_problem is None:
                library._layouts[language] = layout
        if layout_problem is not None:
            refused[("_layout", language)] = layout_problem
            library.problems.append((str(directory / language / TEXT_LAYOUT),
                                     f"refused, no reply in {language!r} can be composed: {layout_problem}"))
        for name in sorted(_partials_with_problems(checker.problems)):
            library.problems.append((str(directory / language / name), f"refused: {checker.problems[name]}"))
        library.problems.extend(_strays(directory / language, catalogue, language))
    library.catalogue = replace(catalogue, refused=refused)
    library._html = _load_html(directory, library.problems)
    return library


def _partials_with_problems(checked: Mapping[str, str | None]) -> list[str]:
    return [name for name, problem in checked.items() if name.startswith("_") and problem is not None]


def _strays(directory: Path, catalogue: Catalogue, language: str) -> list[Problem]:
    known = {f"{spec.id}.j2" for spec in catalogue.templates}
    if not directory.is_dir():
        return [(str(directory), f"no templates in language {language!r} (the folder is missing)")]
    return [(str(path), "not in the catalogue: never used (add it to catalogue.toml or delete it)")
            for path in sorted(directory.glob("*.j2")) if not path.name.startswith("_") and path.name not in known]


def _load_html(directory: Path, problems: list[Problem]) -> Template | None:
    if not (directory / HTML_LAYOUT).is_file():
        return None
    env = _environment(directory, None, autoescape=True)
    problem, _, referenced = _check_source(env, HTML_LAYOUT, {"language", "subject", "body"})
    if problem is None and referenced:
        problem = "the HTML layout must not use other templates"
    if problem is None:
        template = env.get_template(HTML_LAYOUT)
        problem = _try_render(template, [{"language": "en", "subject": "<b>x</b>", "body": "a\n\nb <c>"}], blocks=False)
        if problem is None:
            return template
    problems.append((str(directory / HTML_LAYOUT), f"refused, replies go out as plain text only: {problem}"))
    return None


def _sample_variables(catalogue: Catalogue, language: str, full: bool) -> dict[str, Any]:
    return build_variables(language=language, topic="general", variant="default", facts=sample_facts(full=full),
                           entities=sample_entities(full=full), catalogue=catalogue,
                           case_facts=sample_case_facts(full=full))


def library_problems(directory: Path, topics: Collection[str] | None = None) -> list[Problem]:
    """Every problem of a templates directory, as ``(where, message)``; the catalogue's own ones included."""
    try:
        return load_library(directory, topics).problems
    except ConfigError as exc:
        return list(exc.problems)
