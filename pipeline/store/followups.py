"""Follow-ups: a reply in a thread, from the same sender, while the thread's case is open, joins that case.

At ingest the follow-up is marked ``follow_up_of`` the open case's inquiry (noted
in its ``stored`` event); the follow-up is triaged like
any mail (the model reads its new text). When the reply round comes to it, a
standard follow-up gets no draft of its own: it is closed (``handled``, event
``follow_up_joined``) and the case's draft is made again with the thread's
facts. A follow-up held back for a person stays a case for staff.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from pipeline.store import repository as repo
from pipeline.store.lifecycle import Action, InquiryState, move_inquiry
from pipeline.store.models import Inquiry, Message, Suggestion, utcnow

# Cases a follow-up can join: still waiting for staff, with no reply approved or sent yet.
JOINABLE = (InquiryState.NEW.value, InquiryState.TRIAGED.value, InquiryState.ROUTED.value,
            InquiryState.SUGGESTED.value, InquiryState.EDITED.value)
_THREAD_TEXTS = 20


def open_case_in_thread(session: Session, inquiry: Inquiry, message: Message) -> Inquiry | None:
    """The open case (its inquiry) this one follows up on: same thread, same sender, newest first; or None."""
    if not message.sender_address or message.automation_reason:
        return None
    return session.scalar(
        select(Inquiry).join(Message, Message.id == Inquiry.message_pk)
        .where(Message.thread_id == message.thread_id, Inquiry.id != inquiry.id, Inquiry.id < inquiry.id,
               Inquiry.follow_up_of.is_(None), Inquiry.state.in_(JOINABLE),
               func.lower(Message.sender_address) == message.sender_address.lower())
        .order_by(Inquiry.id.desc()).limit(1)
    )


def mark_follow_up(session: Session, inquiry: Inquiry, message: Message) -> int | None:
    """Mark a just-stored inquiry as a follow-up of the open case of its thread, if there is one; that case's id
    (the caller notes it in the inquiry's ``stored`` event)."""
    if inquiry.state != InquiryState.NEW.value or inquiry.follow_up_of is not None:
        return None
    case = open_case_in_thread(session, inquiry, message)
    if case is None:
        return None
    inquiry.follow_up_of = case.id
    return case.id


def joinable_case(session: Session, inquiry_id: int) -> int | None:
    """The open case this inquiry follows up on, while that case is still open; else None."""
    target = session.scalar(select(Inquiry.follow_up_of).where(Inquiry.id == inquiry_id))
    if target is None:
        return None
    state = session.scalar(select(Inquiry.state).where(Inquiry.id == target))
    return target if state in JOINABLE else None


def join_case(session: Session, inquiry_id: int, case_id: int, *, actor: str = "system") -> None:
    """Close a follow-up into its case (``handled``, event ``follow_up_joined``): no case or draft of its own."""
    inquiry = session.get(Inquiry, inquiry_id)
    assert inquiry is not None
    move_inquiry(session, inquiry, InquiryState.HANDLED.value, Action.HANDLE.value, event="follow_up_joined",
                 actor=actor, details={"case": case_id})


def latest_follow_up(session: Session, inquiry_id: int) -> int | None:
    """The id of the newest follow-up joined to this case, if any."""
    return session.scalar(select(Inquiry.id).where(Inquiry.follow_up_of == inquiry_id)
                          .order_by(Inquiry.id.desc()).limit(1))


def thread_texts(session: Session, thread_id: int, inquiry_id: int, limit: int = _THREAD_TEXTS) -> tuple[str, ...]:
    """The new texts of the thread's other inquiries (follow-ups and earlier mail), newest first."""
    rows = session.scalars(
        select(Inquiry.new_text).join(Message, Message.id == Inquiry.message_pk)
        .where(Message.thread_id == thread_id, Inquiry.id != inquiry_id)
        .order_by(Inquiry.id.desc()).limit(limit)
    ).all()
    return tuple(text for text in rows if text and text.strip())


def drafts_behind_thread(session: Session, limit: int = 200) -> list[int]:
    """Cases whose draft was last made or changed before their newest follow-up arrived (to draft again),
    oldest first; a draft staff edited after the follow-up came is theirs and is left alone."""
    follow_up = aliased(Inquiry)
    newest_follow_up = (select(func.max(follow_up.created_at)).where(follow_up.follow_up_of == Inquiry.id)
                        .correlate(Inquiry).scalar_subquery())
    newest_draft = (select(func.max(Suggestion.updated_at))
                    .where(Suggestion.inquiry_id == Inquiry.id, Suggestion.kind == "reply")
                    .correlate(Inquiry).scalar_subquery())
    query = (select(Inquiry.id)
             .where(Inquiry.state.in_((InquiryState.SUGGESTED.value, InquiryState.EDITED.value)),
                    Inquiry.follow_up_of.is_(None), newest_follow_up > newest_draft)
             .order_by(Inquiry.id).limit(limit))
    return list(session.scalars(query))


def keep_draft(session: Session, suggestion_id: int, reason: str, *, actor: str = "system") -> None:
    """Keep a draft a follow-up could not improve (no new draft can be made): it is up to date with the thread."""
    suggestion = session.get(Suggestion, suggestion_id)
    if suggestion is None:
        return
    suggestion.updated_at = utcnow()
    inquiry = session.get(Inquiry, suggestion.inquiry_id)
    assert inquiry is not None
    repo.record_event(session, "suggestion_kept", message_pk=inquiry.message_pk, inquiry_id=inquiry.id,
                      from_state=inquiry.state, to_state=inquiry.state, actor=actor,
                      details={"suggestion_id": suggestion_id, "reason": reason[:500]})


def draft_is_behind(session: Session, inquiry_id: int, suggestion_id: int) -> bool:
    """Whether a follow-up joined the case after this draft of it was last made or changed."""
    made = session.scalar(select(Suggestion.updated_at).where(Suggestion.id == suggestion_id))
    newest = session.scalar(select(func.max(Inquiry.created_at)).where(Inquiry.follow_up_of == inquiry_id))
    return made is not None and newest is not None and newest > made
