"""What staff do to a case: reassign, correct, mark handled, take over, undo; each checked, versioned, logged.

Every action names the case version it was made on: when someone else changed
the case since, it is refused with ``Conflict`` and nothing is written. Every
action goes to the action history (for undo) and to the audit log, in one
transaction with the change itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from pipeline.store import repository as repo
from pipeline.store.db import unit_of_work
from pipeline.store.decisions import add_label
from pipeline.store.lifecycle import Action, InquiryState, is_open, move_inquiry
from pipeline.store.models import Case, CaseAction, Inquiry, Label, User, utcnow
from webapp.errors import BadInput, Conflict, Forbidden
from webapp.services import gate
from webapp.services.access import check_access
from webapp.services.gate import Step
from webapp.services.holds import mark_viewing, release_hold, require_free, take_hold
from webapp.services.users import Actor
from webapp.vocabulary import Vocabulary

MAX_NOTE = 2000
UNDOABLE = frozenset({gate.REASSIGN, gate.CORRECT, gate.HANDLED, gate.DISCARD, gate.EDIT})

Change = tuple[dict[str, Any], dict[str, Any]]
UndoReply = Callable[[Session, Inquiry, Case, CaseAction, Actor], Change]


@dataclass(frozen=True)
class ActionResult:
    """What an action did: the case's new version, and a line for the person who did it."""

    inquiry_id: int
    version: int
    message: str
    queue: str
    action_id: int | None = None


def _note(text: str, *, required: bool) -> str:
    note = text.strip()
    if required and not note:
        raise BadInput("write a note saying why")
    if len(note) > MAX_NOTE:
        raise BadInput(f"the note is longer than {MAX_NOTE} characters")
    return note


def _locked_case(session: Session, actor: Actor, inquiry_id: int, *, undoing: bool = False) -> tuple[Inquiry, Case]:
    inquiry, case = check_access(session, actor, inquiry_id, undoing=undoing)
    if case is None:
        raise Conflict("this inquiry is not triaged yet: there is nothing to act on")
    if session.get_bind().dialect.name == "postgresql":
        session.refresh(case, with_for_update=True)
        session.refresh(inquiry, with_for_update=True)
    return inquiry, case


def _last_change(session: Session, inquiry_id: int) -> str:
    row = session.execute(
        select(CaseAction.action, CaseAction.at, User.display_name, User.username)
        .join(User, User.id == CaseAction.user_id)
        .where(CaseAction.inquiry_id == inquiry_id).order_by(CaseAction.id.desc()).limit(1)
    ).first()
    if row is None:
        return "the pipeline updated it"
    action, at, display, username = row
    return f"last: {action.replace('_', ' ')} by {display or username} at {at:%H:%M} UTC"


def check_version(session: Session, case: Case, version: int) -> None:
    """``Conflict`` when the case changed after the version the person saw."""
    if case.version != version:
        raise Conflict(f"this case changed since you opened it ({_last_change(session, case.inquiry_id)}); "
                       "reload it, check the change, and try again: your input is kept")


def perform(db: sessionmaker[Session], actor: Actor, inquiry_id: int, version: int, action: str,
            change: Callable[[Session, Inquiry, Case], Change], *, note: str = "", hold_for: timedelta,
            message: str, release: bool = False, undoing: bool = False, move: Step | None = None) -> ActionResult:
    """Run one action on a case: access, version, hold and state checks, the change, history and audit, one
    transaction.

    ``move`` is the inquiry's state change the action itself makes (checked before anything is written, then
    made by ``move_inquiry`` with the action's audit event); reply actions leave it None, their moves are made
    by the reply service and checked by the change before it calls it.
    """
    now = utcnow()
    with unit_of_work(db) as session:
        inquiry, case = _locked_case(session, actor, inquiry_id, undoing=undoing)
        check_version(session, case, version)
        require_free(session, inquiry_id, actor, now)
        if move is not None:
            gate.check_steps(inquiry, [move])
        from_state = inquiry.state
        before, after = change(session, inquiry, case)
        session.flush()
        details = {"before": before, "after": after, "note": note}
        if move is not None:
            move_inquiry(session, inquiry, move[0], move[1], event=f"staff_{action}", actor=actor.username,
                         details=details, now=now)
        else:
            repo.record_event(session, f"staff_{action}", message_pk=inquiry.message_pk, inquiry_id=inquiry_id,
                              from_state=from_state if inquiry.state != from_state else None,
                              to_state=inquiry.state if inquiry.state != from_state else None,
                              actor=actor.username, details=details)
        if case.state != inquiry.state:
            case.state, case.is_open = inquiry.state, is_open(inquiry.state)
        case.version += 1
        case.updated_at = now
        record = CaseAction(inquiry_id=inquiry_id, user_id=actor.id, action=action, note=note, before=before,
                            after=after, at=now)
        session.add(record)
        if release or not case.is_open:
            release_hold(session, inquiry_id, actor)
        else:
            take_hold(session, inquiry_id, actor, hold_for, now)
        session.flush()
        return ActionResult(inquiry_id, case.version, message, case.queue, record.id)


