"""API: one inquiry, and every action on it (each names the case version it is made on).

An action the inquiry's state does not allow is refused with 409 and nothing is done; ``actions`` in an
inquiry says which ones its state allows.
"""

from __future__ import annotations

from dataclasses import asdict
from functools import partial
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from webapp.api.schemas import (
    ActionOut,
    CorrectIn,
    DiscardIn,
    ErrorOut,
    HandledIn,
    HoldOut,
    InquiryOut,
    ReassignIn,
    ReplyIn,
    VersionIn,
)
from webapp.auth import context, require_user
from webapp.services import actions, replies
from webapp.services.actions import ActionResult
from webapp.services.cases import refresh_before_reading
from webapp.services.inquiry import open_inquiry
from webapp.services.users import Actor

router = APIRouter(prefix="/api/inquiries", tags=["inquiries"], responses={
    400: {"model": ErrorOut}, 401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut},
    409: {"model": ErrorOut}})


def _out(result: ActionResult) -> ActionOut:
    return ActionOut(inquiry_id=result.inquiry_id, version=result.version, queue=result.queue, message=result.message)


def _plain(value: Any) -> Any:
    return asdict(value) if value is not None else None


@router.get("/{inquiry_id}", response_model=InquiryOut)
def inquiry(request: Request, inquiry_id: int, actor: Actor = Depends(require_user)) -> InquiryOut:
    """Everything about an inquiry; reading it holds nothing (POST ./hold to hold the case)."""
    ctx = context(request)
    refresh_before_reading(ctx.db)
    view = open_inquiry(ctx.db, actor, inquiry_id, hold_for=ctx.hold_for)
    return InquiryOut(
        id=view.id, state=view.state, case=_plain(view.case), subject=view.subject,
        sender={"name": view.sender_name, "address": view.sender_address, "reply_to": view.reply_to,
                "organisation": view.organisation.key if view.organisation else None},
        recipients=list(view.recipients), sent_at=view.sent_at, received_at=view.received_at,
        message_id=view.message_id, new_text=view.new_text.text, quoted_text=view.quoted_text.text,
        signature=view.signature, forwarded_text=view.forwarded_text.text, has_html=view.has_html,
        entities=[e.as_json() for e in view.entities], attachments=[asdict(a) for a in view.attachments],
        thread=[asdict(t) for t in view.thread], decision=_plain(view.decision),
        labels=[asdict(lb) for lb in view.labels], hold=_plain(view.hold), suggestion=_plain(view.suggestion),
        history=[asdict(h) for h in view.history], actions=sorted(view.actions), undoable=view.undoable is not None,
    )


@router.post("/{inquiry_id}/reply", response_model=ActionOut)
def edit_reply(request: Request, inquiry_id: int, body: ReplyIn, actor: Actor = Depends(require_user)) -> ActionOut:
    """Save an edited reply."""
    ctx = context(request)
    return _out(replies.edit_reply(ctx.db, actor, inquiry_id, body.version, body.suggestion_version,
                                   subject=body.subject, body=body.body, replies=ctx.replies, hold_for=ctx.hold_for))


@router.post("/{inquiry_id}/approve", response_model=ActionOut)
def approve(request: Request, inquiry_id: int, body: ReplyIn, actor: Actor = Depends(require_user)) -> ActionOut:
    """Approve the reply as given; it is delivered to the mailbox's Drafts folder or by SMTP."""
    ctx = context(request)
    return _out(replies.approve_reply(ctx.db, actor, inquiry_id, body.version, body.suggestion_version,
                                      subject=body.subject, body=body.body, replies=ctx.replies,
                                      hold_for=ctx.hold_for, deliverer=ctx.deliverer))


@router.post("/{inquiry_id}/discard", response_model=ActionOut)
def discard(request: Request, inquiry_id: int, body: DiscardIn, actor: Actor = Depends(require_user)) -> ActionOut:
    """Discard the suggested reply."""
    ctx = context(request)
    return _out(replies.discard_reply(ctx.db, actor, inquiry_id, body.version, body.suggestion_version,
                                      note=body.note, replies=ctx.replies, hold_for=ctx.hold_for))


