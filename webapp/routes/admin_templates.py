"""The admin screen for reply templates: each with its status; edit with a preview; save what passes the checks."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from webapp.auth import context, require_admin
from webapp.context import load_replies
from webapp.rendering import render
from webapp.responses import redirect
from webapp.services.admin_templates import MAX_CHARS, check_template, list_templates, read_template, save_template
from webapp.services.users import Actor

router = APIRouter(include_in_schema=False)


@router.get("/admin/templates", response_class=HTMLResponse)
def templates_page(request: Request, actor: Actor = Depends(require_admin)) -> HTMLResponse:
    """Every template file and whether it can be used."""
    ctx = context(request)
    return render(request, "admin/templates.html", {
        "templates": list_templates(ctx.templates_dir, list(ctx.vocabulary.topics)), "directory": ctx.templates_dir,
    })


@router.get("/admin/templates/{language}/{name}", response_class=HTMLResponse)
def template_page(request: Request, language: str, name: str, actor: Actor = Depends(require_admin)) -> HTMLResponse:
    """One template in the editor."""
    ctx = context(request)
    return render(request, "admin/template_edit.html", {
        "language": language, "name": name, "text": read_template(ctx.templates_dir, language, name),
        "check": None, "saved": False,
    })


@router.post("/admin/templates/{language}/{name}", response_class=HTMLResponse)
def template_change(request: Request, language: str, name: str, text: str = Form(..., max_length=MAX_CHARS),
                    do: str = Form("preview", pattern="^(preview|save)$"),
                    actor: Actor = Depends(require_admin)) -> Response:
    """Preview the edited text, or save it when it passes the checks of ``triage check-config``."""
    ctx = context(request)
    topics = list(ctx.vocabulary.topics)
    text = text.replace("\r\n", "\n")
    if do == "save":
        check = save_template(ctx.templates_dir, language, name, text, topics)
        if not check.problems:
            ctx.replies = load_replies(ctx.settings)  # this process suggests with the new text at once
            if ctx.deliverer is not None and ctx.replies is not None:
                ctx.deliverer.replies = ctx.replies
            return redirect(request, f"/admin/templates/{language}/{name}",
                            text="template saved (other triage processes use it after a restart)")
    else:
        check = check_template(ctx.templates_dir, language, name, text, topics)
    return render(request, "admin/template_edit.html", {
        "language": language, "name": name, "text": text, "check": check, "saved": False,
    }, status=422 if check.problems else 200)
