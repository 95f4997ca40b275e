"""The admin screen for models: versions with their figures and confusion matrices, a comparison of two,
promotion and rollback (audited), and retraining in the background."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from webapp.auth import context, require_admin
from webapp.errors import BadInput, WebError
from webapp.rendering import render
from webapp.responses import redirect
from webapp.services import admin_models as service
from webapp.services.users import Actor

router = APIRouter(include_in_schema=False)


def _page(request: Request, *, comparison: dict | None = None, error: str = "", status: int = 200) -> HTMLResponse:  # type: ignore[type-arg]
    settings = context(request).settings
    rows = service.versions(settings)
    return render(request, "admin/models.html", {
        "rows": rows, "live": next((r.entry.version for r in rows if r.live), ""),
        "history": service.history(settings)[:20], "retrain": service.retrain_status(settings),
        "schedule": service.schedule(settings, context(request).db),
        "pictures": {r.entry.version: service.confusion_svg(r.entry.metrics.get("confusion") or {}) for r in rows},
        "comparison": comparison, "error": error,
    }, status=status)


@router.get("/admin/models", response_class=HTMLResponse)
def models_page(request: Request, actor: Actor = Depends(require_admin)) -> HTMLResponse:
    """Every stored version with its figures, the live one marked, and the training in progress."""
    return _page(request)


@router.get("/admin/models/compare", response_class=HTMLResponse)
def compare_page(request: Request, first: str = "", second: str = "", actor: Actor = Depends(require_admin)) -> HTMLResponse:
    """Two versions on the same held-out data, and the recent inquiries they would decide differently."""
    ctx = context(request)
    if not first or not second:
        return _page(request, error="choose two versions to compare", status=400)
    try:
        comparison = service.compare(ctx.settings, ctx.db, first, second)
    except WebError as exc:
        return _page(request, error=str(exc), status=exc.status)
    return _page(request, comparison=comparison)


@router.post("/admin/models")
async def models_change(request: Request, actor: Actor = Depends(require_admin)) -> Response:
    """Promote a version, roll back, or start retraining."""
    ctx = context(request)
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    op = form.get("op", "")
    try:
        if op == "promote":
            event = service.promote(ctx.settings, ctx.db, actor, form.get("version", ""), form.get("expected_live", ""),
                                    force=form.get("force") == "1")
            text = f"model {event['version']} is live" + (" (forced past the gate)" if event.get("forced") else "")
        elif op == "rollback":
            event = service.rollback(ctx.settings, ctx.db, actor, form.get("expected_live", ""))
            text = f"model {event['version']} is live again"
        elif op == "retrain":
            service.start_retraining(ctx.settings, ctx.db, actor)
            text = "training started; this page shows its progress"
        else:
            raise BadInput(f"unknown operation {op[:20]!r}")
    except WebError as exc:
        return _page(request, error=str(exc), status=exc.status)
    return redirect(request, "/admin/models", text=text)
