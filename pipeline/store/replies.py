"""Every read and write of suggested replies and their deliveries, inside a caller's session (it owns the transaction).

Callers get frozen views (``SuggestionInfo``, ``DeliveryInfo``), never rows.
Every change of a reply's inquiry goes through ``lifecycle.move_inquiry``
with its action (suggest, edit, approve, unapprove, send, discard, route): a
transition the state machine refuses raises ``IllegalTransition`` before
anything is written. A change of a suggestion bumps its version and appends
its audit event in the same session. An automatic acknowledgement never
moves its inquiry: its events are logged with the state unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipeline.errors import ReplyError, StaleSuggestionError, StorageError
from pipeline.store import repository as repo
from pipeline.store.decisions import current_decision
from pipeline.store.followups import drafts_behind_thread
from pipeline.store.lifecycle import Action, InquiryState, check_transition, move_inquiry
from pipeline.store.models import (
    Delivery,
    FolderSyncState,
    Inquiry,
    Mailbox,
    Message,
    Sighting,
    Suggestion,
    utcnow,
)

SUGGESTED, EDITED, APPROVED, SENT, DISCARDED = "suggested", "edited", "approved", "sent", "discarded"
# A draft set aside when staff switched the reply to other templates: kept to be shown and restored, never sent.
REPLACED = "replaced"
OPEN_STATUSES = (SUGGESTED, EDITED, APPROVED)
PENDING, DONE, FAILED, UNCERTAIN, RETRY = "pending", "done", "failed", "uncertain", "retry"
REPLY, ACKNOWLEDGEMENT = "reply", "acknowledgement"


@dataclass(frozen=True)
class SuggestionInfo:
    """A suggested reply (or acknowledgement) as it is stored, with where its delivery stands."""

    id: int
    inquiry_id: int
    kind: str
    status: str
    version: int
    template_id: str | None
    template_version: int | None
    language: str
    subject: str
    body: str
    html: str | None
    to: str
    to_name: str
    mailbox: str | None
    message_id: str | None
    updated_at: datetime | None
    approved_by: str | None
    approved_at: datetime | None
    sent_at: datetime | None
    delivery_state: str | None
    last_error: str | None
    in_reply_to: str | None
    references: tuple[str, ...]

    @property
    def editable(self) -> bool:
        """Whether staff may still change the text (suggested or edited replies)."""
        return self.kind == REPLY and self.status in (SUGGESTED, EDITED)


@dataclass(frozen=True)
class DeliveryInfo:
    """One message on its way out: the exact bytes, where they go, and how far it got."""

    suggestion_id: int
    message_id: str
    mode: str
    mailbox: str
    folder: str | None
    recipient: str
    automatic: bool
    state: str
    raw: bytes
    attempts: int
    last_error: str | None
    updated_at: datetime


@dataclass(frozen=True)
class NewSuggestion:
    """What a new suggestion says and where it came from (a rendered template)."""

    template_id: str
    template_version: int
    template_digest: str
    language: str
    variables: dict[str, Any]
    subject: str
    text: str
    html: str | None
    to_address: str
    to_name: str
    in_reply_to: str | None
    references: tuple[str, ...]
    mailbox: str | None


# --- reads ----------------------------------------------------------------------------------


def _delivery_row(session: Session, suggestion_id: int) -> Delivery | None:
    return session.scalar(select(Delivery).where(Delivery.suggestion_id == suggestion_id))


def _info(session: Session, suggestion: Suggestion, delivery: Delivery | None = None) -> SuggestionInfo:
    delivery = delivery if delivery is not None else _delivery_row(session, suggestion.id)
    return SuggestionInfo(
        id=suggestion.id, inquiry_id=suggestion.inquiry_id, kind=suggestion.kind, status=suggestion.status,
        version=suggestion.version, template_id=suggestion.template_id,
        template_version=suggestion.template_version, language=suggestion.language, subject=suggestion.subject,
        body=suggestion.body_text, html=suggestion.body_html, to=suggestion.to_address, to_name=suggestion.to_name,
        mailbox=suggestion.mailbox, message_id=suggestion.message_id, updated_at=suggestion.updated_at,
        approved_by=suggestion.approved_by, approved_at=suggestion.approved_at, sent_at=suggestion.sent_at,
        delivery_state=delivery.state if delivery is not None else None,
        last_error=(delivery.last_error if delivery is not None else None) or suggestion.last_error,
        in_reply_to=suggestion.in_reply_to, references=tuple(suggestion.references or ()),
    )


def _delivery_info(delivery: Delivery) -> DeliveryInfo:
    return DeliveryInfo(
        suggestion_id=delivery.suggestion_id, message_id=delivery.message_id, mode=delivery.mode,
        mailbox=delivery.mailbox, folder=delivery.folder, recipient=delivery.recipient,
        automatic=delivery.automatic, state=delivery.state, raw=delivery.raw, attempts=delivery.attempts,
        last_error=delivery.last_error, updated_at=delivery.updated_at,
    )


def _row(session: Session, suggestion_id: int, *, lock: bool = False) -> Suggestion:
    query = select(Suggestion).where(Suggestion.id == suggestion_id)
    if lock and session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    suggestion = session.scalar(query)
    if suggestion is None:
        raise ReplyError(f"there is no suggested reply {suggestion_id}")
    return suggestion


def suggestion_info(session: Session, suggestion_id: int, *, lock: bool = False) -> SuggestionInfo:
    """A suggestion by id; ``ReplyError`` when there is none. ``lock`` holds it (PostgreSQL) until commit."""
    return _info(session, _row(session, suggestion_id, lock=lock))


def current_suggestion(session: Session, inquiry_id: int, kind: str = REPLY) -> SuggestionInfo | None:
    """The inquiry's newest suggestion of this kind, whatever its status, if it has one."""
    suggestion = session.scalar(
        select(Suggestion).where(Suggestion.inquiry_id == inquiry_id, Suggestion.kind == kind)
        .order_by(Suggestion.id.desc()).limit(1)
    )
    return _info(session, suggestion) if suggestion is not None else None


