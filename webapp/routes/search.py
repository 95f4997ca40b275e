"""Search across inquiries, replies and notes; the history of one reference number; internal notes."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from webapp.auth import context, require_user
from webapp.rendering import render
from webapp.responses import redirect
from webapp.services.cases import refresh_before_reading
from webapp.services.queues import visible_queues
from webapp.services.search import case_history, run_search, write_note
from webapp.services.users import Actor
from webapp.vocabulary import STATES

router = APIRouter()


def _params(request: Request) -> dict[str, list[str]]:
    return {key: request.query_params.getlist(key) for key in request.query_params.keys()}


@router.get("/search", response_class=HTMLResponse, include_in_schema=False)
def search_page(request: Request, actor: Actor = Depends(require_user)) -> HTMLResponse:
    """The search form and what it found, in the person's queues."""
    ctx = context(request)
    refresh_before_reading(ctx.db)
    page = run_search(ctx.db, actor, ctx.vocabulary, _params(request))
    return render(request, "search.html", {"page": page, "my_queues": visible_queues(actor, ctx.vocabulary),
                                           "states": STATES})


@router.get("/api/search", tags=["search"])
def search_api(request: Request, actor: Actor = Depends(require_user)) -> JSONResponse:
    """Search (parameters q, sender, organisation, since, until, queue, state, page) as JSON."""
    ctx = context(request)
    refresh_before_reading(ctx.db)
    page = run_search(ctx.db, actor, ctx.vocabulary, _params(request))
    result = page.result
    body: dict[str, Any] = {
        "references": list(page.references), "notices": list(page.notices),
        "total": result.total if result else 0, "more": result.more if result else False,
        "hits": [{**asdict(hit), "received_at": hit.received_at.isoformat()} for hit in result.hits] if result else [],
    }
    return JSONResponse(body)


@router.get("/references/{reference:path}", response_class=HTMLResponse, include_in_schema=False)
def reference_page(request: Request, reference: str, actor: Actor = Depends(require_user)) -> HTMLResponse:
    """Every inquiry and reply about one registration, application or patent number, oldest first."""
    ctx = context(request)
    refresh_before_reading(ctx.db)
    value, entries = case_history(ctx.db, actor, reference)
    return render(request, "reference.html", {"reference": value, "entries": entries})


@router.post("/inquiries/{inquiry_id}/notes", include_in_schema=False)
def add_note(request: Request, inquiry_id: int, text: str = Form(..., max_length=20_000),
             actor: Actor = Depends(require_user)) -> Response:
    """Add an internal note to the case (staff only see it; never sent)."""
    write_note(context(request).db, actor, inquiry_id, text)
    return redirect(request, f"/inquiries/{inquiry_id}", text="Note added.")
