"""One inquiry as staff read it: headers, new text and quoted history, HTML, attachments, thread, decision, hold."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from pipeline.mail.entity import Entity
from pipeline.mail.organisation import Organisation, display_name
from pipeline.store.db import unit_of_work
from pipeline.store.decisions import StoredDecision, stored_decision
from pipeline.store.models import (
    AttachmentRecord,
    Case,
    CaseAction,
    Inquiry,
    Label,
    Message,
    RawBlob,
    User,
    utcnow,
)
from pipeline.store.replies import SuggestionInfo, current_suggestion, thread_replies
from responders.blanks import BLANK_PATTERN
from webapp.attachments import safe_content_type
from webapp.highlight import entity_spans
from webapp.services import gate
from webapp.services.access import check_access
from webapp.services.holds import HoldView, current_hold, mark_viewing, other_viewers
from webapp.services.suggestions import draft_intents, previous_draft
from webapp.services.users import Actor

HEADER_BYTES = 64 * 1024
THREAD_LIMIT = 100
HISTORY_LIMIT = 20
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class CaseView:
    """Where the case waits and what it is about now (after any correction or reassignment)."""

    queue: str
    topic: str
    language: str
    state: str
    is_open: bool
    urgent: bool
    complaint: bool
    version: int
    received_at: datetime
    queue_set_by: str | None
    labelled_by: str | None


# The inquiry page shows the stored decision as the store gives it.
DecisionView = StoredDecision


@dataclass(frozen=True)
class AttachmentView:
    """An attachment as listed (its bytes are fetched on download only)."""

    id: int
    filename: str
    content_type: str
    size: int
    oversized: bool


@dataclass(frozen=True)
class ThreadItem:
    """A message of the conversation, in or out."""

    direction: str
    at: datetime | None
    who: str
    subject: str
    state: str
    inquiry_id: int | None
    current: bool = False
    redacted: bool = False  # in a queue the viewer does not work on: only that it exists and when


REDACTED = "a message in another queue"


def _redacted(direction: str, at: datetime | None) -> ThreadItem:
    return ThreadItem(direction, at, "", REDACTED, "", None, redacted=True)


@dataclass(frozen=True)
class ActionView:
    """An action of staff on the case."""

    id: int
    action: str
    who: str
    at: datetime
    note: str
    undone: bool


@dataclass(frozen=True)
class LabelView:
    """A correction kept as training data."""

    field: str
    value: Any
    actor: str
    at: datetime


@dataclass(frozen=True)
class Text:
    """A text shown on the page, cut at the display limit."""

    text: str
    truncated: bool


@dataclass(frozen=True)
class InquiryView:
    """Everything the inquiry page shows."""

    id: int
    state: str
    case: CaseView | None
    subject: str
    sender_name: str
    sender_address: str | None
    reply_to: str | None
    recipients: tuple[str, ...]
    sent_at: datetime | None
    received_at: datetime
    message_id: str | None
    in_reply_to: str | None
    size: int
    automation: str | None
    header_block: str
    new_text: Text
    quoted_text: Text
    signature: str
    forwarded_text: Text
    entities: tuple[Entity, ...]
    has_html: bool
    attachments: tuple[AttachmentView, ...]
    thread: tuple[ThreadItem, ...]
    decision: DecisionView | None
    labels: tuple[LabelView, ...]
    hold: HoldView | None
    history: tuple[ActionView, ...]
    undoable: ActionView | None
    suggestion: SuggestionInfo | None
    thread_id: int = 0
    actions: frozenset[str] = frozenset()  # the case actions the inquiry's state allows (``gate.offered``)
    viewers: tuple[str, ...] = ()  # who else has the page open (nobody holds anything by looking)
    extra: dict[str, Any] = field(default_factory=dict)
    organisation: Organisation | None = None  # the sender's (its registrable domain); None for free mail


def _cut(text: str, limit: int) -> Text:
    return Text(text[:limit], len(text) > limit)


def _case_view(case: Case) -> CaseView:
    return CaseView(case.queue, case.topic, case.language, case.state, case.is_open, case.urgent, case.complaint,
                    case.version, case.received_at, case.queue_set_by, case.labelled_by)


def header_block(session: Session, raw_sha256: str) -> str:
    """The raw message's header block as text (read from the database without loading the whole message)."""
    head = session.scalar(select(func.substr(RawBlob.data, 1, HEADER_BYTES)).where(RawBlob.sha256 == raw_sha256))
    if head is None:
        return ""
    data = bytes(head)
    for separator in (b"\r\n\r\n", b"\n\n"):
        end = data.find(separator)
        if end != -1:
            data = data[:end]
            break
    return data.decode("utf-8", "replace").replace("\r\n", "\n")


def _thread(session: Session, message: Message, inquiry_id: int, actor: Actor) -> tuple[ThreadItem, ...]:
    """The conversation; entries of cases the viewer may not work on are redacted (admins see all)."""
    rows = session.execute(
        select(Message.sent_at, Message.created_at, Message.sender_name, Message.sender_address, Message.subject,
               Inquiry.id, Inquiry.state, Case.queue)
        .join(Inquiry, Inquiry.message_pk == Message.id)
        .outerjoin(Case, Case.inquiry_id == Inquiry.id)
        .where(Message.thread_id == message.thread_id)
        .order_by(Message.id).limit(THREAD_LIMIT)
    ).all()
    items = [
        ThreadItem("in", sent or created, name or address or "?", subject or "(no subject)", state, other_id,
                   other_id == inquiry_id)
        if other_id == inquiry_id or _may_see(actor, queue) else _redacted("in", sent or created)
        for sent, created, name, address, subject, other_id, state, queue in rows
    ]
    outs = thread_replies(session, message.thread_id)
    queues = dict(session.execute(select(Case.inquiry_id, Case.queue)
                                  .where(Case.inquiry_id.in_({out.inquiry_id for out in outs}))).all())
    items.extend(
        ThreadItem("out", out.sent_at or out.approved_at, f"{out.approved_by or 'staff'} → {out.to}", out.subject,
                   out.status, None)
        if _may_see(actor, queues.get(out.inquiry_id)) else _redacted("out", out.sent_at or out.approved_at)
        for out in outs
    )
    return tuple(sorted(items, key=lambda item: item.at or _EPOCH))


