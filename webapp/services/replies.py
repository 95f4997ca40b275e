"""Suggested replies in the review app: shown, suggested on request, edited, approved, discarded, undone.

Every change goes through ``webapp.services.suggestions`` (its checks, statuses and audit
events) inside the case action of ``webapp.services.actions`` (case version,
hold, history), in one transaction. Before the reply service is called, the
inquiry move it would make is checked against the state machine
(``gate.check_steps``): a reply left over on a handled or discarded case can be neither
edited nor approved, and nothing is written or sent. Its errors are translated here: a stale
suggestion is a ``Conflict``, a refused change is ``BadInput``. After approval
the reply is handed to the ``Deliverer`` (Drafts APPEND or SMTP, once).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from pipeline.errors import ConfigError, DeliveryError, IllegalTransition, ReplyError, StaleSuggestionError, \
    StorageError
from pipeline.store.decisions import current_decision
from pipeline.store.lifecycle import Action, InquiryState
from pipeline.store.models import Case, CaseAction, Inquiry
from pipeline.store.replies import SuggestionInfo
from responders.context import ReplyContext
from responders.suggest import NoReply
from webapp.errors import BadInput, Conflict
from webapp.services import gate
from webapp.services import suggestions as reply_service
from webapp.services.actions import ActionResult, perform
from webapp.services.gate import Step
from webapp.services.users import Actor

log = logging.getLogger(__name__)


def current_suggestion(session: Session, inquiry_id: int) -> SuggestionInfo | None:
    """The inquiry's newest suggested reply, whatever its status."""
    return reply_service.current_suggestion(session, inquiry_id)


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except (StaleSuggestionError, IllegalTransition, reply_service.UnfilledBlanks) as exc:
        raise Conflict(str(exc)) from exc
    except ReplyError as exc:
        raise BadInput(str(exc)) from exc


def _open_one(session: Session, inquiry_id: int, suggestion_version: int) -> SuggestionInfo:
    info = reply_service.current_suggestion(session, inquiry_id)
    if info is None or not info.editable:
        raise Conflict("there is no suggested reply waiting on this case (it was sent, discarded or never made)")
    if info.version != suggestion_version:
        raise Conflict(f"the reply was changed by someone else meanwhile ({info.status} by "
                       f"{info.approved_by or 'another person'}): reload it; your text is kept below")
    return info


def _without_reply(session: Session, inquiry_id: int) -> InquiryState:
    # Where a discarded reply leaves the inquiry: the reply service's rule (standard -> triaged, else routed).
    decision = current_decision(session, inquiry_id)
    return InquiryState.TRIAGED if decision is not None and decision.standard else InquiryState.ROUTED


def _needs_edit(info: SuggestionInfo, subject: str, body: str) -> bool:
    return subject.strip() != info.subject.strip() or body.replace("\r\n", "\n").strip() != info.body.strip()


def _context(replies: ReplyContext | None) -> ReplyContext:
    if replies is None:
        raise Conflict("suggested replies are off: the reply templates could not be loaded (see triage check-config)")
    return replies


def edit_reply(db: sessionmaker[Session], actor: Actor, inquiry_id: int, version: int, suggestion_version: int, *,
               subject: str, body: str, replies: ReplyContext | None, hold_for: timedelta) -> ActionResult:
    """Save the edited subject and text of the suggested reply."""
    context = _context(replies)

    def change(session: Session, inquiry: Inquiry, case: Case) -> tuple[dict[str, Any], dict[str, Any]]:
        gate.check_steps(inquiry, [(InquiryState.EDITED, Action.EDIT)])
        info = _open_one(session, inquiry_id, suggestion_version)
        if not _needs_edit(info, subject, body):
            raise BadInput("nothing changed in the reply")
        with _translated():
            edited = reply_service.edit_suggestion(session, info.id, subject, body, actor.username, info.version,
                                                   context)
        return ({"suggestion": info.id, "subject": info.subject, "body": info.body},
                {"suggestion": edited.id, "suggestion_version": edited.version})

    return perform(db, actor, inquiry_id, version, gate.EDIT, change, hold_for=hold_for, message="reply saved")


