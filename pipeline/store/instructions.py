"""Pay/let-lapse instructions per patent of triaged inquiries: written with each decision, read to compare later mail.

Inside a caller's session (the caller owns the transaction). The thread and the
client organisation of an instruction are read through its inquiry, so they are
never out of step with it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, delete, false, or_, select
from sqlalchemy.orm import Session

from pipeline.store.models import InstructionRecord, Inquiry, Message
from pipeline.store.repository import of_desks

_MAX_EARLIER = 200


@dataclass(frozen=True)
class StoredInstruction:
    """An instruction an inquiry gave for a patent, when, and the subject of its message."""

    inquiry_id: int
    patent: str
    instruction: str
    said_at: datetime
    subject: str


def replace_instructions(
    session: Session, said: Sequence[tuple[int, datetime, Sequence[tuple[str, str]]]]
) -> None:
    """Store each ``(inquiry id, when said, [(patent, instruction)...])``, replacing the inquiry's earlier rows.

    An inquiry with no instruction keeps none (a re-triage that reads none removes what it had).
    """
    if not said:
        return
    session.execute(delete(InstructionRecord).where(InstructionRecord.inquiry_id.in_([i for i, _, _ in said])))
    session.add_all(
        InstructionRecord(inquiry_id=inquiry_id, patent=patent[:100], instruction=instruction[:16], said_at=when)
        for inquiry_id, when, pairs in said
        for patent, instruction in dict.fromkeys(pairs)
    )
    session.flush()


def instructions_of(session: Session, inquiry_id: int) -> list[tuple[str, str]]:
    """The ``(patent, instruction)`` pairs stored for an inquiry, in the order written."""
    query = (select(InstructionRecord.patent, InstructionRecord.instruction)
             .where(InstructionRecord.inquiry_id == inquiry_id).order_by(InstructionRecord.id))
    return [(patent, instruction) for patent, instruction in session.execute(query).all()]


def earlier_instructions(
    session: Session,
    *,
    inquiry_id: int,
    patents: Collection[str],
    said_at: datetime,
    since: datetime,
    thread_id: int,
    organisation: str | None,
    desks: Collection[str],
    default_desk: str,
) -> list[StoredInstruction]:
    """Instructions for ``patents`` said before ``said_at`` (and from ``since`` on) by other inquiries of ``desks``
    in the same thread or from the same client ``organisation``, latest first (an inquiry without a desk is
    ``default_desk``'s).

    "Before" is by the time said, an equal time by the inquiry id, so a re-triage of an old message never
    compares it with later ones.
    """
    if not patents:
        return []
    same_client = or_(Message.thread_id == thread_id,
                      Inquiry.organisation == organisation if organisation else false())
    query = (
        select(InstructionRecord.inquiry_id, InstructionRecord.patent, InstructionRecord.instruction,
               InstructionRecord.said_at, Message.subject)
        .join(Inquiry, Inquiry.id == InstructionRecord.inquiry_id)
        .join(Message, Message.id == Inquiry.message_pk)
        .where(
            InstructionRecord.patent.in_(sorted(patents)),
            InstructionRecord.inquiry_id != inquiry_id,
            InstructionRecord.said_at >= since,
            or_(InstructionRecord.said_at < said_at,
                and_(InstructionRecord.said_at == said_at, InstructionRecord.inquiry_id < inquiry_id)),
            same_client,
            of_desks(desks, default_desk),
        )
        .order_by(InstructionRecord.said_at.desc(), InstructionRecord.inquiry_id.desc())
        .limit(_MAX_EARLIER)
    )
    return [StoredInstruction(row[0], row[1], row[2], row[3], row[4] or "") for row in session.execute(query).all()]
