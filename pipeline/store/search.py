"""Search over inquiries, replies and notes; the cases that mention a reference number; internal notes.

The full-text index (``search_text``: FTS5 on SQLite, a ``tsvector`` under a GIN
index on PostgreSQL) and ``reference_mentions`` are kept by triggers (migration
0010); this module only reads them. Free text becomes a list of ``Term`` (pure,
``parse_terms``): every term must match; a term is a word, a word ending in ``*``
(a prefix) or a quoted phrase. No character of the person's input reaches the
database's query syntax: terms are rebuilt from letters and digits only.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import ColumnElement, Select, bindparam, column, exists, func, literal_column, or_, select, table
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from pipeline.mail.organisation import normalise_key
from pipeline.store.models import Case, Inquiry, Message, Note, ReferenceMention, Suggestion, User, utcnow

MAX_QUERY_CHARS = 500
MAX_TERMS = 24
MAX_FILTER_CHARS = 200
COUNT_CAP = 1000
_WORD = re.compile(r"[^\W_]+")
_TOKEN = re.compile(r'"([^"]*)"|(\S+)')
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Words that are operators in one query syntax or another: taken as operators by nobody here, and dropped
# (a search for "renewal OR fee" means the person hoped for an operator, not the word "or").
_OPERATORS = frozenset({"AND", "OR", "NOT", "NEAR"})
_SEARCH_TEXT = table("search_text", column("inquiry_id"), column("document"))


class SearchQueryError(ValueError):
    """A search that cannot be run as given; the message says why, for the person who typed it."""


@dataclass(frozen=True)
class Term:
    """Words that must appear together in this order (one word mostly); ``prefix``: the last may go on."""

    words: tuple[str, ...]
    prefix: bool = False


@dataclass(frozen=True)
class SearchQuery:
    """What to look for; every given part must match. ``queues`` None: every queue (and untriaged mail)."""

    terms: tuple[Term, ...] = ()
    references: tuple[str, ...] = ()
    sender: str = ""
    organisation: str = ""
    since: date | None = None
    until: date | None = None
    queue: str = ""
    state: str = ""
    queues: frozenset[str] | None = None
    limit: int = 50
    offset: int = 0

    def is_empty(self) -> bool:
        """True when nothing at all narrows the search."""
        return not (self.terms or self.references or self.sender or self.organisation or self.since
                    or self.until or self.queue or self.state)


@dataclass(frozen=True)
class SearchHit:
    """One inquiry found."""

    inquiry_id: int
    subject: str
    sender_name: str
    sender_address: str
    queue: str | None
    topic: str | None
    state: str
    received_at: datetime
    excerpt: str


@dataclass(frozen=True)
class SearchResult:
    """One page of hits, newest first; ``total`` counts up to ``COUNT_CAP`` (``more``: there are more)."""

    hits: tuple[SearchHit, ...]
    total: int
    more: bool
    ignored: tuple[str, ...] = field(default_factory=tuple)


def clean_filter(value: str | None) -> str:
    """A filter value without control characters, trimmed, at most ``MAX_FILTER_CHARS`` long."""
    cleaned = _CONTROL.sub("", value or "").strip()
    if len(cleaned) > MAX_FILTER_CHARS:
        raise SearchQueryError(f"a filter may be at most {MAX_FILTER_CHARS} characters long")
    return cleaned


def parse_terms(text: str) -> tuple[tuple[Term, ...], tuple[str, ...]]:
    """The terms of free text, and the operator words it ignored; ``SearchQueryError`` when too long.

    ``"a b"`` is a phrase; an unbalanced quote is taken as an ordinary character;
    ``renew*`` a prefix; anything that is neither letter nor digit separates words.
    """
    if len(text) > MAX_QUERY_CHARS:
        raise SearchQueryError(f"the search is too long: at most {MAX_QUERY_CHARS} characters, "
                               f"this one has {len(text)}")
    terms: list[Term] = []
    ignored: list[str] = []
    for match in _TOKEN.finditer(text):
        phrase, token = match.group(1), match.group(2)
        if phrase is not None:
            words = tuple(w.lower() for w in _WORD.findall(phrase))
            if words:
                terms.append(Term(words))
            continue
        if token in _OPERATORS:
            ignored.append(token)
            continue
        words = tuple(w.lower() for w in _WORD.findall(token))
        if not words:
            continue
        prefix = token.endswith("*") and len(words[-1]) >= 2
        terms.append(Term(words, prefix))
    unique = tuple(dict.fromkeys(terms))
    if len(unique) > MAX_TERMS:
        raise SearchQueryError(f"too many words: at most {MAX_TERMS}, this search has {len(unique)}")
    return unique, tuple(ignored)


def fts5_query(terms: Sequence[Term]) -> str:
    """The terms as an SQLite FTS5 query (every term quoted: no operator can come from the input)."""
    return " ".join(f'"{" ".join(t.words)}"' + ("*" if t.prefix else "") for t in terms)


def tsquery(terms: Sequence[Term]) -> str:
    """The terms as a PostgreSQL ``to_tsquery`` text (letters and digits only, joined by operators)."""
    parts = []
    for term in terms:
        words = list(term.words)
        if term.prefix:
            words[-1] += ":*"
        parts.append(words[0] if len(words) == 1 else "(" + " <-> ".join(words) + ")")
    return " & ".join(parts)


def _match(session: Session, terms: Sequence[Term]) -> ColumnElement[bool]:
    if session.get_bind().dialect.name == "sqlite":
        return literal_column("search_text").op("MATCH")(bindparam("fts", fts5_query(terms)))
    return _SEARCH_TEXT.c.document.op("@@")(func.to_tsquery("simple", bindparam("fts", tsquery(terms))))


def _text_match(session: Session, terms: Sequence[Term]) -> ColumnElement[bool]:
    return Inquiry.id.in_(select(_SEARCH_TEXT.c.inquiry_id).where(_match(session, terms)))


def _text_match_each(terms: Sequence[Term]) -> ColumnElement[bool]:
    """SQLite: whether this inquiry's own text, one of its replies or notes matches, looked up by key."""
    match = literal_column("search_text").op("MATCH")(bindparam("fts", fts5_query(terms)))
    rowid: ColumnElement[int] = literal_column("search_text.rowid")
    return or_(
        exists(select(literal_column("1")).select_from(_SEARCH_TEXT).where(match, rowid == Inquiry.id * 4)),
        exists(select(literal_column("1")).select_from(_SEARCH_TEXT).where(
            match, rowid.in_(select(Suggestion.id * 4 + 1).where(Suggestion.inquiry_id == Inquiry.id)))),
        exists(select(literal_column("1")).select_from(_SEARCH_TEXT).where(
            match, rowid.in_(select(Note.id * 4 + 2).where(Note.inquiry_id == Inquiry.id)))),
    )


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