def reassign(db: sessionmaker[Session], actor: Actor, inquiry_id: int, version: int, queue: str, note: str, *,
             vocabulary: Vocabulary, hold_for: timedelta) -> ActionResult:
    """Send the case to another queue with a note; the new queue is kept as a routing label."""
    if queue not in vocabulary.queues:
        raise BadInput(f"unknown queue {queue[:64]!r}; known: {', '.join(vocabulary.queues)}")
    text = _note(note, required=True)

    def change(session: Session, inquiry: Inquiry, case: Case) -> Change:
        gate.require_offered(inquiry, gate.REASSIGN)
        if case.queue == queue:
            raise BadInput(f"the case is already in {queue!r}")
        before = {"queue": case.queue, "queue_set_by": case.queue_set_by}
        case.queue, case.queue_set_by = queue, actor.username
        label = add_label(session, inquiry_id, "queue", queue, actor.username, decision_id=case.decision_id)
        session.flush()
        return before, {"queue": queue, "queue_set_by": actor.username, "labels": [label.id]}

    return perform(db, actor, inquiry_id, version, "reassign", change, note=text, hold_for=hold_for, release=True,
                   message=f"moved to {queue}")


def correct(db: sessionmaker[Session], actor: Actor, inquiry_id: int, version: int, *, language: str | None,
            topic: str | None, vocabulary: Vocabulary, hold_for: timedelta) -> ActionResult:
    """Correct the language and/or topic; each corrected field is stored as a label (who, when) for training."""
    language = (language or "").strip().lower() or None
    topic = (topic or "").strip() or None
    if language is not None and not vocabulary.is_language(language):
        raise BadInput(f"{language[:20]!r} is not a language code (en, fr, es, de, und...)")
    if topic is not None and topic not in vocabulary.topics:
        raise BadInput(f"unknown topic {topic[:64]!r}; known: {', '.join(vocabulary.topics)}")
    if language is None and topic is None:
        raise BadInput("choose a language or a topic to correct")

    def change(session: Session, inquiry: Inquiry, case: Case) -> Change:
        before = {"language": case.language, "topic": case.topic, "labelled_by": case.labelled_by}
        labels = []
        for field, value in (("language", language), ("topic", topic)):
            if value is not None and value != getattr(case, field):
                labels.append(add_label(session, inquiry_id, field, value, actor.username,
                                        decision_id=case.decision_id))
                setattr(case, field, value)
        if not labels:
            raise BadInput("nothing to correct: the case already has that language and topic")
        case.labelled_by = actor.username
        session.flush()
        return before, {"language": case.language, "topic": case.topic, "labelled_by": actor.username,
                        "labels": [label.id for label in labels]}

    return perform(db, actor, inquiry_id, version, "correct", change, hold_for=hold_for,
                   message="correction saved (kept as training data)")


def mark_handled(db: sessionmaker[Session], actor: Actor, inquiry_id: int, version: int, note: str, *,
                 hold_for: timedelta) -> ActionResult:
    """Close the case without a reply (answered by phone, nothing to answer...)."""
    text = _note(note, required=False)

    def change(session: Session, inquiry: Inquiry, case: Case) -> Change:
        return {"state": inquiry.state}, {"state": InquiryState.HANDLED.value}

    return perform(db, actor, inquiry_id, version, gate.HANDLED, change, note=text, hold_for=hold_for,
                   release=True, message="marked as handled without a reply",
                   move=(InquiryState.HANDLED, Action.HANDLE))


def take_over(db: sessionmaker[Session], actor: Actor, inquiry_id: int, *, hold_for: timedelta) -> ActionResult:
    """Take the hold of a case from whoever has it (they see it at their next action)."""
    now = utcnow()
    with unit_of_work(db) as session:
        inquiry, case = _locked_case(session, actor, inquiry_id)
        if not case.is_open:
            raise Conflict(f"the case is {case.state}: there is nothing to hold")
        take_hold(session, inquiry_id, actor, hold_for, now, force=True)
        repo.record_event(session, "staff_take_over", message_pk=inquiry.message_pk, inquiry_id=inquiry_id,
                          actor=actor.username, details={})
        return ActionResult(inquiry_id, case.version, "you hold this case now", case.queue)