@router.post("/{inquiry_id}/suggest", response_model=ActionOut)
def suggest(request: Request, inquiry_id: int, body: VersionIn, actor: Actor = Depends(require_user)) -> ActionOut:
    """Ask the templates for a reply on a case that has none."""
    ctx = context(request)
    return _out(replies.suggest_reply(ctx.db, actor, inquiry_id, body.version, replies=ctx.replies,
                                      hold_for=ctx.hold_for))


class IntentsIn(VersionIn):
    """The intents a re-drafted reply answers, in order (``add``: answered after those of the current draft)."""

    intents: list[str] = Field(min_length=1, max_length=10)
    add: bool = False
    suggestion_version: int | None = None


@router.post("/{inquiry_id}/intents", response_model=ActionOut)
def pick_intents(request: Request, inquiry_id: int, body: IntentsIn, actor: Actor = Depends(require_user)) \
        -> ActionOut:
    """Draft the reply again for other intents; the previous draft is kept aside and the pick kept as a label."""
    ctx = context(request)
    return _out(replies.pick_intents(ctx.db, actor, inquiry_id, body.version, [i[:120] for i in body.intents],
                                     add=body.add, suggestion_version=body.suggestion_version,
                                     replies=ctx.replies, hold_for=ctx.hold_for))


@router.post("/{inquiry_id}/restore-draft", response_model=ActionOut)
def restore_draft(request: Request, inquiry_id: int, body: VersionIn, actor: Actor = Depends(require_user)) \
        -> ActionOut:
    """Bring back the previous draft."""
    ctx = context(request)
    return _out(replies.restore_draft(ctx.db, actor, inquiry_id, body.version, replies=ctx.replies,
                                      hold_for=ctx.hold_for))


@router.post("/{inquiry_id}/reassign", response_model=ActionOut)
def reassign(request: Request, inquiry_id: int, body: ReassignIn, actor: Actor = Depends(require_user)) -> ActionOut:
    """Move the case to another queue with a note."""
    ctx = context(request)
    return _out(actions.reassign(ctx.db, actor, inquiry_id, body.version, body.queue, body.note,
                                 vocabulary=ctx.vocabulary, hold_for=ctx.hold_for))


@router.post("/{inquiry_id}/correct", response_model=ActionOut)
def correct(request: Request, inquiry_id: int, body: CorrectIn, actor: Actor = Depends(require_user)) -> ActionOut:
    """Correct the language and/or topic (stored as labels with who and when)."""
    ctx = context(request)
    return _out(actions.correct(ctx.db, actor, inquiry_id, body.version, language=body.language, topic=body.topic,
                                vocabulary=ctx.vocabulary, hold_for=ctx.hold_for))


@router.post("/{inquiry_id}/handled", response_model=ActionOut)
def handled(request: Request, inquiry_id: int, body: HandledIn, actor: Actor = Depends(require_user)) -> ActionOut:
    """Close the case without a reply."""
    ctx = context(request)
    return _out(actions.mark_handled(ctx.db, actor, inquiry_id, body.version, body.note, hold_for=ctx.hold_for))


@router.post("/{inquiry_id}/undo", response_model=ActionOut)
def undo(request: Request, inquiry_id: int, body: VersionIn, actor: Actor = Depends(require_user)) -> ActionOut:
    """Undo the last action on the case."""
    ctx = context(request)
    return _out(actions.undo_last(ctx.db, actor, inquiry_id, body.version, hold_for=ctx.hold_for,
                                  undo_reply=partial(replies.undo_reply, replies=ctx.replies)))


@router.post("/{inquiry_id}/take-over", response_model=ActionOut)
def take_over(request: Request, inquiry_id: int, actor: Actor = Depends(require_user)) -> ActionOut:
    """Take the case's hold from whoever has it."""
    ctx = context(request)
    return _out(actions.take_over(ctx.db, actor, inquiry_id, hold_for=ctx.hold_for))


@router.post("/{inquiry_id}/hold", response_model=HoldOut)
def hold(request: Request, inquiry_id: int, actor: Actor = Depends(require_user)) -> HoldOut:
    """Keep holding the case (held is false when someone else holds it now)."""
    until = actions.keep_hold(context(request).db, actor, inquiry_id, hold_for=context(request).hold_for)
    return HoldOut(held=until is not None, until=until)