def _received() -> ColumnElement[datetime]:
    return func.coalesce(Case.received_at, Inquiry.created_at)


def _filtered(session: Session, query: SearchQuery, base: Select, text: str = "in") -> Select:  # type: ignore[type-arg]
    """``base`` narrowed to ``query``; ``text``: how words are matched (``in`` a list, ``each`` row by row,
    ``none``: the caller matched them already)."""
    # SQLite: the queue through an expression no index covers, so that the newest-first walk over the
    # inquiries drives the query (a queue's index would read every case of the queue, then sort them all).
    queue = func.coalesce(Case.queue, "") if session.get_bind().dialect.name == "sqlite" else Case.queue
    if query.queues is None:
        base = base.outerjoin(Case, Case.inquiry_id == Inquiry.id)
    else:
        base = base.join(Case, Case.inquiry_id == Inquiry.id).where(queue.in_(sorted(query.queues)))
    if query.terms and text == "in":
        base = base.where(_text_match(session, query.terms))
    elif query.terms and text == "each":
        base = base.where(_text_match_each(query.terms))
    for value in query.references:
        base = base.where(Inquiry.id.in_(select(ReferenceMention.inquiry_id)
                                         .where(ReferenceMention.value == value.upper())))
    if query.sender:
        sender = query.sender.lower()
        if "@" in sender:
            base = base.where(Message.sender_address == sender)
        else:
            base = base.where(or_(Message.sender_address.contains(sender, autoescape=True),
                                  func.lower(Message.sender_name).contains(sender, autoescape=True)))
    if query.organisation:
        domain = query.organisation.lower().lstrip("@")
        by_domain = Message.sender_address.endswith("@" + domain, autoescape=True)
        # An organisation's own domain also finds the mail of its subdomains (``inquiries.organisation``).
        base = base.where(or_(by_domain, Inquiry.organisation == domain) if normalise_key(domain) == domain
                          else by_domain)
    if query.since is not None:
        base = base.where(_received() >= _start_of(query.since))
    if query.until is not None:
        base = base.where(_received() < _start_of(query.until) + timedelta(days=1))
    if query.queue:
        base = base.where(queue == query.queue)
    if query.state:
        base = base.where(Inquiry.state == query.state)
    return base