def open_suggestion(session: Session, inquiry_id: int, kind: str = REPLY) -> SuggestionInfo | None:
    """The inquiry's suggestion of this kind that is not sent or discarded yet, if any."""
    suggestion = session.scalar(
        select(Suggestion)
        .where(Suggestion.inquiry_id == inquiry_id, Suggestion.kind == kind, Suggestion.status.in_(OPEN_STATUSES))
        .order_by(Suggestion.id.desc()).limit(1)
    )
    return _info(session, suggestion) if suggestion is not None else None


def previous_draft(session: Session, inquiry_id: int) -> SuggestionInfo | None:
    """The reply draft most recently set aside for another (``replaced``), if any."""
    suggestion = session.scalar(
        select(Suggestion).where(Suggestion.inquiry_id == inquiry_id, Suggestion.kind == REPLY,
                                 Suggestion.status == REPLACED)
        .order_by(Suggestion.updated_at.desc(), Suggestion.id.desc()).limit(1)
    )
    return _info(session, suggestion) if suggestion is not None else None


def draft_of(session: Session, suggestion_id: int) -> NewSuggestion:
    """What a stored suggestion says, as a new draft (to store it again as the current one)."""
    row = _row(session, suggestion_id)
    return NewSuggestion(
        template_id=row.template_id or "", template_version=row.template_version or 0,
        template_digest=row.template_digest or "", language=row.language, variables=dict(row.variables or {}),
        subject=row.subject, text=row.body_text, html=row.body_html, to_address=row.to_address,
        to_name=row.to_name, in_reply_to=row.in_reply_to, references=tuple(row.references or ()),
        mailbox=row.mailbox,
    )


def has_suggestion(session: Session, inquiry_id: int, kind: str) -> bool:
    """Whether the inquiry ever had a suggestion of this kind."""
    return session.scalar(
        select(Suggestion.id).where(Suggestion.inquiry_id == inquiry_id, Suggestion.kind == kind).limit(1)
    ) is not None


def delivery_info(session: Session, suggestion_id: int) -> DeliveryInfo | None:
    """The delivery of a suggestion, if one was started."""
    delivery = _delivery_row(session, suggestion_id)
    return _delivery_info(delivery) if delivery is not None else None


