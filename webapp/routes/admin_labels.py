"""The admin screen for active learning: what the live model is least sure about (then what staff corrected),
in ``triage label --next``'s order, each with the model's reading and a form to label it directly."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from webapp.auth import context, require_admin
from webapp.errors import WebError
from webapp.rendering import render
from webapp.responses import redirect
from webapp.services import labelling as service
from webapp.services.users import Actor

router = APIRouter(include_in_schema=False)


def _page(request: Request, *, inquiry_id: int | None = None, after: int | None = None, error: str = "",
          form: dict[str, Any] | None = None, status: int = 200) -> HTMLResponse:
    ctx = context(request)
    found = service.candidates(ctx.db)
    if inquiry_id is None:
        offered = service.next_after(found, after)
        inquiry_id = offered.inquiry_id if offered is not None else None
    current = service.reading(ctx.db, inquiry_id) if inquiry_id is not None else None
    taxonomy = service.taxonomy_of(ctx.settings)
    return render(request, "admin/labels.html", {
        "current": current, "candidates": [c for c in found if c.inquiry_id != inquiry_id][:service.LISTED],
        "topics": taxonomy.topics, "queues": taxonomy.queues, "languages": taxonomy.working_languages,
        "reasons": service.HOLD_REASONS, "error": error, "form": form or {},
    }, status=status)


def _id(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) < 19 else None


@router.get("/admin/labels", response_class=HTMLResponse)
def labels_page(request: Request, id: str | None = None, after: str | None = None,
                actor: Actor = Depends(require_admin)) -> HTMLResponse:
    """The next inquiry to label (or the one asked for), the model's reading of it, and the ones after it."""
    try:
        return _page(request, inquiry_id=_id(id), after=_id(after))
    except WebError as exc:
        return _page(request, error=str(exc), status=exc.status)


@router.post("/admin/labels/{inquiry_id}")
async def labels_give(request: Request, inquiry_id: int, actor: Actor = Depends(require_admin)) -> Response:
    """Store the labels given (checked against the taxonomy, audited) and go to the next inquiry."""
    ctx = context(request)
    received = await request.form()
    form: dict[str, Any] = {k: v for k, v in received.items() if isinstance(v, str) and k != "intents"}
    form["intents"] = [v for v in received.getlist("intents") if isinstance(v, str)]
    try:
        given = service.give(ctx.db, ctx.settings, actor, inquiry_id, form)
    except WebError as exc:
        try:
            return _page(request, inquiry_id=inquiry_id, error=str(exc), form=form, status=exc.status)
        except WebError:  # no such inquiry: the next one, with the message
            return _page(request, error=str(exc), status=exc.status)
    text = f"inquiry {inquiry_id} labelled: " + ", ".join(
        f"{k} {', '.join(v) if isinstance(v, list) else ('standard' if v is True else 'hold back' if v is False else v)}"
        for k, v in given.items())
    return redirect(request, f"/admin/labels?after={inquiry_id}", text=text)
