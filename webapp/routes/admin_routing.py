"""The admin screen for routing rules (read-only): the order they are tried in, conditions and outcome."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from webapp.auth import context, require_admin
from webapp.rendering import render
from webapp.services.routing_view import rule_rows
from webapp.services.users import Actor

router = APIRouter(include_in_schema=False)


@router.get("/admin/routing", response_class=HTMLResponse)
def routing_page(request: Request, actor: Actor = Depends(require_admin)) -> HTMLResponse:
    """The routing rules, read-only."""
    ctx = context(request)
    return render(request, "admin/routing.html", {"rules": rule_rows(ctx.rules),
                                                  "path": ctx.settings.triage.routing})
