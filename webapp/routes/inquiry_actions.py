"""The inquiry screen's forms: reply edit and approval, discard, reassign, correct, handled, undo, take over.

Each form posts the case version it was shown with; a refused action shows the
page again with the reason and the person's input kept (409 when someone else
changed the case first or the case's state does not allow the action, 400 for a
bad value).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse, Response

from pipeline.errors import IllegalTransition
from webapp.auth import context, require_user
from webapp.errors import WebError, refused_move
from webapp.responses import redirect
from webapp.routes.inquiry import inquiry_page
from webapp.services import actions, replies
from webapp.services.actions import ActionResult
from webapp.services.queues import next_case
from webapp.services.users import Actor

router = APIRouter(include_in_schema=False)
_TEXT = 200_000


def _run(request: Request, actor: Actor, inquiry_id: int, call: Callable[[], ActionResult],
         kept: dict[str, Any]) -> Response:
    try:
        try:
            result = call()
        except IllegalTransition as exc:
            raise refused_move(exc) from exc
    except WebError as exc:
        if exc.status in (400, 409):
            return inquiry_page(request, actor, inquiry_id, error=exc, kept=kept, status=exc.status)
        raise
    if actor.can_work(result.queue):
        return redirect(request, f"/inquiries/{inquiry_id}", text=result.message)
    return redirect(request, "/queues", text=f"#{inquiry_id}: {result.message}",
                    extra={"undo": inquiry_id, "version": result.version})


def after_next(db: Any, actor: Actor, inquiry_id: int, done: Response) -> None:
    """Send a finished approval on to the next case of the same queue (it stays put when there is none)."""
    following = next_case(db, actor, inquiry_id)
    if following is not None:
        done.headers["location"] = f"/inquiries/{following}"


@router.post("/inquiries/{inquiry_id}/reply")
def save_reply(request: Request, inquiry_id: int, version: int = Form(...), suggestion_version: int = Form(...),
               subject: str = Form(..., max_length=1000), body: str = Form(..., max_length=_TEXT),
               do: str = Form("save", pattern="^(save|approve|approve_next)$"),
               actor: Actor = Depends(require_user)) -> Response:
    """Save the edited reply, or approve it as shown (delivered to the mailbox's Drafts or by SMTP);
    ``approve_next`` then opens the queue's next case."""
    ctx = context(request)
    if do in ("approve", "approve_next"):
        done = _run(request, actor, inquiry_id, lambda: replies.approve_reply(
            ctx.db, actor, inquiry_id, version, suggestion_version, subject=subject, body=body, replies=ctx.replies,
            hold_for=ctx.hold_for, deliverer=ctx.deliverer), {"subject": subject, "body": body})
        if do == "approve_next" and done.status_code == 303:
            after_next(ctx.db, actor, inquiry_id, done)
        return done
    return _run(request, actor, inquiry_id, lambda: replies.edit_reply(
        ctx.db, actor, inquiry_id, version, suggestion_version, subject=subject, body=body, replies=ctx.replies,
        hold_for=ctx.hold_for), {"subject": subject, "body": body})


@router.post("/inquiries/{inquiry_id}/discard")
def discard_reply(request: Request, inquiry_id: int, version: int = Form(...), suggestion_version: int = Form(...),
                  note: str = Form("", max_length=5000), actor: Actor = Depends(require_user)) -> Response:
    """Discard the suggested reply (the case stays open for a written answer or another action)."""
    ctx = context(request)
    return _run(request, actor, inquiry_id, lambda: replies.discard_reply(
        ctx.db, actor, inquiry_id, version, suggestion_version, note=note, replies=ctx.replies,
        hold_for=ctx.hold_for), {"note": note})


@router.post("/inquiries/{inquiry_id}/suggest")
def suggest(request: Request, inquiry_id: int, version: int = Form(...),
            actor: Actor = Depends(require_user)) -> Response:
    """Ask the templates for a reply on a case that has none."""
    ctx = context(request)
    return _run(request, actor, inquiry_id, lambda: replies.suggest_reply(
        ctx.db, actor, inquiry_id, version, replies=ctx.replies, hold_for=ctx.hold_for), {})


@router.post("/inquiries/{inquiry_id}/intents")
def pick_intent(request: Request, inquiry_id: int, version: int = Form(...), intent: str = Form(..., max_length=120),
                add: bool = Form(False), suggestion_version: int | None = Form(None),
                actor: Actor = Depends(require_user)) -> Response:
    """Draft the reply again for another intent, or add one more intent to answer (the previous draft is kept)."""
    ctx = context(request)
    return _run(request, actor, inquiry_id, lambda: replies.pick_intents(
        ctx.db, actor, inquiry_id, version, [intent], add=add, suggestion_version=suggestion_version,
        replies=ctx.replies, hold_for=ctx.hold_for), {})


@router.post("/inquiries/{inquiry_id}/restore-draft")
def restore_draft(request: Request, inquiry_id: int, version: int = Form(...),
                  actor: Actor = Depends(require_user)) -> Response:
    """Bring back the previous draft (the current one is kept aside in its turn)."""
    ctx = context(request)
    return _run(request, actor, inquiry_id, lambda: replies.restore_draft(
        ctx.db, actor, inquiry_id, version, replies=ctx.replies, hold_for=ctx.hold_for), {})


@router.post("/inquiries/{inquiry_id}/reassign")
def reassign(request: Request, inquiry_id: int, version: int = Form(...), queue: str = Form(..., max_length=64),
             note: str = Form("", max_length=5000), actor: Actor = Depends(require_user)) -> Response:
    """Send the case to another queue, with a note saying why."""
    ctx = context(request)
    return _run(request, actor, inquiry_id, lambda: actions.reassign(
        ctx.db, actor, inquiry_id, version, queue, note, vocabulary=ctx.vocabulary, hold_for=ctx.hold_for),
        {"queue": queue, "reassign_note": note})


@router.post("/inquiries/{inquiry_id}/correct")
def correct(request: Request, inquiry_id: int, version: int = Form(...), language: str = Form("", max_length=20),
            topic: str = Form("", max_length=64), actor: Actor = Depends(require_user)) -> Response:
    """Correct the language and/or topic (kept as labels for training)."""
    ctx = context(request)
    return _run(request, actor, inquiry_id, lambda: actions.correct(
        ctx.db, actor, inquiry_id, version, language=language, topic=topic, vocabulary=ctx.vocabulary,
        hold_for=ctx.hold_for), {"language": language, "topic": topic})


@router.post("/inquiries/{inquiry_id}/handled")
def handled(request: Request, inquiry_id: int, version: int = Form(...), note: str = Form("", max_length=5000),
            actor: Actor = Depends(require_user)) -> Response:
    """Close the case without a reply."""
    ctx = context(request)
    return _run(request, actor, inquiry_id, lambda: actions.mark_handled(
        ctx.db, actor, inquiry_id, version, note, hold_for=ctx.hold_for), {"handled_note": note})


@router.post("/inquiries/{inquiry_id}/undo")
def undo(request: Request, inquiry_id: int, version: int = Form(...), actor: Actor = Depends(require_user)) -> Response:
    """Undo the last action on the case."""
    ctx = context(request)
    return _run(request, actor, inquiry_id, lambda: actions.undo_last(
        ctx.db, actor, inquiry_id, version, hold_for=ctx.hold_for,
        undo_reply=partial(replies.undo_reply, replies=ctx.replies)), {})


@router.post("/inquiries/{inquiry_id}/take-over")
def take_over(request: Request, inquiry_id: int, actor: Actor = Depends(require_user)) -> Response:
    """Take the case from whoever holds it."""
    ctx = context(request)
    return _run(request, actor, inquiry_id, lambda: actions.take_over(
        ctx.db, actor, inquiry_id, hold_for=ctx.hold_for), {})


@router.post("/inquiries/{inquiry_id}/start")
def start_working(request: Request, inquiry_id: int, actor: Actor = Depends(require_user)) -> Response:
    """Hold the case to work on it (opening a case holds nothing)."""
    ctx = context(request)
    return _run(request, actor, inquiry_id, lambda: actions.start_working(
        ctx.db, actor, inquiry_id, hold_for=ctx.hold_for), {})


@router.post("/inquiries/{inquiry_id}/viewing")
def keep_viewing(request: Request, inquiry_id: int, actor: Actor = Depends(require_user)) -> JSONResponse:
    """Renew the marker that the page is open (called by the page's script; holds nothing)."""
    actions.keep_viewing(context(request).db, actor, inquiry_id)
    return JSONResponse({"viewing": True})


@router.post("/inquiries/{inquiry_id}/hold")
def keep_hold(request: Request, inquiry_id: int, actor: Actor = Depends(require_user)) -> JSONResponse:
    """Keep holding the case while its page is open (called by the page's script)."""
    ctx = context(request)
    until = actions.keep_hold(ctx.db, actor, inquiry_id, hold_for=ctx.hold_for)
    return JSONResponse({"held": until is not None, "until": until.isoformat() if until else None})
