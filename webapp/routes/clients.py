"""The account managers' view: client organisations with their counts, and one organisation's portfolio."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from webapp.auth import context, require_user
from webapp.rendering import render
from webapp.services.cases import refresh_before_reading
from webapp.services.portfolios import (
    PERIODS,
    SORTS,
    canonical_key,
    client_list,
    client_portfolio,
    desk_choices,
)
from webapp.services.users import Actor

router = APIRouter(include_in_schema=False)


def _params(request: Request) -> dict[str, list[str]]:
    return {key: request.query_params.getlist(key) for key in request.query_params.keys()}


@router.get("/clients", response_class=HTMLResponse)
def clients(request: Request, actor: Actor = Depends(require_user)) -> HTMLResponse:
    """The organisations with cases in the person's queues: open cases, the period's cases, complaints, SLA."""
    ctx = context(request)
    refresh_before_reading(ctx.db)
    page = client_list(ctx.db, actor, ctx.sla, ctx.settings, _params(request), page_size=ctx.web.page_size)
    return render(request, "clients.html", {"page": page, "periods": PERIODS, "sorts": SORTS})


@router.get("/clients/{organisation:path}", response_class=HTMLResponse)
def client(request: Request, organisation: str, actor: Actor = Depends(require_user)) -> Response:
    """One organisation's portfolio: open cases, volumes by topic, times against the SLA, complaints."""
    key = canonical_key(organisation)
    if key != organisation:  # Mail.Example.CO.UK, bücher.de: the one address of the organisation
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(f"/clients/{quote(key)}{query}", status_code=303)
    ctx = context(request)
    refresh_before_reading(ctx.db)
    found, filters = client_portfolio(ctx.db, actor, ctx.sla, ctx.settings, key, _params(request))
    return render(request, "client.html", {"p": found, "filters": filters, "periods": PERIODS,
                                           "desks": dict(desk_choices(ctx.settings))})