def approve_reply(db: sessionmaker[Session], actor: Actor, inquiry_id: int, version: int, suggestion_version: int,
                  *, subject: str, body: str, replies: ReplyContext | None, hold_for: timedelta,
                  deliverer: "Deliverer | None" = None) -> ActionResult:
    """Approve the reply as shown (saving any change first); it is then delivered once."""
    context = _context(replies)
    approved: list[int] = []

    def change(session: Session, inquiry: Inquiry, case: Case) -> tuple[dict[str, Any], dict[str, Any]]:
        info = _open_one(session, inquiry_id, suggestion_version)
        expected = info.version
        edit = _needs_edit(info, subject, body)
        steps: list[Step] = [(InquiryState.EDITED, Action.EDIT)] if edit else []
        gate.check_steps(inquiry, [*steps, (InquiryState.APPROVED, Action.APPROVE)])
        with _translated():
            if edit:
                expected = reply_service.edit_suggestion(session, info.id, subject, body, actor.username,
                                                         info.version, context).version
            done = reply_service.approve(session, info.id, actor.username, context, expected_version=expected)
        approved.append(done.id)
        return ({"suggestion": info.id, "status": info.status},
                {"suggestion": done.id, "status": done.status, "message_id": done.message_id})

    result = perform(db, actor, inquiry_id, version, gate.APPROVE, change, hold_for=hold_for, release=True,
                     message="reply approved: it is on its way")
    if deliverer is not None and approved:
        deliverer.submit(approved[0], actor.username)
    return result


def discard_reply(db: sessionmaker[Session], actor: Actor, inquiry_id: int, version: int, suggestion_version: int,
                  *, note: str, replies: ReplyContext | None, hold_for: timedelta) -> ActionResult:
    """Discard the suggested reply; the case stays open for another answer or action."""
    _context(replies)

    def change(session: Session, inquiry: Inquiry, case: Case) -> tuple[dict[str, Any], dict[str, Any]]:
        gate.check_steps(inquiry, [(_without_reply(session, inquiry_id), Action.DISCARD)])
        info = _open_one(session, inquiry_id, suggestion_version)
        with _translated():
            done = reply_service.discard(session, info.id, actor.username, expected_version=info.version)
        return ({"suggestion": info.id, "status": info.status, "subject": info.subject, "body": info.body},
                {"suggestion": done.id, "status": done.status})

    return perform(db, actor, inquiry_id, version, gate.DISCARD, change, note=note.strip()[:2000], hold_for=hold_for,
                   message="reply discarded")


def suggest_reply(db: sessionmaker[Session], actor: Actor, inquiry_id: int, version: int, *,
                  replies: ReplyContext | None, hold_for: timedelta) -> ActionResult:
    """Ask for a suggested reply on a case that has none (a routed case too), from the templates."""
    context = _context(replies)

    def change(session: Session, inquiry: Inquiry, case: Case) -> tuple[dict[str, Any], dict[str, Any]]:
        gate.check_steps(inquiry, [(InquiryState.SUGGESTED, Action.SUGGEST)])
        with _translated():
            made = reply_service.suggest_for_inquiry(session, inquiry_id, context, actor=actor.username,
                                                     require_standard=False)
        if isinstance(made, NoReply):
            raise BadInput(f"no reply can be suggested: {made.reason}")
        return {}, {"suggestion": made.id}

    return perform(db, actor, inquiry_id, version, gate.SUGGEST, change, hold_for=hold_for,
                   message="reply suggested from the templates")


def pick_intents(db: sessionmaker[Session], actor: Actor, inquiry_id: int, version: int, intents: list[str], *,
                 add: bool = False, suggestion_version: int | None = None, replies: ReplyContext | None,
                 hold_for: timedelta) -> ActionResult:
    """Re-draft the reply for another intent (or, with ``add``, for one more after those it answers).

    The draft it replaces is kept aside (shown as the previous draft, restorable); the pick is kept as a
    training label.
    """
    context = _context(replies)

    def change(session: Session, inquiry: Inquiry, case: Case) -> tuple[dict[str, Any], dict[str, Any]]:
        gate.check_steps(inquiry, [(InquiryState.SUGGESTED, Action.SUGGEST)])
        info = reply_service.current_suggestion(session, inquiry_id)
        current = info if info is not None and info.editable else None
        if current is not None and suggestion_version is not None and current.version != suggestion_version:
            raise Conflict("the reply was changed by someone else meanwhile: reload it before switching")
        chosen = list(intents)
        if add:
            answered = _answered(session, inquiry_id, current)
            chosen = [*answered, *(i for i in intents if i not in answered)]
        with _translated():
            made = reply_service.switch_intents(session, inquiry_id, chosen, context, actor=actor.username,
                                                expected_version=current.version if current else None)
        return ({"suggestion": current.id if current else None},
                {"suggestion": made.id, "intents": chosen})

    return perform(db, actor, inquiry_id, version, gate.SUGGEST, change, hold_for=hold_for,
                   message="reply drafted again for " + ", ".join(intents) + " (the previous draft is kept)")


