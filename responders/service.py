"""The service layer of suggested replies, for the review app and the command line.

Each function works inside the caller's session and transaction: the change
and its audit event are committed together by the caller (``unit_of_work``).
Errors are the project's: ``ReplyError`` (not possible as asked, with why),
``StaleSuggestionError`` (someone changed it first: reload), ``TemplateError``.

    suggest_for_inquiry(session, inquiry_id, context)                     -> SuggestionInfo | NoReply
    edit_suggestion(session, id, subject, body, actor, expected_version, context) -> SuggestionInfo
    approve(session, id, actor, context, expected_version=None)           -> SuggestionInfo
    discard(session, id, actor, expected_version=None, close_inquiry=False) -> SuggestionInfo
    resolve_uncertain(session, id, actor, was_sent=...)                    -> SuggestionInfo
    current_suggestion(session, inquiry_id) / suggestion_info(session, id)

Delivery itself (network) is in ``responders.deliver``: ``deliver_approved``,
``deliver_one`` and ``recover_deliveries`` take a session factory, because
they commit the intent before any network call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from pipeline.errors import ReplyError, StaleSuggestionError
from pipeline.store.models import Suggestion, utcnow
from responders import records as rec
from responders.compose import new_message_id, with_case_tag
from responders.context import ReplyContext
from responders.policy import refusal
from responders.render import tidy_text
from responders.suggest import NoReply, suggest_reply

MAX_BODY_CHARS = 100_000


@dataclass(frozen=True)
class SuggestionInfo:
    """A suggested reply as staff see it, with where its delivery stands."""

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
    sent_at: datetime | None
    delivery_state: str | None
    last_error: str | None

    @property
    def editable(self) -> bool:
        """Whether staff may still change the text (suggested or edited replies)."""
        return self.kind == rec.REPLY and self.status in (rec.SUGGESTED, rec.EDITED)


def _info(session: Session, suggestion: Suggestion) -> SuggestionInfo:
    delivery = rec.delivery_of(session, suggestion.id)
    return SuggestionInfo(
        id=suggestion.id, inquiry_id=suggestion.inquiry_id, kind=suggestion.kind, status=suggestion.status,
        version=suggestion.version, template_id=suggestion.template_id,
        template_version=suggestion.template_version, language=suggestion.language, subject=suggestion.subject,
        body=suggestion.body_text, html=suggestion.body_html, to=suggestion.to_address, to_name=suggestion.to_name,
        mailbox=suggestion.mailbox, message_id=suggestion.message_id, updated_at=suggestion.updated_at,
        approved_by=suggestion.approved_by, sent_at=suggestion.sent_at,
        delivery_state=delivery.state if delivery is not None else None,
        last_error=(delivery.last_error if delivery is not None else None) or suggestion.last_error,
    )


def suggestion_info(session: Session, suggestion_id: int) -> SuggestionInfo:
    """A suggestion by id; ``ReplyError`` when there is none."""
    return _info(session, rec.get_suggestion(session, suggestion_id))


def current_suggestion(session: Session, inquiry_id: int) -> SuggestionInfo | None:
    """The inquiry's newest suggested reply, whatever its status, if it has one."""
    suggestion = rec.latest_suggestion(session, inquiry_id)
    return _info(session, suggestion) if suggestion is not None else None


def suggest_for_inquiry(
    session: Session, inquiry_id: int, context: ReplyContext, *, actor: str = "system",
    require_standard: bool = True,
) -> SuggestionInfo | NoReply:
    """Suggest a reply for a triaged inquiry and store it (status ``suggested``), or say why there is none.

    An inquiry that already has an open suggestion gets that one back.
    ``require_standard=False`` suggests one for a routed inquiry too (staff asked).
    """
    inquiry, message = rec.inquiry_rows(session, inquiry_id, lock=True)
    existing = rec.open_suggestion(session, inquiry_id)
    if existing is not None:
        return _info(session, existing)
    decision = rec.stored_decision(session, inquiry_id)
    if decision is None:
        return NoReply("the inquiry has not been triaged yet")
    facts = rec.inquiry_facts(session, inquiry, message)
    reply = suggest_reply(decision, facts, context.library, context.policy, require_standard=require_standard,
                          case_facts=context.case_facts)
    if isinstance(reply, NoReply):
        return reply
    now = utcnow()
    suggestion = Suggestion(
        inquiry_id=inquiry_id, kind=rec.REPLY, status=rec.SUGGESTED, version=0,
        template_id=reply.template_id, template_version=reply.template_version,
        template_digest=reply.template_digest, language=reply.language, variables=reply.variables,
        subject=reply.subject, body_text=reply.text, body_html=reply.html, to_address=reply.to_address,
        to_name=reply.to_name, in_reply_to=reply.in_reply_to, references=list(reply.references),
        mailbox=facts.mailbox, created_by=actor, created_at=now, updated_at=now,
    )
    session.add(suggestion)
    session.flush()
    rec.transition(session, suggestion, rec.SUGGESTED, actor, now=now, created=True,
                   details={"variant": reply.variant, "why": reply.why, "language": reply.language})
    return _info(session, suggestion)


