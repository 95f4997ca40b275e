"""The parts of an inquiry's mail fetched on their own: its HTML (sanitised) and its attachments (as stored)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from pipeline.store.models import AttachmentRecord, Message, RawBlob
from webapp.attachments import Wanted, extract_attachment, safe_content_type
from webapp.errors import NotFound
from webapp.sanitize import SafeHtml, sanitize_html
from webapp.services.access import check_access
from webapp.services.users import Actor


def inquiry_html(db: sessionmaker[Session], actor: Actor, inquiry_id: int, max_chars: int) -> tuple[SafeHtml, str]:
    """The inquiry's HTML, sanitised, and its language (for the sandboxed frame)."""
    with db() as session:
        inquiry, case = check_access(session, actor, inquiry_id)
        if not inquiry.html:
            raise NotFound("this inquiry has no HTML part")
        return sanitize_html(inquiry.html, max_chars), case.language if case else ""


@dataclass(frozen=True)
class Download:
    """An attachment to send: its bytes, a safe type and the name it had."""

    data: bytes
    content_type: str
    filename: str


def attachment_download(db: sessionmaker[Session], actor: Actor, inquiry_id: int, attachment_id: int) -> Download:
    """An attachment's bytes, taken from the raw message; ``NotFound`` when it is not this inquiry's."""
    with db() as session:
        inquiry, _ = check_access(session, actor, inquiry_id)
        record = session.get(AttachmentRecord, attachment_id)
        if record is None or record.message_pk != inquiry.message_pk:
            raise NotFound("no such attachment in this inquiry")
        same = session.scalars(
            select(AttachmentRecord.id).where(AttachmentRecord.message_pk == record.message_pk,
                                              AttachmentRecord.content_type == record.content_type,
                                              AttachmentRecord.filename.is_(record.filename) if record.filename is None
                                              else AttachmentRecord.filename == record.filename)
            .order_by(AttachmentRecord.position)
        ).all()
        raw = session.scalar(select(RawBlob.data).join(Message, Message.raw_sha256 == RawBlob.sha256)
                             .where(Message.id == record.message_pk))
        if raw is None:
            raise NotFound("the raw message is not stored")
        wanted = Wanted(record.position, record.filename, record.content_type, record.sha256,
                        list(same).index(record.id))
        filename = record.filename or f"attachment-{record.position + 1}"
    return Download(extract_attachment(bytes(raw), wanted), safe_content_type(record.content_type), filename)