def _text_first(session: Session, query: SearchQuery) -> tuple[list[int], int]:
    # SQLite: walk the full-text matches newest document first and stop once the page and the capped
    # count are known. Taking every match first (an IN list) costs the whole list for common words.
    rowid: ColumnElement[int] = literal_column("search_text.rowid")
    statement = _filtered(session, query, select(_SEARCH_TEXT.c.inquiry_id).select_from(_SEARCH_TEXT)
                          .join(Inquiry, Inquiry.id == _SEARCH_TEXT.c.inquiry_id)
                          .join(Message, Message.id == Inquiry.message_pk)
                          .where(_match(session, query.terms)), text="none").order_by(rowid.desc())
    seen: set[int] = set()
    page: list[int] = []
    result = session.execute(statement.execution_options(yield_per=256))
    try:
        for (inquiry_id,) in result:
            if inquiry_id in seen:
                continue
            seen.add(inquiry_id)
            if query.offset < len(seen) <= query.offset + query.limit:
                page.append(inquiry_id)
            if len(seen) > COUNT_CAP and len(seen) > query.offset + query.limit:
                break
    finally:
        result.close()
    return page, len(seen)


def _many_matches(session: Session, terms: Sequence[Term]) -> bool:
    """Whether the words alone match more documents than a few times the count cap (read up to that far)."""
    sample = select(_SEARCH_TEXT.c.inquiry_id).where(_match(session, terms)).limit(COUNT_CAP * 3).subquery()
    return (session.scalar(select(func.count()).select_from(sample)) or 0) >= COUNT_CAP * 3


def _filters_first(session: Session, query: SearchQuery) -> tuple[list[int], int]:
    text = "each" if session.get_bind().dialect.name == "sqlite" else "in"
    base = select(Inquiry.id).join(Message, Message.id == Inquiry.message_pk)
    if query.terms and text == "in" and _many_matches(session, query.terms):
        # Words found nearly everywhere: walk the inquiries newest first and stop past the cap, rather than
        # gather every match (PostgreSQL guesses a few hundred matches for any full-text query).
        if session.get_bind().dialect.name == "postgresql":
            # Left to itself it sorts every match by id; the walk down the primary key stops at the cap.
            session.execute(sql_text("SET LOCAL enable_sort = off"))
        walked = list(session.scalars(_filtered(session, query, base, text).order_by(Inquiry.id.desc())
                                      .limit(max(COUNT_CAP + 1, query.offset + query.limit))))
        return walked[query.offset:query.offset + query.limit], min(len(walked), COUNT_CAP + 1)
    # Up to the cap, every match is taken in whatever order is quickest and sorted here: asked to walk the
    # inquiries newest first, PostgreSQL guesses a few hundred full-text matches and may walk them all.
    found = list(session.scalars(_filtered(session, query, base, text).limit(COUNT_CAP + 1)))
    if len(found) <= COUNT_CAP:
        return sorted(found, reverse=True)[query.offset:query.offset + query.limit], len(found)
    ids = list(session.scalars(_filtered(session, query, base, text).order_by(Inquiry.id.desc())
                               .limit(query.limit).offset(query.offset)))
    return ids, len(found)


def search(session: Session, query: SearchQuery) -> SearchResult:
    """The inquiries matching every part of ``query`` that its queues allow, newest first."""
    if query.is_empty():
        return SearchResult((), 0, False)
    selective = bool(query.references) or "@" in query.sender
    if query.terms and not selective and session.get_bind().dialect.name == "sqlite":
        ids, total = _text_first(session, query)
    else:
        ids, total = _filters_first(session, query)
    rows = {row[0]: row for row in session.execute(
        select(Inquiry.id, Message.subject, Message.sender_name, Message.sender_address, Case.queue, Case.topic,
               Inquiry.state, _received(), func.substr(Inquiry.new_text, 1, 240))
        .join(Message, Message.id == Inquiry.message_pk).outerjoin(Case, Case.inquiry_id == Inquiry.id)
        .where(Inquiry.id.in_(ids))
    )} if ids else {}
    hits = tuple(
        SearchHit(inquiry_id=i, subject=subject or "", sender_name=name or "", sender_address=address or "",
                  queue=queue, topic=topic, state=state, received_at=received, excerpt=" ".join((excerpt or "").split()))
        for i, subject, name, address, queue, topic, state, received, excerpt in (rows[i] for i in ids if i in rows)
    )
    return SearchResult(hits, min(total, COUNT_CAP), total > COUNT_CAP)


