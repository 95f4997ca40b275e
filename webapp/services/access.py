"""Who may see and act on an inquiry: admins everything; staff the cases of their queues."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.store.models import Case, CaseAction, Inquiry
from webapp.errors import Forbidden, NotFound
from webapp.services.users import Actor


def check_access(session: Session, actor: Actor, inquiry_id: int, *, undoing: bool = False
                 ) -> tuple[Inquiry, Case | None]:
    """The inquiry and its case, when this person may see it: ``NotFound`` or ``Forbidden`` otherwise.

    With ``undoing``, someone who just moved a case out of their queues may still undo that move.
    """
    inquiry = session.get(Inquiry, inquiry_id)
    if inquiry is None:
        raise NotFound(f"no inquiry {inquiry_id}")
    case = session.get(Case, inquiry_id)
    if case is None:
        if not actor.is_admin:
            raise Forbidden("this inquiry is not triaged yet: it is in no queue")
    elif not actor.can_work(case.queue) and not (undoing and _moved_away_by(session, actor, inquiry_id)):
        raise Forbidden(f"this inquiry is in the queue {case.queue!r}, which is not one of yours")
    return inquiry, case


def _moved_away_by(session: Session, actor: Actor, inquiry_id: int) -> bool:
    last = session.scalar(select(CaseAction).where(CaseAction.inquiry_id == inquiry_id)
                          .order_by(CaseAction.id.desc()).limit(1))
    return (last is not None and last.undone_at is None and last.action == "reassign" and last.user_id == actor.id
            and actor.can_work(str(last.before.get("queue", ""))))
