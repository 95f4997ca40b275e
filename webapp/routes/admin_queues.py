"""The admin screen for queues, per desk: counts, staff and response-time targets (SLA), which can be changed here."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from webapp.auth import context, require_admin
from webapp.errors import BadInput
from webapp.rendering import render
from webapp.responses import redirect
from webapp.services.admin_queues import queues_admin, update_sla
from webapp.services.cases import refresh_before_reading
from webapp.services.users import Actor

router = APIRouter(include_in_schema=False)


def _page(request: Request, *, error: str = "", status: int = 200) -> HTMLResponse:
    ctx = context(request)
    return render(request, "admin/queues.html", {
        "desks": queues_admin(ctx.db, ctx.vocabulary, ctx.sla), "error": error,
    }, status=status)


@router.get("/admin/queues", response_class=HTMLResponse)
def queues_page(request: Request, actor: Actor = Depends(require_admin)) -> HTMLResponse:
    """Every queue with its counts, staff and target, under its desk."""
    refresh_before_reading(context(request).db)
    return _page(request)


@router.post("/admin/queues")
async def queues_change(request: Request, actor: Actor = Depends(require_admin)) -> Response:
    """One desk's new response-time targets, validated, written to that desk's SLA file."""
    ctx = context(request)
    form = await request.form()
    values = {key: value for key, value in form.items() if isinstance(value, str)}
    try:
        ctx.sla = update_sla(ctx.sla, values)
    except BadInput as exc:
        return _page(request, error=str(exc), status=exc.status)
    return redirect(request, "/admin/queues", text="response-time targets saved")
