"""The stored inquiry as readers outside the store see it: one frozen view of the inquiry and its message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.errors import ReplyError
from pipeline.store.models import Inquiry, Message, Sighting


@dataclass(frozen=True)
class StoredInquiry:
    """A stored inquiry with the parts of its message a reader needs, and where it was first seen."""

    id: int
    state: str
    message_pk: int
    thread_id: int
    new_text: str
    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    subject: str
    sender_name: str
    sender_address: str | None
    reply_to: str | None
    recipients: tuple[str, ...]
    sent_at: datetime | None
    is_auto_reply: bool
    is_bounce: bool
    is_mailing_list: bool
    automation_reason: str | None
    mailbox: str | None
    folder: str | None
    created_at: datetime
    desk: str | None = None


def first_seen(session: Session, message_pk: int) -> tuple[str | None, str | None]:
    """The IMAP mailbox and folder where a message was first seen, if it came from one."""
    row = session.execute(
        select(Sighting.mailbox, Sighting.folder)
        .where(Sighting.message_pk == message_pk, Sighting.mailbox.is_not(None))
        .order_by(Sighting.id).limit(1)
    ).first()
    return (row[0], row[1]) if row else (None, None)


def inquiry_rows(session: Session, inquiry_id: int, *, lock: bool = False) -> tuple[Inquiry, Message]:
    """An inquiry and its message rows (for the store's own modules); ``ReplyError`` when there is none.

    With ``lock`` on PostgreSQL the inquiry row is locked ``FOR UPDATE`` until the transaction ends.
    """
    query = select(Inquiry, Message).join(Message, Inquiry.message_pk == Message.id).where(Inquiry.id == inquiry_id)
    if lock and session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=Inquiry)
    row = session.execute(query).first()
    if row is None:
        raise ReplyError(f"there is no inquiry {inquiry_id}")
    return row[0], row[1]


def inquiry_view(inquiry: Inquiry, message: Message, mailbox: str | None, folder: str | None) -> StoredInquiry:
    """The view of an inquiry row and its message row."""
    return StoredInquiry(
        id=inquiry.id, state=inquiry.state, message_pk=message.id, thread_id=message.thread_id,
        new_text=inquiry.new_text, message_id=message.message_id, in_reply_to=message.in_reply_to,
        references=tuple(message.references or ()), subject=message.subject, sender_name=message.sender_name,
        sender_address=message.sender_address, reply_to=message.reply_to,
        recipients=tuple(message.recipients or ()), sent_at=message.sent_at, is_auto_reply=message.is_auto_reply,
        is_bounce=message.is_bounce, is_mailing_list=message.is_mailing_list,
        automation_reason=message.automation_reason, mailbox=mailbox, folder=folder, created_at=inquiry.created_at,
        desk=inquiry.desk,
    )


def inquiry_desk(session: Session, inquiry_id: int) -> str | None:
    """The desk an inquiry belongs to (None: stored before desks, the default desk's)."""
    return session.execute(select(Inquiry.desk).where(Inquiry.id == inquiry_id)).scalar_one_or_none()


def stored_inquiry(session: Session, inquiry_id: int, *, lock: bool = False) -> StoredInquiry:
    """An inquiry and its message as one view; ``ReplyError`` when there is no such inquiry.

    With ``lock`` on PostgreSQL the inquiry stays locked until the transaction ends (one writer at a time).
    """
    inquiry, message = inquiry_rows(session, inquiry_id, lock=lock)
    mailbox, folder = first_seen(session, message.id)
    return inquiry_view(inquiry, message, mailbox, folder)