def start_working(db: sessionmaker[Session], actor: Actor, inquiry_id: int, *, hold_for: timedelta) -> ActionResult:
    """Hold a case to work on it ("Start working on it"); ``Conflict`` when someone else holds it."""
    now = utcnow()
    with unit_of_work(db) as session:
        inquiry, case = _locked_case(session, actor, inquiry_id)
        if not case.is_open:
            raise Conflict(f"the case is {case.state}: there is nothing to hold")
        hold = take_hold(session, inquiry_id, actor, hold_for, now)
        if not hold.mine:
            raise Conflict(f"{hold.holder} is working on this case (held until {hold.expires_at:%H:%M} UTC); "
                           "take it over first if they are not")
        return ActionResult(inquiry_id, case.version, "you are working on this case; others see that", case.queue)


def keep_viewing(db: sessionmaker[Session], actor: Actor, inquiry_id: int) -> None:
    """Renew the marker that this person has the case's page open (holds nothing)."""
    with unit_of_work(db) as session:
        check_access(session, actor, inquiry_id)
        mark_viewing(session, inquiry_id, actor, utcnow())


def keep_hold(db: sessionmaker[Session], actor: Actor, inquiry_id: int, *, hold_for: timedelta) -> datetime | None:
    """Extend our hold while the page stays open; None when someone else holds the case now."""
    now = utcnow()
    with unit_of_work(db) as session:
        check_access(session, actor, inquiry_id)
        hold = take_hold(session, inquiry_id, actor, hold_for, now)
        return hold.expires_at if hold.mine else None


def _undo_change(action: CaseAction, actor: Actor) -> Callable[[Session, Inquiry, Case], Change]:
    def change(session: Session, inquiry: Inquiry, case: Case) -> Change:
        before, after = action.before, action.after
        if not gate.undo_allowed(action.action, before, inquiry.state):
            raise Conflict(f"the case is {inquiry.state} now: its last action ({action.action}) cannot be undone")
        label_ids = list(after.get("labels", []))
        if label_ids:
            session.execute(delete(Label).where(Label.id.in_(label_ids), Label.inquiry_id == inquiry.id))
        if action.action == gate.REASSIGN:
            case.queue, case.queue_set_by = before["queue"], before.get("queue_set_by")
        elif action.action == gate.CORRECT:
            case.language, case.topic = before["language"], before["topic"]
            case.labelled_by = before.get("labelled_by")
        elif action.action == gate.HANDLED:
            pass  # the move back to before["state"] is made by ``perform``
        else:
            raise Conflict(f"{action.action!r} cannot be undone here")
        action.undone_at = utcnow()
        action.undone_by = actor.id
        return {"undo_of": action.id, **after}, {"undo_of": action.id, **before}

    return change


def undo_last(db: sessionmaker[Session], actor: Actor, inquiry_id: int, version: int, *,
              hold_for: timedelta, undo_reply: UndoReply | None = None) -> ActionResult:
    """Undo the last action on the case (one's own, or anyone's for an admin), if nothing happened since."""
    with db() as session:
        check_access(session, actor, inquiry_id, undoing=True)
        last = session.scalar(select(CaseAction).where(CaseAction.inquiry_id == inquiry_id)
                              .order_by(CaseAction.id.desc()).limit(1))
        if last is None or last.undone_at is not None or last.action == "undo":
            raise Conflict("there is nothing to undo on this case")
        if last.user_id != actor.id and not actor.is_admin:
            raise Forbidden("the last action on this case is someone else's: only they or an admin can undo it")
        if last.action not in UNDOABLE:
            raise Conflict(f"the last action ({last.action}) cannot be undone")
        action_id, action_name = last.id, last.action
        move = gate.undo_step(action_name, last.before) if action_name == gate.HANDLED else None

    def change(session: Session, inquiry: Inquiry, case: Case) -> Change:
        action = session.get(CaseAction, action_id)
        assert action is not None
        if action.undone_at is not None:
            raise Conflict("that action was undone already")
        if action.action in (gate.EDIT, gate.DISCARD):
            if undo_reply is None:
                raise Conflict(f"{action.action!r} cannot be undone here")
            result = undo_reply(session, inquiry, case, action, actor)
            action.undone_at, action.undone_by = utcnow(), actor.id
            return result
        return _undo_change(action, actor)(session, inquiry, case)

    return perform(db, actor, inquiry_id, version, gate.UNDO, change, hold_for=hold_for, undoing=True,
                   message=f"undone: {action_name.replace('_', ' ')}", move=move)