def thread_replies(session: Session, thread_id: int, limit: int = 100) -> list[SuggestionInfo]:
    """The replies approved or sent in a conversation, oldest first."""
    rows = session.scalars(
        select(Suggestion)
        .join(Inquiry, Inquiry.id == Suggestion.inquiry_id).join(Message, Message.id == Inquiry.message_pk)
        .where(Message.thread_id == thread_id, Suggestion.status.in_((APPROVED, SENT)), Suggestion.kind == REPLY)
        .order_by(Suggestion.id).limit(limit)
    ).all()
    return [_info(session, row) for row in rows]


def automatic_sent_since(session: Session, recipient: str, since: datetime) -> int:
    """How many automatic messages to this address were started since ``since`` (failed ones excluded).

    On PostgreSQL the count is taken under a transaction lock on the address, so
    two workers cannot both take the last place under the cap.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"auto-cap:{recipient}"})
    return int(session.scalar(
        select(func.count()).select_from(Delivery)
        .where(Delivery.recipient == recipient, Delivery.automatic.is_(True), Delivery.created_at >= since,
               Delivery.state != FAILED)
    ) or 0)


def approved_without_delivery(session: Session, limit: int, *, max_attempts: int, retry_before: datetime) \
        -> list[int]:
    """Ids of approved suggestions to deliver now: never started, failed for sure and due for another try,
    or released by a person after an uncertain attempt."""
    query = (
        select(Suggestion.id)
        .outerjoin(Delivery, Delivery.suggestion_id == Suggestion.id)
        .where(Suggestion.status == APPROVED)
        .where((Delivery.id.is_(None)) | (Delivery.state == RETRY)
               | ((Delivery.state == FAILED) & (Delivery.attempts < max_attempts)
                  & (Delivery.updated_at <= retry_before)))
        .order_by(Suggestion.id).limit(limit)
    )
    return list(session.scalars(query))


def stale_pending(session: Session, older_than: datetime, limit: int = 100) -> list[int]:
    """Ids of suggestions whose delivery was started but never finished (the process stopped midway)."""
    query = (select(Delivery.suggestion_id).where(Delivery.state == PENDING, Delivery.updated_at <= older_than)
             .order_by(Delivery.id).limit(limit))
    return list(session.scalars(query))


def acknowledgement_candidates(session: Session, mailboxes: Sequence[str], since: datetime, limit: int = 200) \
        -> list[int]:
    """Triaged inquiries seen in these mailboxes since ``since`` that have no acknowledgement yet, oldest first."""
    if not mailboxes:
        return []
    acknowledged = select(Suggestion.inquiry_id).where(Suggestion.kind == ACKNOWLEDGEMENT)
    query = (
        select(Inquiry.id)
        .join(Sighting, Sighting.message_pk == Inquiry.message_pk)
        .where(Sighting.mailbox.in_(list(mailboxes)), Inquiry.created_at >= since,
               Inquiry.state != InquiryState.NEW.value, Inquiry.id.not_in(acknowledged))
        .distinct().order_by(Inquiry.id).limit(limit)
    )
    return list(session.scalars(query))


def inquiries_to_suggest(session: Session, limit: int = 200) -> list[int]:
    """Triaged (standard) inquiries that never had a suggested reply, then cases whose open draft a follow-up
    made out of date (to draft again with the thread), oldest first."""
    suggested = select(Suggestion.inquiry_id).where(Suggestion.kind == REPLY)
    query = (select(Inquiry.id).where(Inquiry.state == InquiryState.TRIAGED.value, Inquiry.id.not_in(suggested))
             .order_by(Inquiry.id).limit(limit))
    fresh = list(session.scalars(query))
    return fresh + drafts_behind_thread(session, max(0, limit - len(fresh)))


def first_synced_at(session: Session, mailbox: str, folder: str | None) -> datetime | None:
    """When a mailbox's folder was first synced (None: never, or not an IMAP message)."""
    if folder is None:
        return None
    return session.scalar(
        select(FolderSyncState.first_synced_at).join(Mailbox, FolderSyncState.mailbox_id == Mailbox.id)
        .where(Mailbox.name == mailbox, FolderSyncState.folder == folder)
    )


# --- writes ---------------------------------------------------------------------------------


def _inquiry(session: Session, inquiry_id: int) -> Inquiry:
    inquiry = session.get(Inquiry, inquiry_id)
    if inquiry is None:
        raise ReplyError(f"there is no inquiry {inquiry_id}")
    return inquiry


