"""The statistics page with its charts, the CSV download of each of its tables, and all of them as Excel."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from pipeline.desks import default_desk
from pipeline.store.stats import XLSX_MEDIA_TYPE, Table, table_csv, tables_xlsx
from webapp.auth import context, require_user
from webapp.charts import page_charts
from webapp.rendering import render
from webapp.security import DOWNLOAD_CSP
from webapp.services.cases import refresh_before_reading
from webapp.services.stats import PERIODS, figures, for_page, one_table, recurrent
from webapp.services.users import Actor

router = APIRouter(include_in_schema=False)


def _figures(request: Request, actor: Actor, days: int) -> tuple[list[Table], int]:
    ctx = context(request)
    return figures(ctx.db, actor, ctx.sla, days, default_desk(ctx.settings))


def _xlsx(tables: list[Table], filename: str) -> Response:
    return Response(tables_xlsx(tables), media_type=XLSX_MEDIA_TYPE, headers={
        "content-disposition": f'attachment; filename="{filename}"', "content-security-policy": DOWNLOAD_CSP})


@router.get("/stats", response_class=HTMLResponse)
def stats_page(request: Request, days: int = Query(30), actor: Actor = Depends(require_user)) -> HTMLResponse:
    """Volumes, times against the SLA, drafts and routing rules for the person's queues, with charts.

    The volume tables show the largest organisations only (the downloads have all of them).
    """
    ctx = context(request)
    refresh_before_reading(ctx.db)
    tables, cases = _figures(request, actor, days)
    shown, notes = for_page(tables)
    return render(request, "stats.html", {"tables": shown, "cases": cases, "days": days, "periods": PERIODS,
                                          "charts": page_charts(tables), "notes": notes})


@router.get("/stats.xlsx")
def stats_xlsx(request: Request, days: int = Query(30), table: str | None = Query(None),
               actor: Actor = Depends(require_user)) -> Response:
    """Every table of the statistics page (or the one named by ``table``) as one Excel workbook, every row."""
    refresh_before_reading(context(request).db)
    tables, _ = _figures(request, actor, days)
    if table is not None:
        tables = [one_table(tables, table)]
    return _xlsx(tables, f"stats-{table or 'all'}-{days}d.xlsx")


@router.get("/stats/{name}.csv")
def stats_csv(request: Request, name: str, days: int = Query(30), actor: Actor = Depends(require_user)) -> Response:
    """One table of the statistics page as CSV, every row."""
    if name == "recurrent_issues":
        table, _ = recurrent(context(request).db, actor, days)
    else:
        tables, _ = _figures(request, actor, days)
        table = one_table(tables, name)
    return Response(table_csv(table), media_type="text/csv; charset=utf-8", headers={
        "content-disposition": f'attachment; filename="{table.name}-{days}d.csv"'})


@router.get("/stats/recurrent", response_class=HTMLResponse)
def recurrent_page(request: Request, days: int = Query(30), actor: Actor = Depends(require_user)) -> HTMLResponse:
    """Recurrent issues: similar inquiries grouped within each topic, growing groups flagged."""
    ctx = context(request)
    refresh_before_reading(ctx.db)
    table, cases = recurrent(ctx.db, actor, days)
    return render(request, "stats.html", {"tables": [table], "cases": cases, "days": days, "periods": PERIODS,
                                          "charts": {}})


@router.get("/stats/recurrent.xlsx")
def recurrent_xlsx(request: Request, days: int = Query(30), actor: Actor = Depends(require_user)) -> Response:
    """The recurrent-issues table as an Excel workbook."""
    table, _ = recurrent(context(request).db, actor, days)
    return _xlsx([table], f"recurrent_issues-{days}d.xlsx")