def _answered(session: Session, inquiry_id: int, current: SuggestionInfo | None) -> list[str]:
    """The intents the current draft answers (its templates, in order)."""
    if current is None:
        return []
    return reply_service.draft_intents(session, current.id)


def restore_draft(db: sessionmaker[Session], actor: Actor, inquiry_id: int, version: int, *,
                  replies: ReplyContext | None, hold_for: timedelta) -> ActionResult:
    """Bring back the previous draft (the current one is kept aside in its turn)."""
    _context(replies)

    def change(session: Session, inquiry: Inquiry, case: Case) -> tuple[dict[str, Any], dict[str, Any]]:
        gate.check_steps(inquiry, [(InquiryState.SUGGESTED, Action.SUGGEST)])
        info = reply_service.current_suggestion(session, inquiry_id)
        with _translated():
            made = reply_service.restore_previous(session, inquiry_id, actor.username,
                                                  expected_version=info.version if info and info.editable else None)
        return {"suggestion": info.id if info else None}, {"suggestion": made.id}

    return perform(db, actor, inquiry_id, version, gate.SUGGEST, change, hold_for=hold_for,
                   message="previous draft restored")


def undo_reply(session: Session, inquiry: Inquiry, case: Case, action: CaseAction, actor: Actor,
               replies: ReplyContext | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Undo an edit (the previous text comes back) or a discard (the reply is suggested again, as it was)."""
    context = _context(replies)
    before = action.before
    with _translated():
        if action.action == gate.EDIT:
            info = reply_service.current_suggestion(session, inquiry.id)
            if info is None or not info.editable or info.id != before.get("suggestion"):
                raise Conflict("the reply changed status since: this edit cannot be undone")
            if info.version != action.after.get("suggestion_version"):
                raise Conflict("the reply was changed again since: this edit cannot be undone")
            gate.check_undo(inquiry, action.action, before)
            reply_service.edit_suggestion(session, info.id, before["subject"], before["body"], actor.username,
                                          info.version, context)
        elif action.action == gate.DISCARD:
            gate.check_undo(inquiry, action.action, before)
            made = reply_service.suggest_for_inquiry(session, inquiry.id, context, actor=actor.username,
                                                     require_standard=False)
            if isinstance(made, NoReply):
                raise Conflict(f"the reply cannot be suggested again: {made.reason}")
            if _needs_edit(made, before.get("subject", made.subject), before.get("body", made.body)):
                gate.check_steps(inquiry, [(InquiryState.EDITED, Action.UNDO)])
                reply_service.edit_suggestion(session, made.id, before["subject"], before["body"], actor.username,
                                              made.version, context)
        else:
            raise Conflict(f"{action.action!r} cannot be undone")
    return dict(action.after), dict(before)


class Deliverer:
    """Delivers approved replies in the background, one at a time, so approving never waits for the network."""

    def __init__(self, db: sessionmaker[Session], replies: ReplyContext) -> None:
        self.db = db
        self.replies = replies
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="triage-deliver")

    def submit(self, suggestion_id: int, actor: str) -> Future[None]:
        """Deliver this approved reply soon (Drafts APPEND or SMTP, per its mailbox)."""
        return self._pool.submit(self._deliver, suggestion_id, actor)

    def _deliver(self, suggestion_id: int, actor: str) -> None:
        from responders.deliver import Connections
        from responders.mailboxes import MailboxTransports

        connections = Connections(MailboxTransports(self.replies.settings))
        try:
            outcome = reply_service.deliver_one(self.db, self.replies, connections, suggestion_id, actor=actor)
            log.info("reply %s: %s %s", suggestion_id, outcome.outcome, outcome.detail)
        except (DeliveryError, StorageError, ReplyError, ConfigError) as exc:
            log.error("reply %s could not be delivered now (%s); `triage replies deliver` tries again",
                      suggestion_id, exc)
        except Exception:  # a delivery thread must never die silently: log, the daemon retries
            log.exception("reply %s: delivery failed", suggestion_id)
        finally:
            connections.close()

    def close(self) -> None:
        """Finish the deliveries in hand, then stop."""
        self._pool.shutdown(wait=True)
