"""The inquiry screen: the page, the mail's HTML in a sandboxed frame, and attachment downloads."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from pipeline.store.models import utcnow
from webapp.attachments import content_disposition, served_content_type
from webapp.auth import context, require_user
from webapp.errors import WebError
from webapp.rendering import render
from webapp.sanitize import framed_document
from webapp.security import DOWNLOAD_CSP, MAIL_CSP
from webapp.services.cases import refresh_before_reading
from webapp.services.inquiry import draft_parts, open_inquiry
from webapp.services.mail_parts import attachment_download, inquiry_html
from webapp.services.queues import visible_queues
from webapp.services.search import case_notes
from webapp.services.users import Actor

router = APIRouter(include_in_schema=False)


def inquiry_page(request: Request, actor: Actor, inquiry_id: int, *, error: WebError | None = None,
                 kept: dict[str, Any] | None = None, status: int = 200) -> HTMLResponse:
    """The inquiry page; after a refused action, with the reason and the person's input kept."""
    ctx = context(request)
    view = open_inquiry(ctx.db, actor, inquiry_id, hold_for=ctx.hold_for)
    with ctx.db() as session:
        notes = case_notes(session, inquiry_id)
    return render(request, "inquiry.html", {
        "view": view, "error": str(error) if error else "", "kept": kept or {},
        "my_queues": visible_queues(actor, ctx.vocabulary), "topic_label": ctx.vocabulary.topic_label,
        "sla_status": ctx.sla.status(view.case.queue, view.case.received_at, utcnow()) if view.case else "",
        "sla_target": ctx.sla.target(view.case.queue) if view.case else None, "now": utcnow(),
        "notes": notes,
        "draft_parts": draft_parts,
    }, status=status)


@router.get("/inquiries/{inquiry_id}", response_class=HTMLResponse)
def inquiry(request: Request, inquiry_id: int, actor: Actor = Depends(require_user)) -> HTMLResponse:
    """One inquiry with everything needed to answer it; opening it holds nothing (others see who is looking)."""
    refresh_before_reading(context(request).db)
    return inquiry_page(request, actor, inquiry_id)


@router.get("/inquiries/{inquiry_id}/html")
def inquiry_html_frame(request: Request, inquiry_id: int, actor: Actor = Depends(require_user)) -> Response:
    """The mail's own HTML, sanitised, for a sandboxed frame: no script, nothing remote."""
    ctx = context(request)
    safe, language = inquiry_html(ctx.db, actor, inquiry_id, ctx.settings.ingest.max_text_chars * 5)
    return HTMLResponse(framed_document(safe.html, blocked_images=safe.blocked_images, language=language), headers={
        "content-security-policy": MAIL_CSP, "x-frame-options": "SAMEORIGIN",
    })


@router.get("/inquiries/{inquiry_id}/attachments/{attachment_id}")
def attachment(request: Request, inquiry_id: int, attachment_id: int, actor: Actor = Depends(require_user)) -> Response:
    """An attachment's bytes, as a download (never shown inline); only inert types keep their own type."""
    download = attachment_download(context(request).db, actor, inquiry_id, attachment_id)
    return Response(download.data, media_type=served_content_type(download.content_type), headers={
        "content-disposition": content_disposition(download.filename, f"attachment-{attachment_id}"),
        "content-security-policy": DOWNLOAD_CSP,
        "x-content-type-options": "nosniff",
    })
