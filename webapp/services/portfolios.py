"""Client portfolios for the account managers: the organisations that write, and one organisation's cases.

Staff see only the cases of their queues (admins every queue): an organisation
appears when it has cases there, and its page counts and lists only those. An
organisation with no case in the person's queues is not found (404), whether it
exists elsewhere or not, so the page tells nothing about other queues.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from sqlalchemy.orm import Session, sessionmaker

from pipeline.config import Settings
from pipeline.desks import all_desks, default_desk
from pipeline.mail.organisation import normalise_key
from pipeline.store.models import utcnow
from pipeline.store.portfolios import OrganisationSummary, Portfolio, Scope, organisations, portfolio
from webapp.errors import BadInput, NotFound
from webapp.services.users import Actor
from webapp.sla import Targets

PERIODS = (7, 30, 90, 365)
DEFAULT_DAYS = 30
SORTS = ("open", "cases", "complaints", "sla", "name")
MAX_FILTER_CHARS = 100
MAX_PAGE = 10_000


@dataclass(frozen=True)
class ClientFilters:
    """What the clients list shows."""

    days: int = DEFAULT_DAYS
    desk: str = ""
    sort: str = "open"
    q: str = ""
    page: int = 1

    def query(self, **changes: object) -> str:
        """The query string of these filters with some values changed (for links); defaults left out."""
        values: dict[str, object] = {"days": self.days, "desk": self.desk, "sort": self.sort, "q": self.q,
                                     "page": self.page}
        values.update(changes)
        defaults: dict[str, object] = {"days": DEFAULT_DAYS, "desk": "", "sort": "open", "q": "", "page": 1}
        return urlencode([(k, str(v)) for k, v in values.items() if v != defaults[k]])

    def href(self, **changes: object) -> str:
        """The list's address with these filters, some values changed."""
        query = self.query(**changes)
        return f"/clients?{query}" if query else "/clients"


@dataclass(frozen=True)
class ClientsPage:
    """One page of the clients list."""

    filters: ClientFilters
    rows: tuple[OrganisationSummary, ...]
    total: int
    pages: int
    desks: tuple[tuple[str, str], ...]  # (id, label); empty when the install has one desk


def desk_choices(settings: Settings) -> tuple[tuple[str, str], ...]:
    """The desks one may filter by, (id, label); none when there is only one desk."""
    desks = all_desks(settings)
    if len(desks) < 2:
        return ()
    return tuple((desk_id, desk.name or desk_id) for desk_id, desk in desks.items())


def _one(params: Mapping[str, list[str]], name: str) -> str:
    values = params.get(name, [])
    return values[-1] if values else ""


def _days(text: str) -> int:
    if not text:
        return DEFAULT_DAYS
    if not text.isdigit() or int(text) not in PERIODS:
        raise BadInput(f"days must be one of {', '.join(map(str, PERIODS))}")
    return int(text)


def _desk(text: str, settings: Settings) -> str:
    if text and text not in dict(desk_choices(settings)):
        raise BadInput(f"no desk {text[:40]!r}; known: {', '.join(d for d, _ in desk_choices(settings)) or 'none'}")
    return text


def read_filters(params: Mapping[str, list[str]], settings: Settings) -> ClientFilters:
    """The list's filters from query parameters; ``BadInput`` saying what is wrong."""
    sort = _one(params, "sort") or "open"
    if sort not in SORTS:
        raise BadInput(f"sort must be one of {', '.join(SORTS)}")
    q = _one(params, "q").strip().lower()
    if len(q) > MAX_FILTER_CHARS:
        raise BadInput(f"the filter may be at most {MAX_FILTER_CHARS} characters long")
    page_text = _one(params, "page") or "1"
    if not page_text.isdigit() or not 1 <= int(page_text) <= MAX_PAGE:
        raise BadInput(f"page must be a number from 1 to {MAX_PAGE}")
    return ClientFilters(days=_days(_one(params, "days")), desk=_desk(_one(params, "desk"), settings), sort=sort,
                         q=q, page=int(page_text))


def scope_for(actor: Actor, settings: Settings, desk: str = "") -> Scope:
    """The cases this person may see (admins: every queue), of one desk when given."""
    return Scope(queues=None if actor.is_admin else frozenset(actor.queues), desk=desk or None,
                 default_desk=default_desk(settings))


def _target(sla: Targets) -> Callable[[str], float]:
    """A queue's response-time target in hours, as the statistics take it."""
    return lambda queue: sla.target(queue).total_seconds() / 3600


def _sorted(rows: list[OrganisationSummary], sort: str) -> list[OrganisationSummary]:
    if sort == "name":
        return sorted(rows, key=lambda o: o.name)
    if sort == "cases":
        return sorted(rows, key=lambda o: (-o.cases, -o.open_cases, o.name))
    if sort == "complaints":
        return sorted(rows, key=lambda o: (-o.complaints, -o.open_cases, o.name))
    if sort == "sla":  # the worst first; nothing due last
        return sorted(rows, key=lambda o: (o.share_within_target is None, o.share_within_target or 0.0, o.name))
    return sorted(rows, key=lambda o: (-o.open_cases, -o.cases, o.name))


def client_list(db: sessionmaker[Session], actor: Actor, sla: Targets, settings: Settings,
                params: Mapping[str, list[str]], page_size: int = 50) -> ClientsPage:
    """The organisations with cases in the person's queues, filtered, sorted and cut into pages."""
    filters = read_filters(params, settings)
    now = utcnow()
    with db() as session:
        rows = organisations(session, now - timedelta(days=filters.days), now, now, _target(sla),
                             scope_for(actor, settings, filters.desk))
    if filters.q:
        rows = [o for o in rows if filters.q in o.key or filters.q in o.name.lower()]
    rows = _sorted(rows, filters.sort)
    size = max(1, page_size)
    pages = max(1, math.ceil(len(rows) / size))
    start = (filters.page - 1) * size
    return ClientsPage(filters, tuple(rows[start:start + size]), len(rows), pages, desk_choices(settings))


def canonical_key(text: str) -> str:
    """The organisation key an address bar names, or ``NotFound`` (an odd string never reaches the database)."""
    key = normalise_key(text)
    if key is None:
        raise NotFound("no such client organisation")
    return key


def client_portfolio(db: sessionmaker[Session], actor: Actor, sla: Targets, settings: Settings, key: str,
                     params: Mapping[str, list[str]]) -> tuple[Portfolio, ClientFilters]:
    """One organisation's portfolio in the person's queues; ``NotFound`` when it has no case there."""
    filters = read_filters({k: v for k, v in params.items() if k in ("days", "desk")}, settings)
    now = utcnow()
    with db() as session:
        found = portfolio(session, key, now - timedelta(days=filters.days), now, now, _target(sla),
                          scope_for(actor, settings, filters.desk))
    if found is None:
        raise NotFound(f"no client organisation {key!r} in your queues")
    return found, filters
