"""API: client organisations and one organisation's portfolio, as the /clients pages show them."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from webapp.api.schemas import ClientListOut, ClientOut, ErrorOut, PortfolioOut, TableOut
from webapp.auth import context, require_user
from webapp.services.cases import refresh_before_reading
from webapp.services.portfolios import canonical_key, client_list, client_portfolio
from webapp.services.users import Actor

router = APIRouter(prefix="/api", tags=["clients"], responses={
    400: {"model": ErrorOut}, 401: {"model": ErrorOut}, 404: {"model": ErrorOut}})


def _params(request: Request) -> dict[str, list[str]]:
    return {key: request.query_params.getlist(key) for key in request.query_params.keys()}


def _row(value: Any) -> dict[str, Any]:
    row = asdict(value)
    if "age" in row:
        row["age_seconds"] = int(row.pop("age").total_seconds())
    return row


@router.get("/clients", response_model=ClientListOut)
def clients(request: Request, actor: Actor = Depends(require_user),
            days: int | None = Query(None, description="the period: 7, 30 (default), 90 or 365 days"),
            desk: str | None = Query(None, max_length=64, description="only this desk's mail"),
            sort: str | None = Query(None, description="open (default), cases, complaints, sla or name"),
            q: str | None = Query(None, max_length=100, description="part of the organisation's domain"),
            page: str | None = Query(None)) -> ClientListOut:
    """The organisations with cases in the person's queues, with open cases, the period's cases and complaints."""
    ctx = context(request)
    refresh_before_reading(ctx.db)
    found = client_list(ctx.db, actor, ctx.sla, ctx.settings, _params(request), page_size=ctx.web.page_size)
    f = found.filters
    return ClientListOut(days=f.days, desk=f.desk or None, sort=f.sort, total=found.total, page=f.page,
                         pages=found.pages, clients=[
                             ClientOut(organisation=o.key, name=o.name, open_cases=o.open_cases, cases=o.cases,
                                       complaints=o.complaints, due=o.due, within_target=o.within_target,
                                       share_within_target=o.share_within_target,
                                       last_received_at=o.last_received_at)
                             for o in found.rows])


@router.get("/clients/{organisation:path}", response_model=PortfolioOut)
def client(request: Request, organisation: str, actor: Actor = Depends(require_user),
           days: int | None = Query(None, description="the period: 7, 30 (default), 90 or 365 days"),
           desk: str | None = Query(None, max_length=64, description="only this desk's mail")) -> PortfolioOut:
    """One organisation's portfolio in the person's queues (any spelling of its domain); 404 when it has none."""
    key = canonical_key(organisation)
    ctx = context(request)
    refresh_before_reading(ctx.db)
    p, f = client_portfolio(ctx.db, actor, ctx.sla, ctx.settings, key, _params(request))
    return PortfolioOut(
        organisation=p.key, name=p.name, days=f.days, desk=f.desk or None, since=p.since, until=p.until,
        open_total=p.open_total, cases=p.cases, complaints_total=p.complaints_total, all_time=p.all_time,
        open_cases=[_row(c) for c in p.open_cases],
        topics=TableOut(**p.topics.as_json()),  # type: ignore[arg-type]
        times=TableOut(**p.times.as_json()),  # type: ignore[arg-type]
        complaints=[_row(c) for c in p.complaints],
    )