def _details(suggestion: Suggestion, status: str, before_status: str | None,
             extra: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "suggestion_id": suggestion.id, "kind": suggestion.kind, "status": status,
        "previous_status": before_status, "version": suggestion.version, "template_id": suggestion.template_id,
        "template_version": suggestion.template_version, **(extra or {}),
    }


def _check_move(session: Session, suggestion: Suggestion, to_state: str | None, action: Action) -> Inquiry:
    """The suggestion's inquiry, once the state machine allows the move (``IllegalTransition``: nothing written)."""
    inquiry = _inquiry(session, suggestion.inquiry_id)
    if suggestion.kind == REPLY and to_state is not None:
        check_transition(inquiry.state, to_state, action.value, inquiry_id=inquiry.id)
    return inquiry


def _change(
    session: Session, suggestion: Suggestion, inquiry: Inquiry, status: str, actor: str, *, action: Action,
    to_state: str | None, event: str | None = None, details: dict[str, Any] | None = None,
    now: datetime, created: bool = False,
) -> None:
    """Set the suggestion's status, bump its version, and move its inquiry (a reply's) with the audit event."""
    before_status = None if created else suggestion.status
    suggestion.status = status
    suggestion.version = (suggestion.version or 0) + 1
    suggestion.updated_at = now
    name = event or f"suggestion_{status}"
    if suggestion.kind == REPLY and to_state is not None:
        move_inquiry(session, inquiry, to_state, action.value, event=name, actor=actor, now=now,
                     details=_details(suggestion, status, before_status, details))
    else:
        repo.record_event(session, name, message_pk=inquiry.message_pk, inquiry_id=inquiry.id,
                          from_state=inquiry.state, to_state=inquiry.state, actor=actor,
                          details=_details(suggestion, status, before_status, details))


def _log_delivery(session: Session, suggestion: Suggestion, event: str, actor: str, details: dict[str, Any]) -> None:
    """Append a delivery event (intent, failure, uncertainty) without changing the suggestion's status."""
    inquiry = _inquiry(session, suggestion.inquiry_id)
    repo.record_event(
        session, event, message_pk=inquiry.message_pk, inquiry_id=inquiry.id, from_state=inquiry.state,
        to_state=inquiry.state, actor=actor,
        details={"suggestion_id": suggestion.id, "kind": suggestion.kind, "message_id": suggestion.message_id,
                 **details},
    )


def _flush(session: Session) -> None:
    try:
        session.flush()
    except IntegrityError as exc:
        raise StorageError(f"the suggested reply could not be stored: {' '.join(str(exc.orig).split())[:300]}") \
            from exc


def _new_row(inquiry_id: int, kind: str, status: str, draft: NewSuggestion, actor: str, now: datetime) -> Suggestion:
    return Suggestion(
        inquiry_id=inquiry_id, kind=kind, status=status, version=0, template_id=draft.template_id,
        template_version=draft.template_version, template_digest=draft.template_digest, language=draft.language,
        variables=draft.variables, subject=draft.subject, body_text=draft.text, body_html=draft.html,
        to_address=draft.to_address, to_name=draft.to_name, in_reply_to=draft.in_reply_to,
        references=list(draft.references), mailbox=draft.mailbox, created_by=actor, created_at=now, updated_at=now,
    )


def add_reply(session: Session, inquiry_id: int, draft: NewSuggestion, actor: str, *,
              details: dict[str, Any] | None = None, now: datetime | None = None) -> SuggestionInfo:
    """Store a suggested reply (status ``suggested``); its inquiry moves to ``suggested`` (action suggest)."""
    now = now or utcnow()
    inquiry = _inquiry(session, inquiry_id)
    check_transition(inquiry.state, InquiryState.SUGGESTED, Action.SUGGEST, inquiry_id=inquiry_id)
    suggestion = _new_row(inquiry_id, REPLY, SUGGESTED, draft, actor, now)
    session.add(suggestion)
    _flush(session)
    _change(session, suggestion, inquiry, SUGGESTED, actor, action=Action.SUGGEST, to_state=InquiryState.SUGGESTED,
            details=details, now=now, created=True)
    return _info(session, suggestion)