def _editable(session: Session, suggestion_id: int, expected_version: int | None, action: str,
              allowed: tuple[str, ...]) -> Suggestion:
    suggestion = rec.get_suggestion(session, suggestion_id, lock=True)
    if expected_version is not None and suggestion.version != expected_version:
        raise StaleSuggestionError(
            f"suggested reply {suggestion_id} was changed by someone else (version {suggestion.version}, "
            f"you had {expected_version}): reload it and {action} again")
    if suggestion.status not in allowed:
        raise ReplyError(f"cannot {action} suggested reply {suggestion_id}: it is {suggestion.status}")
    return suggestion


def edit_suggestion(
    session: Session, suggestion_id: int, subject: str, body: str, actor: str, expected_version: int,
    context: ReplyContext,
) -> SuggestionInfo:
    """Replace the subject and text of a suggestion (status ``edited``), if nobody changed it meanwhile."""
    suggestion = _editable(session, suggestion_id, expected_version, "edit", (rec.SUGGESTED, rec.EDITED))
    if suggestion.kind != rec.REPLY:
        raise ReplyError("an automatic acknowledgement cannot be edited")
    if "\r" in subject or "\n" in subject:
        raise ReplyError("the subject must be one line (it contains a line break)")
    if not subject.strip():
        raise ReplyError("the subject is empty")
    text = body.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise ReplyError("the reply text is empty")
    if len(text) > MAX_BODY_CHARS:
        raise ReplyError(f"the reply text is longer than {MAX_BODY_CHARS} characters")
    previous = {"previous_subject": suggestion.subject, "previous_body": suggestion.body_text}
    suggestion.subject = with_case_tag(subject, suggestion.inquiry_id)
    suggestion.body_text = tidy_text(text)
    suggestion.body_html = context.library.html_of(suggestion.body_text, suggestion.language, suggestion.subject)
    rec.transition(session, suggestion, rec.EDITED, actor, details=previous)
    return _info(session, suggestion)


def approve(
    session: Session, suggestion_id: int, actor: str, context: ReplyContext, *,
    expected_version: int | None = None, now: datetime | None = None,
) -> SuggestionInfo:
    """Approve a suggestion for delivery: it gets its Message-ID (the idempotency key) and its mailbox."""
    suggestion = _editable(session, suggestion_id, expected_version, "approve", (rec.SUGGESTED, rec.EDITED))
    inquiry, message = rec.inquiry_rows(session, suggestion.inquiry_id)
    facts = rec.inquiry_facts(session, inquiry, message)
    refused = refusal(facts, context.policy)
    if refused is not None:
        raise ReplyError(f"cannot approve: {refused}")
    name, mailbox = context.mailbox_for(suggestion.mailbox or facts.mailbox)
    now = now or utcnow()
    suggestion.message_id = new_message_id(f"triage.{suggestion.id}", mailbox.delivery.from_address or mailbox.user)
    suggestion.mailbox = name
    suggestion.approved_by = actor
    suggestion.approved_at = now
    rec.transition(session, suggestion, rec.APPROVED, actor, now=now,
                   details={"message_id": suggestion.message_id, "mailbox": name,
                            "mode": mailbox.delivery.mode})
    return _info(session, suggestion)


def discard(
    session: Session, suggestion_id: int, actor: str, *, expected_version: int | None = None,
    close_inquiry: bool = False,
) -> SuggestionInfo:
    """Discard a suggestion that has not started to leave; the inquiry goes back to its queue (or is closed)."""
    suggestion = _editable(session, suggestion_id, expected_version, "discard", rec.OPEN_STATUSES)
    delivery = rec.delivery_of(session, suggestion.id)
    if delivery is not None and delivery.state not in (rec.FAILED, rec.RETRY):
        raise ReplyError(f"cannot discard suggested reply {suggestion_id}: its delivery is {delivery.state}")
    state = "discarded" if close_inquiry else rec.inquiry_state_without_reply(session, suggestion.inquiry_id)
    rec.transition(session, suggestion, rec.DISCARDED, actor,
                   inquiry_state=state if suggestion.kind == rec.REPLY else None)
    return _info(session, suggestion)


def resolve_uncertain(session: Session, suggestion_id: int, actor: str, *, was_sent: bool) -> SuggestionInfo:
    """A person's answer about a delivery that may have left: it did (``sent``), or it did not (try again)."""
    suggestion = rec.get_suggestion(session, suggestion_id, lock=True)
    delivery = rec.delivery_of(session, suggestion_id)
    if delivery is None or delivery.state != rec.UNCERTAIN:
        raise ReplyError(f"the delivery of suggested reply {suggestion_id} is not waiting for a decision")
    now = utcnow()
    delivery.updated_at = now
    if was_sent:
        delivery.state, delivery.done_at = rec.DONE, now
        suggestion.sent_at = now
        rec.transition(session, suggestion, rec.SENT, actor, now=now,
                       details={"message_id": suggestion.message_id, "confirmed_by": actor})
    else:
        delivery.state = rec.RETRY
        rec.log_delivery(session, suggestion, "delivery_retry_allowed", actor, {"attempts": delivery.attempts})
    return _info(session, suggestion)
