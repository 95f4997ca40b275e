"""Search and case history for the review app: the person's input checked, reference numbers normalised.

Reference numbers in the search text (``DM/212 345``, ``DM212345``, ``dm 212345``)
are read with the classifiers' entity extractor, so they find exactly what the
extractor found in the mail; the rest of the text is searched word by word.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.orm import Session, sessionmaker

from classifiers.entities import extract_entities
from pipeline.store.db import unit_of_work
from pipeline.store.search import (
    MAX_QUERY_CHARS,
    HistoryEntry,
    NoteView,
    SearchQuery,
    SearchQueryError,
    SearchResult,
    add_note,
    clean_filter,
    notes_for,
    parse_terms,
    reference_history,
    search,
)
from webapp.errors import BadInput
from webapp.services.access import check_access
from webapp.services.users import Actor
from webapp.vocabulary import STATES, Vocabulary

REFERENCE_KINDS = ("registration", "patent", "application")
PAGE_SIZE = 50
MAX_PAGE = 200


@dataclass(frozen=True)
class SearchForm:
    """What the person asked for, as typed (to fill the form again)."""

    q: str = ""
    sender: str = ""
    organisation: str = ""
    since: str = ""
    until: str = ""
    queue: str = ""
    state: str = ""
    page: int = 1


@dataclass(frozen=True)
class SearchPage:
    """A search as shown: the form, the references read from it, the result, notes for the person."""

    form: SearchForm
    references: tuple[str, ...] = ()
    result: SearchResult | None = None
    notices: tuple[str, ...] = field(default_factory=tuple)


def references_in(text: str) -> tuple[tuple[str, ...], str]:
    """The registration, patent and application numbers in ``text`` (normalised), and the text without them."""
    # Upper case, character for character (positions stay): people type "ep 1234567" as often as "EP1234567".
    upper = "".join(c.upper() if len(c.upper()) == 1 else c for c in text)
    found = [e for e in extract_entities(upper, "search", len(upper)) if e.kind in REFERENCE_KINDS]
    rest, last = [], 0
    for entity in found:
        rest += [text[last:entity.start], " "]
        last = entity.end
    rest.append(text[last:])
    return tuple(dict.fromkeys(e.value.upper() for e in found)), "".join(rest)


def normalise_reference(text: str) -> str:
    """The normalised form of one reference number as written anyhow; ``BadInput`` if it is not one."""
    found, rest = references_in(text.strip()[:100])
    if len(found) != 1 or rest.strip():
        raise BadInput(f"{text[:100]!r} is not a registration, application or patent number")
    return found[0]


def _date(value: str, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadInput(f"{name}: a date is written YYYY-MM-DD, not {value[:40]!r}") from None


def _one(params: Mapping[str, list[str]], key: str) -> str:
    values = params.get(key) or [""]
    return values[-1]


def read_form(params: Mapping[str, list[str]]) -> SearchForm:
    """The search form from query parameters (unknown ones are ignored); ``BadInput`` for malformed values."""
    q = _one(params, "q")
    if len(q) > MAX_QUERY_CHARS:
        raise BadInput(f"the search is too long: at most {MAX_QUERY_CHARS} characters, this one has {len(q)}")
    try:
        values = {key: clean_filter(_one(params, key)) for key in ("sender", "organisation", "since", "until",
                                                                    "queue", "state")}
    except SearchQueryError as exc:
        raise BadInput(str(exc)) from None
    page_text = _one(params, "page") or "1"
    if not page_text.isdigit() or not 1 <= int(page_text) <= MAX_PAGE:
        raise BadInput(f"page must be a number from 1 to {MAX_PAGE}")
    return SearchForm(q=q.replace("\x00", ""), page=int(page_text), **values)


def build_query(form: SearchForm, actor: Actor, vocabulary: Vocabulary) -> tuple[SearchQuery, tuple[str, ...]]:
    """The store's query for a form and a person (their queues only), and notices about ignored words."""
    references, rest = references_in(form.q)
    try:
        terms, ignored = parse_terms(rest)
    except SearchQueryError as exc:
        raise BadInput(str(exc)) from None
    if form.queue and form.queue not in vocabulary.queues:
        raise BadInput(f"no queue {form.queue!r}")
    if form.queue and not actor.can_work(form.queue):
        raise BadInput(f"the queue {form.queue!r} is not one of yours")
    if form.state and form.state not in STATES:
        raise BadInput(f"no state {form.state!r}; known: {', '.join(STATES)}")
    since, until = _date(form.since, "from"), _date(form.until, "until")
    if since and until and since > until:
        raise BadInput("the date range ends before it starts")
    notices = (f"ignored {', '.join(dict.fromkeys(ignored))}: every word must match",) if ignored else ()
    query = SearchQuery(
        terms=terms, references=references, sender=form.sender, organisation=form.organisation, since=since,
        until=until, queue=form.queue, state=form.state, queues=None if actor.is_admin else actor.queues,
        limit=PAGE_SIZE, offset=(form.page - 1) * PAGE_SIZE,
    )
    return query, notices


def run_search(db: sessionmaker[Session], actor: Actor, vocabulary: Vocabulary,
               params: Mapping[str, list[str]]) -> SearchPage:
    """The search page for these query parameters (an empty form finds nothing and says so)."""
    form = read_form(params)
    query, notices = build_query(form, actor, vocabulary)
    if query.is_empty():
        return SearchPage(form, notices=notices)
    with db() as session:
        result = search(session, query)
    return SearchPage(form, query.references, result, notices)


def case_history(db: sessionmaker[Session], actor: Actor, reference: str) -> tuple[str, list[HistoryEntry]]:
    """The normalised reference and every inquiry and reply about it that the person may see, oldest first."""
    value = normalise_reference(reference)
    with db() as session:
        return value, reference_history(session, value, None if actor.is_admin else actor.queues)


def write_note(db: sessionmaker[Session], actor: Actor, inquiry_id: int, text: str) -> None:
    """Add an internal note to a case the person may see."""
    with unit_of_work(db) as session:
        check_access(session, actor, inquiry_id)
        try:
            add_note(session, inquiry_id, actor.id, text)
        except SearchQueryError as exc:
            raise BadInput(str(exc)) from None


def case_notes(session: Session, inquiry_id: int) -> list[NoteView]:
    """A case's internal notes, oldest first."""
    return notes_for(session, inquiry_id)
