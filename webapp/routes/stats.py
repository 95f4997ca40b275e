"""The statistics page and the CSV download of each of its tables."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from pipeline.store.stats import table_csv
from webapp.auth import context, require_user
from webapp.rendering import render
from webapp.services.cases import refresh_before_reading
from webapp.services.stats import PERIODS, figures, one_table, recurrent
from webapp.services.users import Actor

router = APIRouter(include_in_schema=False)


@router.get("/stats", response_class=HTMLResponse)
def stats_page(request: Request, days: int = Query(30), actor: Actor = Depends(require_user)) -> HTMLResponse:
    """Volumes, times against the SLA, drafts and routing rules for the person's queues."""
    ctx = context(request)
    refresh_before_reading(ctx.db)
    tables, cases = figures(ctx.db, actor, ctx.sla, days)
    return render(request, "stats.html", {"tables": tables, "cases": cases, "days": days, "periods": PERIODS})


@router.get("/stats/{name}.csv")
def stats_csv(request: Request, name: str, days: int = Query(30), actor: Actor = Depends(require_user)) -> Response:
    """One table of the statistics page as CSV, every row."""
    if name == "recurrent_issues":
        table, _ = recurrent(context(request).db, actor, days)
    else:
        tables, _ = figures(context(request).db, actor, context(request).sla, days)
        table = one_table(tables, name)
    return Response(table_csv(table), media_type="text/csv; charset=utf-8", headers={
        "content-disposition": f'attachment; filename="{table.name}-{days}d.csv"'})


@router.get("/stats/recurrent", response_class=HTMLResponse)
def recurrent_page(request: Request, days: int = Query(30), actor: Actor = Depends(require_user)) -> HTMLResponse:
    """Recurrent issues: similar inquiries grouped within each topic, growing groups flagged."""
    ctx = context(request)
    refresh_before_reading(ctx.db)
    table, cases = recurrent(ctx.db, actor, days)
    return render(request, "stats.html", {"tables": [table], "cases": cases, "days": days, "periods": PERIODS})