# --- the history of one reference number -------------------------------------------------


@dataclass(frozen=True)
class HistoryEntry:
    """One inquiry or reply in a reference number's history."""

    kind: str  # "inquiry" or "reply"
    at: datetime
    inquiry_id: int
    thread_id: int
    subject: str
    who: str
    queue: str | None
    state: str
    excerpt: str


def reference_history(session: Session, value: str, queues: Collection[str] | None) -> list[HistoryEntry]:
    """Every inquiry mentioning ``value`` (normalised) and every reply to them, oldest first.

    ``queues`` None: all of them; else only the cases of these queues.
    """
    query = (
        select(Inquiry.id, Message.thread_id, Message.subject, Message.sender_name, Message.sender_address,
               Case.queue, Inquiry.state, _received(), func.substr(Inquiry.new_text, 1, 300))
        .select_from(ReferenceMention)
        .join(Inquiry, Inquiry.id == ReferenceMention.inquiry_id)
        .join(Message, Message.id == Inquiry.message_pk)
        .where(ReferenceMention.value == value.upper())
    )
    if queues is None:
        query = query.outerjoin(Case, Case.inquiry_id == Inquiry.id)
    else:
        query = query.join(Case, Case.inquiry_id == Inquiry.id).where(Case.queue.in_(sorted(queues)))
    entries: list[HistoryEntry] = []
    threads: dict[int, tuple[int, str | None]] = {}
    for inquiry_id, thread_id, subject, name, address, queue, state, received, excerpt in session.execute(query):
        threads[inquiry_id] = (thread_id, queue)
        entries.append(HistoryEntry("inquiry", received, inquiry_id, thread_id, subject or "",
                                    name or address or "", queue, state, " ".join((excerpt or "").split())))
    if threads:
        replies = session.execute(
            select(Suggestion.inquiry_id, Suggestion.subject, Suggestion.status, Suggestion.approved_by,
                   Suggestion.sent_at, Suggestion.approved_at, Suggestion.created_at,
                   func.substr(Suggestion.body_text, 1, 300))
            .where(Suggestion.inquiry_id.in_(sorted(threads)), Suggestion.kind == "reply",
                   Suggestion.status.in_(("approved", "sent")))
        )
        for inquiry_id, subject, status, approved_by, sent_at, approved_at, created_at, excerpt in replies:
            thread_id, queue = threads[inquiry_id]
            entries.append(HistoryEntry("reply", sent_at or approved_at or created_at, inquiry_id, thread_id,
                                        subject or "", approved_by or "", queue, status,
                                        " ".join((excerpt or "").split())))
    return sorted(entries, key=lambda e: (e.at, e.kind != "inquiry", e.inquiry_id))


# --- internal notes ----------------------------------------------------------------------


MAX_NOTE_CHARS = 5000


@dataclass(frozen=True)
class NoteView:
    """An internal note as shown: who wrote what, when."""

    id: int
    author: str
    text: str
    created_at: datetime


def add_note(session: Session, inquiry_id: int, user_id: int, text: str) -> Note:
    """Add an internal note to an inquiry (``SearchQueryError`` when empty or too long)."""
    cleaned = text.replace("\x00", "").strip()
    if not cleaned:
        raise SearchQueryError("a note needs some text")
    if len(cleaned) > MAX_NOTE_CHARS:
        raise SearchQueryError(f"a note may be at most {MAX_NOTE_CHARS} characters long")
    note = Note(inquiry_id=inquiry_id, user_id=user_id, text=cleaned, created_at=utcnow())
    session.add(note)
    session.flush()
    return note


def notes_for(session: Session, inquiry_id: int) -> list[NoteView]:
    """An inquiry's internal notes, oldest first."""
    rows = session.execute(
        select(Note.id, User.display_name, User.username, Note.text, Note.created_at)
        .join(User, User.id == Note.user_id).where(Note.inquiry_id == inquiry_id).order_by(Note.id)
    )
    return [NoteView(i, display or username, text, at) for i, display, username, text, at in rows]


__all__ = [
    "COUNT_CAP", "MAX_QUERY_CHARS", "HistoryEntry", "NoteView", "SearchHit", "SearchQuery", "SearchQueryError",
    "SearchResult", "Term", "add_note", "clean_filter", "fts5_query", "notes_for", "parse_terms",
    "reference_history", "search", "tsquery",
]