def set_aside(session: Session, suggestion_id: int, actor: str, *, expected_version: int | None = None,
              details: dict[str, Any] | None = None, now: datetime | None = None) -> SuggestionInfo:
    """Keep an open reply draft aside (status ``replaced``) for another one; its inquiry does not move.

    The caller stores the new draft (``add_reply``, action suggest) in the same transaction.
    """
    now = now or utcnow()
    suggestion = _editable(session, suggestion_id, expected_version, "replace", (SUGGESTED, EDITED))
    if suggestion.kind != REPLY:
        raise ReplyError("an automatic acknowledgement cannot be replaced")
    inquiry = _inquiry(session, suggestion.inquiry_id)
    check_transition(inquiry.state, InquiryState.SUGGESTED, Action.SUGGEST, inquiry_id=inquiry.id)
    _change(session, suggestion, inquiry, REPLACED, actor, action=Action.SUGGEST, to_state=None,
            event="suggestion_replaced", details=details, now=now)
    return _info(session, suggestion)


def add_acknowledgement(session: Session, inquiry_id: int, draft: NewSuggestion, actor: str, *,
                        message_id_for: Callable[[int], str], now: datetime | None = None) -> SuggestionInfo:
    """Store an automatic acknowledgement, approved at once; ``message_id_for(id)`` gives its Message-ID.

    The inquiry does not move: an acknowledgement does not answer it.
    """
    now = now or utcnow()
    inquiry = _inquiry(session, inquiry_id)
    suggestion = _new_row(inquiry_id, ACKNOWLEDGEMENT, APPROVED, draft, actor, now)
    suggestion.approved_by, suggestion.approved_at = actor, now
    session.add(suggestion)
    _flush(session)
    suggestion.message_id = message_id_for(suggestion.id)
    _change(session, suggestion, inquiry, APPROVED, actor, action=Action.APPROVE, to_state=None,
            event="acknowledgement_approved", details={"message_id": suggestion.message_id, "mailbox": draft.mailbox},
            now=now, created=True)
    return _info(session, suggestion)


def _editable(session: Session, suggestion_id: int, expected_version: int | None, action: str,
              allowed: tuple[str, ...]) -> Suggestion:
    suggestion = _row(session, suggestion_id, lock=True)
    if expected_version is not None and suggestion.version != expected_version:
        raise StaleSuggestionError(
            f"suggested reply {suggestion_id} was changed by someone else (version {suggestion.version}, "
            f"you had {expected_version}): reload it and {action} again")
    if suggestion.status not in allowed:
        raise ReplyError(f"cannot {action} suggested reply {suggestion_id}: it is {suggestion.status}")
    return suggestion


def check_editable(session: Session, suggestion_id: int, expected_version: int | None, action: str) \
        -> SuggestionInfo:
    """The suggestion, locked, if it is still suggested or edited and at ``expected_version``.

    ``StaleSuggestionError`` when someone changed it meanwhile, ``ReplyError`` when it is past editing.
    """
    return _info(session, _editable(session, suggestion_id, expected_version, action, (SUGGESTED, EDITED)))


def save_edit(session: Session, suggestion_id: int, subject: str, body_text: str, body_html: str | None, actor: str,
              *, expected_version: int) -> SuggestionInfo:
    """Replace a reply's subject and text (status ``edited``, inquiry ``edited``), if nobody changed it meanwhile."""
    suggestion = _editable(session, suggestion_id, expected_version, "edit", (SUGGESTED, EDITED))
    if suggestion.kind != REPLY:
        raise ReplyError("an automatic acknowledgement cannot be edited")
    inquiry = _check_move(session, suggestion, InquiryState.EDITED, Action.EDIT)
    previous = {"previous_subject": suggestion.subject, "previous_body": suggestion.body_text}
    suggestion.subject, suggestion.body_text, suggestion.body_html = subject, body_text, body_html
    _change(session, suggestion, inquiry, EDITED, actor, action=Action.EDIT, to_state=InquiryState.EDITED,
            details=previous, now=utcnow())
    return _info(session, suggestion)


