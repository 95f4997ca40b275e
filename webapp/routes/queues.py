"""The queues screen: every queue one works, with counts; one queue's cases, filtered and sorted by age."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pipeline.store.search import MAX_QUERY_CHARS
from webapp.auth import context, require_user
from webapp.filters import AGES, SIGNALS, SORTS, STATUSES, parse_filters
from webapp.rendering import render
from webapp.services.cases import refresh_before_reading
from webapp.services.queues import by_desk, check_queue, queue_overview, queue_page
from webapp.services.users import Actor

router = APIRouter(include_in_schema=False)


@router.get("/queues", response_class=HTMLResponse)
def queues(request: Request, actor: Actor = Depends(require_user)) -> HTMLResponse:
    """Every queue the person works, with open, due-soon and overdue counts, under its desk when there are several."""
    ctx = context(request)
    refresh_before_reading(ctx.db)
    overview = queue_overview(ctx.db, actor, ctx.vocabulary, ctx.sla, ctx.counts)
    return render(request, "queues.html", {"groups": by_desk(overview, ctx.vocabulary)})


@router.get("/queues/{queue}", response_class=HTMLResponse)
def queue(request: Request, queue: str, actor: Actor = Depends(require_user)) -> Response:
    """One queue's cases, filtered by topic, language, status, age and signals, oldest first."""
    ctx = context(request)
    check_queue(actor, queue, ctx.vocabulary)
    params = {key: request.query_params.getlist(key) for key in request.query_params.keys()}
    if "q" in params:  # a search from the queue page: the search page, limited to this queue
        return RedirectResponse("/search?" + urlencode({"q": params["q"][-1][:MAX_QUERY_CHARS + 1], "queue": queue}),
                                status_code=303)
    filters = parse_filters(params, ctx.vocabulary)
    refresh_before_reading(ctx.db)
    overview = queue_overview(ctx.db, actor, ctx.vocabulary, ctx.sla, ctx.counts)
    page = queue_page(ctx.db, actor, queue, filters, vocabulary=ctx.vocabulary, sla=ctx.sla,
                      page_size=ctx.web.page_size, summary=next(s for s in overview if s.id == queue))
    return render(request, "queue.html", {
        "page": page, "overview": overview, "statuses": STATUSES, "ages": [a for a in AGES if a],
        "signals": SIGNALS, "sorts": SORTS,
    })