def _may_see(actor: Actor, queue: str | None) -> bool:
    return actor.is_admin or (queue is not None and actor.can_work(queue))


def _history(session: Session, inquiry_id: int) -> tuple[ActionView, ...]:
    rows = session.execute(
        select(CaseAction, User.display_name, User.username).join(User, User.id == CaseAction.user_id)
        .where(CaseAction.inquiry_id == inquiry_id).order_by(CaseAction.id.desc()).limit(HISTORY_LIMIT)
    ).all()
    return tuple(ActionView(a.id, a.action, display or username, a.at, a.note, a.undone_at is not None)
                 for a, display, username in rows)


def open_inquiry(db: sessionmaker[Session], actor: Actor, inquiry_id: int, *, hold_for: timedelta | None = None,
                 max_text_chars: int = 100_000, viewing: bool = True) -> InquiryView:
    """The inquiry page's content; looking takes no hold, it only marks the person as viewing (``viewing``).

    ``hold_for`` is not used any more (kept so callers need not change).
    """
    now = utcnow()
    with db() as session:
        _, case = check_access(session, actor, inquiry_id)
    if case is not None and viewing:
        with unit_of_work(db) as session:
            mark_viewing(session, inquiry_id, actor, now)
    with db() as session:
        inquiry, case = check_access(session, actor, inquiry_id)
        message = session.get(Message, inquiry.message_pk)
        assert message is not None
        decision = stored_decision(session, inquiry_id)
        attachments = session.scalars(select(AttachmentRecord).where(AttachmentRecord.message_pk == message.id)
                                      .order_by(AttachmentRecord.position)).all()
        labels = session.scalars(select(Label).where(Label.inquiry_id == inquiry_id).order_by(Label.id)).all()
        history = _history(session, inquiry_id)
        last = history[0] if history and not history[0].undone else None
        undoable = last if last is not None and case is not None and _may_undo(session, actor, last, inquiry.state) \
            else None
        new_text = _cut(inquiry.new_text, max_text_chars)
        suggestion = current_suggestion(session, inquiry_id)
        extra: dict[str, Any] = {
            "draft_intents": draft_intents(session, suggestion.id) if suggestion is not None else [],
            "previous_draft": previous_draft(session, inquiry_id),
        }
        return InquiryView(
            id=inquiry.id, state=inquiry.state, case=_case_view(case) if case else None,
            subject=message.subject, sender_name=message.sender_name, sender_address=message.sender_address,
            reply_to=message.reply_to, recipients=tuple(message.recipients or ()), sent_at=message.sent_at,
            received_at=inquiry.created_at, message_id=message.message_id, in_reply_to=message.in_reply_to,
            size=message.size, automation=message.automation_reason,
            header_block=header_block(session, message.raw_sha256),
            new_text=new_text, quoted_text=_cut(inquiry.quoted_text, max_text_chars), signature=inquiry.signature,
            forwarded_text=_cut(inquiry.forwarded_text, max_text_chars),
            entities=entity_spans(new_text.text, max_text_chars),
            has_html=bool(inquiry.html and inquiry.html.strip()),
            attachments=tuple(AttachmentView(a.id, a.filename or f"attachment-{a.position + 1}",
                                             safe_content_type(a.content_type), a.size, a.oversized)
                              for a in attachments),
            thread=_thread(session, message, inquiry_id, actor),
            decision=decision,
            labels=tuple(LabelView(lb.field, lb.value, lb.actor, lb.created_at) for lb in labels),
            hold=current_hold(session, inquiry_id, actor, now), history=history, undoable=undoable,
            suggestion=suggestion, thread_id=message.thread_id,
            actions=gate.offered(inquiry.state) if case is not None else frozenset(), extra=extra,
            viewers=other_viewers(session, inquiry_id, actor, now) if case is not None else (),
            organisation=Organisation(inquiry.organisation, display_name(inquiry.organisation))
            if inquiry.organisation else None,
        )


@dataclass(frozen=True)
class DraftPart:
    """A piece of a draft's text for the preview: plain text, or a blank still to fill (``label`` set)."""

    text: str
    label: str | None = None


def draft_parts(text: str) -> tuple[DraftPart, ...]:
    """A draft's text cut into plain pieces and ``[[to fill: ...]]`` blanks, in order (for highlighting)."""
    parts: list[DraftPart] = []
    start = 0
    for match in BLANK_PATTERN.finditer(text or ""):
        if match.start() > start:
            parts.append(DraftPart(text[start:match.start()]))
        parts.append(DraftPart(match.group(0), match.group(1) or "?"))
        start = match.end()
    if start < len(text or ""):
        parts.append(DraftPart(text[start:]))
    return tuple(parts)


def undoable_actions() -> frozenset[str]:
    """The actions the undo button can take back."""
    from webapp.services.actions import UNDOABLE

    return UNDOABLE


def _may_undo(session: Session, actor: Actor, action: ActionView, state: str) -> bool:
    row = session.get(CaseAction, action.id)
    return (row is not None and (row.user_id == actor.id or actor.is_admin) and row.action in undoable_actions()
            and gate.undo_allowed(row.action, row.before, state))