def approve(session: Session, suggestion_id: int, actor: str, *, message_id: str, mailbox: str, mode: str,
            expected_version: int | None = None, now: datetime | None = None) -> SuggestionInfo:
    """Approve a reply for delivery with its Message-ID (the idempotency key) and mailbox; inquiry ``approved``."""
    suggestion = _editable(session, suggestion_id, expected_version, "approve", (SUGGESTED, EDITED))
    inquiry = _check_move(session, suggestion, InquiryState.APPROVED, Action.APPROVE)
    now = now or utcnow()
    suggestion.message_id, suggestion.mailbox = message_id, mailbox
    suggestion.approved_by, suggestion.approved_at = actor, now
    _change(session, suggestion, inquiry, APPROVED, actor, action=Action.APPROVE, to_state=InquiryState.APPROVED,
            details={"message_id": message_id, "mailbox": mailbox, "mode": mode}, now=now)
    return _info(session, suggestion)


def discard(session: Session, suggestion_id: int, actor: str, *, expected_version: int | None = None,
            close_inquiry: bool = False) -> SuggestionInfo:
    """Discard a suggestion that has not started to leave; the inquiry goes back to its queue (or is closed)."""
    suggestion = _editable(session, suggestion_id, expected_version, "discard", OPEN_STATUSES)
    delivery = _delivery_row(session, suggestion.id)
    if delivery is not None and delivery.state not in (FAILED, RETRY):
        raise ReplyError(f"cannot discard suggested reply {suggestion_id}: its delivery is {delivery.state}")
    if close_inquiry:
        state = InquiryState.DISCARDED
    else:
        decision = current_decision(session, suggestion.inquiry_id)
        state = InquiryState.TRIAGED if decision is not None and decision.standard else InquiryState.ROUTED
    inquiry = _check_move(session, suggestion, state, Action.DISCARD)
    _change(session, suggestion, inquiry, DISCARDED, actor, action=Action.DISCARD, to_state=state, now=utcnow())
    return _info(session, suggestion)


def resolve_uncertain(session: Session, suggestion_id: int, actor: str, *, was_sent: bool,
                      now: datetime | None = None) -> SuggestionInfo:
    """A person's answer about a delivery that may have left: it did (``sent``), or it did not (try again)."""
    suggestion = _row(session, suggestion_id, lock=True)
    delivery = _delivery_row(session, suggestion_id)
    if delivery is None or delivery.state != UNCERTAIN:
        raise ReplyError(f"the delivery of suggested reply {suggestion_id} is not waiting for a decision")
    now = now or utcnow()
    if was_sent:
        inquiry = _check_move(session, suggestion, InquiryState.SENT, Action.SEND)
        delivery.state, delivery.done_at, delivery.updated_at = DONE, now, now
        suggestion.sent_at = now
        _change(session, suggestion, inquiry, SENT, actor, action=Action.SEND, to_state=InquiryState.SENT, now=now,
                details={"message_id": suggestion.message_id, "confirmed_by": actor})
    else:
        delivery.state, delivery.updated_at = RETRY, now
        _log_delivery(session, suggestion, "delivery_retry_allowed", actor, {"attempts": delivery.attempts})
    return _info(session, suggestion, delivery)


def route_to_staff(session: Session, inquiry_id: int, reason: str) -> None:
    """No reply can be suggested for a standard inquiry: it goes to a person (state ``routed``), with why."""
    inquiry = _inquiry(session, inquiry_id)
    move_inquiry(session, inquiry, InquiryState.ROUTED, Action.ROUTE, event="suggestion_unavailable",
                 details={"reason": reason})


# --- deliveries -----------------------------------------------------------------------------


def refuse_delivery(session: Session, suggestion_id: int, problem: str, actor: str, now: datetime) -> SuggestionInfo:
    """Not sent: an acknowledgement is dropped; a reply goes back to staff (``edited``) with the reason."""
    suggestion = _row(session, suggestion_id, lock=True)
    automatic = suggestion.kind == ACKNOWLEDGEMENT
    to_state = None if automatic else InquiryState.EDITED
    inquiry = _check_move(session, suggestion, to_state, Action.UNAPPROVE)
    suggestion.last_error = problem
    _change(session, suggestion, inquiry, DISCARDED if automatic else EDITED, actor, action=Action.UNAPPROVE,
            to_state=to_state, event="delivery_refused", details={"reason": problem}, now=now)
    return _info(session, suggestion)


