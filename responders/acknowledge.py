"""Automatic acknowledgements ("we received your inquiry, reference T-…"), per mailbox, off by default.

Sent only for a mailbox with ``delivery.auto_acknowledge = true``, only for
mail that arrived after the mailbox was first synced (its Date is after the
folder's first sync, and at most ``MAX_AGE`` old), never twice for one inquiry,
never to anyone the reply policy excludes, and within the cap on automatic
mail per sender. They carry ``Auto-Submitted: auto-replied``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from pipeline.store.db import unit_of_work
from pipeline.store.models import FolderSyncState, Mailbox, Suggestion, utcnow
from responders import records as rec
from responders.compose import new_message_id
from responders.context import ReplyContext
from responders.deliver import Connections, DeliveryOutcome, deliver_one
from responders.policy import cap_reached
from responders.suggest import NoReply, acknowledgement
from responders.transport import Transports

MAX_AGE = timedelta(hours=24)
ACTOR = "auto-acknowledge"


@dataclass(frozen=True)
class AckOutcome:
    """Whether an inquiry was acknowledged, and why not."""

    inquiry_id: int
    outcome: str  # "sent", "skipped", or a delivery outcome
    detail: str = ""


def first_synced_at(session: Session, mailbox: str, folder: str | None) -> datetime | None:
    """When a mailbox's folder was first synced (None: never, or not an IMAP message)."""
    if folder is None:
        return None
    return session.scalar(
        select(FolderSyncState.first_synced_at).join(Mailbox, FolderSyncState.mailbox_id == Mailbox.id)
        .where(Mailbox.name == mailbox, FolderSyncState.folder == folder)
    )


def arrived_after_first_sync(sent_at: datetime | None, synced: datetime | None, now: datetime) -> bool:
    """Whether a message is new mail rather than mail that was in the mailbox before it was first synced."""
    return sent_at is not None and synced is not None and sent_at > synced and now - sent_at <= MAX_AGE


def _prepare(session: Session, inquiry_id: int, context: ReplyContext, now: datetime) -> int | str:
    """The id of a new approved acknowledgement, or why there is none."""
    inquiry, message = rec.inquiry_rows(session, inquiry_id, lock=True)
    mailbox, folder = rec.mailbox_of(session, message.id)
    settings = context.settings.mailboxes.get(mailbox or "")
    if mailbox is None or settings is None or not settings.delivery.auto_acknowledge:
        return "automatic acknowledgements are off for this mailbox"
    if rec.has_suggestion(session, inquiry_id, rec.ACKNOWLEDGEMENT):
        return "already acknowledged"
    if not arrived_after_first_sync(message.sent_at, first_synced_at(session, mailbox, folder), now):
        return "the message was in the mailbox before it was first synced (or is too old)"
    decision = rec.stored_decision(session, inquiry_id)
    language = decision.language if decision is not None else context.library.catalogue.default_language
    facts = rec.inquiry_facts(session, inquiry, message)
    reply = acknowledgement(facts, language, context.library, context.policy)
    if isinstance(reply, NoReply):
        return reply.reason
    recipient = reply.to_address.strip().lower()
    if cap_reached(rec.automatic_sent_since(session, recipient, now - context.policy.auto_window), context.policy):
        return f"the cap on automatic mail to {recipient} is reached"
    sender = settings.delivery.from_address or settings.user
    suggestion = Suggestion(
        inquiry_id=inquiry_id, kind=rec.ACKNOWLEDGEMENT, status=rec.APPROVED, version=0,
        template_id=reply.template_id, template_version=reply.template_version,
        template_digest=reply.template_digest, language=reply.language, variables=reply.variables,
        subject=reply.subject, body_text=reply.text, body_html=reply.html, to_address=reply.to_address,
        to_name=reply.to_name, in_reply_to=reply.in_reply_to, references=list(reply.references),
        mailbox=mailbox, created_by=ACTOR, created_at=now, updated_at=now, approved_by=ACTOR, approved_at=now,
    )
    session.add(suggestion)
    session.flush()
    suggestion.message_id = new_message_id(f"triage.ack.{suggestion.id}", sender)
    rec.transition(session, suggestion, rec.APPROVED, ACTOR, now=now, created=True, event="acknowledgement_approved",
                   details={"message_id": suggestion.message_id, "mailbox": mailbox})
    return suggestion.id


def acknowledge_inquiries(
    factory: sessionmaker[Session], context: ReplyContext, transports: Transports, inquiry_ids: Sequence[int], *,
    clock: Callable[[], datetime] = utcnow,
) -> list[AckOutcome]:
    """Acknowledge each of these (newly stored and triaged) inquiries whose mailbox asks for it."""
    outcomes: list[AckOutcome] = []
    connections = Connections(transports)
    try:
        for inquiry_id in inquiry_ids:
            with unit_of_work(factory) as session:
                prepared = _prepare(session, inquiry_id, context, clock())
            if isinstance(prepared, str):
                outcomes.append(AckOutcome(inquiry_id, "skipped", prepared))
                continue
            delivered: DeliveryOutcome = deliver_one(factory, context, connections, prepared, actor=ACTOR,
                                                     clock=clock)
            outcomes.append(AckOutcome(inquiry_id, delivered.outcome, delivered.detail))
    finally:
        connections.close()
    return outcomes