def check_deliverable(session: Session, suggestion_id: int) -> None:
    """``IllegalTransition`` when the reply's inquiry could not become ``sent`` (it was closed or moved on)."""
    suggestion = _row(session, suggestion_id)
    _check_move(session, suggestion, InquiryState.SENT, Action.SEND)


def start_delivery(
    session: Session, suggestion_id: int, *, mode: str, mailbox: str, folder: str | None, raw: bytes | None,
    actor: str, now: datetime,
) -> DeliveryInfo:
    """Record the intent to deliver (state ``pending``, one more attempt) before any network call.

    ``raw`` is the message to send when it is new (first attempt, or approved again with a new
    Message-ID); None keeps the bytes of the earlier attempt, which never left.
    """
    suggestion = _row(session, suggestion_id, lock=True)
    assert suggestion.message_id is not None  # given at approval
    delivery = _delivery_row(session, suggestion_id)
    if raw is not None:
        if delivery is None:
            delivery = Delivery(suggestion_id=suggestion_id, created_at=now)
            session.add(delivery)
        delivery.message_id, delivery.mode, delivery.mailbox, delivery.raw = suggestion.message_id, mode, mailbox, raw
        delivery.folder = folder
        delivery.recipient = suggestion.to_address.strip().lower()
        delivery.automatic = suggestion.kind == ACKNOWLEDGEMENT
        delivery.attempts = 0
    if delivery is None:
        raise ReplyError(f"suggested reply {suggestion_id} has no message to deliver yet")
    delivery.state = PENDING
    delivery.attempts += 1
    delivery.updated_at = now
    _log_delivery(session, suggestion, "delivery_started", actor,
                  {"mode": delivery.mode, "mailbox": delivery.mailbox, "folder": delivery.folder,
                   "attempt": delivery.attempts})
    _flush(session)
    return _delivery_info(delivery)


def finish_delivery(session: Session, suggestion_id: int, outcome: str, detail: str, actor: str, now: datetime) \
        -> None:
    """Record what the network step did: ``sent`` (delivery done, reply sent), ``failed`` or ``uncertain``."""
    suggestion = _row(session, suggestion_id, lock=True)
    delivery = _delivery_row(session, suggestion_id)
    assert delivery is not None
    if outcome == SENT:
        inquiry = _check_move(session, suggestion, InquiryState.SENT, Action.SEND)
        delivery.state, delivery.done_at, delivery.last_error, delivery.updated_at = DONE, now, None, now
        suggestion.sent_at, suggestion.last_error = now, None
        _change(session, suggestion, inquiry, SENT, actor, action=Action.SEND, to_state=InquiryState.SENT, now=now,
                details={"message_id": delivery.message_id, "mode": delivery.mode, "mailbox": delivery.mailbox,
                         "detail": detail, "attempt": delivery.attempts})
        return
    delivery.state = UNCERTAIN if outcome == UNCERTAIN else FAILED
    delivery.updated_at = now
    delivery.last_error = suggestion.last_error = detail
    _log_delivery(session, suggestion, f"delivery_{outcome}", actor,
                  {"mode": delivery.mode, "mailbox": delivery.mailbox, "error": detail, "attempt": delivery.attempts})


def claim_stale(session: Session, suggestion_id: int, stale_before: datetime, now: datetime,
                known_mailboxes: Collection[str]) -> DeliveryInfo | None:
    """Take a delivery left ``pending`` before ``stale_before`` (renewing its lease), or None if it is not one now.

    One whose mailbox is no longer configured becomes ``uncertain``: nobody can look for it.
    """
    suggestion = _row(session, suggestion_id, lock=True)
    delivery = _delivery_row(session, suggestion_id)
    if delivery is None or delivery.state != PENDING or delivery.updated_at > stale_before:
        return None  # finished meanwhile, or someone else is on it
    if delivery.mailbox not in known_mailboxes:
        delivery.state, delivery.last_error = UNCERTAIN, f"mailbox {delivery.mailbox} is no longer configured"
        _log_delivery(session, suggestion, "delivery_uncertain", "recovery", {"error": delivery.last_error})
        return None
    delivery.updated_at = now
    return _delivery_info(delivery)
