"""The inquiry state machine: its states, the transitions allowed between them, and the one way to move.

Every change of ``Inquiry.state`` in every package goes through ``move_inquiry``:
it checks the transition against ``TRANSITIONS``, sets the state and appends
the audit event in the caller's session, so both are committed together or not
at all. A transition not in the table raises ``IllegalTransition`` and changes
nothing.

A transition is allowed for named actions only: ``handled -> suggested`` is
allowed to ``undo`` (reopening the case) but not to ``edit``; that is what keeps
a reply that was left over when a case was closed from reopening it or being
sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from pipeline.errors import IllegalTransition
from pipeline.store.models import AuditEvent, Inquiry, utcnow


class InquiryState(StrEnum):
    """Where an inquiry stands."""

    NEW = "new"                # stored, not triaged yet
    TRIAGED = "triaged"        # standard: waits for a suggested reply
    ROUTED = "routed"          # needs a person: in its section's queue, no canned reply
    SUGGESTED = "suggested"    # a suggested reply waits for review
    EDITED = "edited"          # staff changed the suggested reply
    APPROVED = "approved"      # the reply is approved and waits for delivery
    SENT = "sent"              # the reply left (Drafts or SMTP)
    HANDLED = "handled"        # closed by staff without a reply
    DISCARDED = "discarded"    # closed: the suggested reply was thrown away with the case


class Action(StrEnum):
    """What moves an inquiry: the actions the table allows per transition."""

    TRIAGE = "triage"          # a decision from the model (first triage or re-triage)
    SUGGEST = "suggest"        # a suggested reply was made (or made again)
    EDIT = "edit"              # staff edited the reply
    APPROVE = "approve"        # staff (or the acknowledgement policy) approved the reply
    UNAPPROVE = "unapprove"    # a delivery was refused before sending: back to editing
    SEND = "send"              # the reply was delivered (or staff confirmed it was)
    DISCARD = "discard"        # the reply was discarded (the case goes back to its triage state or closes)
    HANDLE = "handle"          # staff closed the case without a reply
    ROUTE = "route"            # no reply can be made: the case goes to staff
    UNDO = "undo"              # staff undid their last action


S, A = InquiryState, Action
_PRE_REPLY = (S.TRIAGED, S.ROUTED)
_OPEN_REPLY = (S.SUGGESTED, S.EDITED)


def _table() -> dict[tuple[InquiryState, InquiryState], frozenset[Action]]:
    table: dict[tuple[InquiryState, InquiryState], set[Action]] = {}

    def allow(sources: Iterable[InquiryState], targets: Iterable[InquiryState], *actions: Action) -> None:
        for source in sources:
            for target in targets:
                table.setdefault((source, target), set()).update(actions)

    allow([S.NEW, *_PRE_REPLY], _PRE_REPLY, A.TRIAGE)
    allow([*_PRE_REPLY, *_OPEN_REPLY], [S.SUGGESTED], A.SUGGEST)
    allow(_OPEN_REPLY, [S.EDITED], A.EDIT)
    allow([*_PRE_REPLY, *_OPEN_REPLY], [S.APPROVED], A.APPROVE)
    allow([S.APPROVED], [S.EDITED], A.UNAPPROVE)
    allow([S.APPROVED], [S.SENT], A.SEND)
    allow(_OPEN_REPLY, [*_PRE_REPLY, S.DISCARDED], A.DISCARD)
    allow([S.APPROVED], [*_PRE_REPLY, S.DISCARDED], A.DISCARD)  # a refused automatic reply
    allow([S.NEW, *_PRE_REPLY, *_OPEN_REPLY], [S.HANDLED], A.HANDLE)
    allow([*_PRE_REPLY, *_OPEN_REPLY], [S.ROUTED], A.ROUTE)
    # Undo puts back what the last staff action changed: reopening a handled case, or un-discarding.
    allow([S.HANDLED, S.DISCARDED], [S.NEW, *_PRE_REPLY, *_OPEN_REPLY], A.UNDO)
    allow([S.SUGGESTED, *_PRE_REPLY], [S.EDITED, S.SUGGESTED, *_PRE_REPLY], A.UNDO)
    return {key: frozenset(actions) for key, actions in table.items()}


TRANSITIONS: Mapping[tuple[InquiryState, InquiryState], frozenset[Action]] = _table()

# States that need nothing more from staff.
CLOSED_STATES = frozenset({S.APPROVED, S.SENT, S.HANDLED, S.DISCARDED})


def is_open(state: str) -> bool:
    """Whether an inquiry in this state still waits for staff."""
    return state not in CLOSED_STATES


def can_move(from_state: str, to_state: str, action: str) -> bool:
    """Whether the table lets ``action`` move an inquiry from ``from_state`` to ``to_state``."""
    try:
        key = (InquiryState(from_state), InquiryState(to_state))
        act = Action(action)
    except ValueError:
        return False
    return act in TRANSITIONS.get(key, frozenset())


def allowed_actions(state: str) -> frozenset[Action]:
    """The actions that can move an inquiry out of ``state`` (what the review app and the API offer)."""
    try:
        current = InquiryState(state)
    except ValueError:
        return frozenset()
    return frozenset(action for (source, _), actions in TRANSITIONS.items() if source == current
                     for action in actions)


def check_transition(from_state: str, to_state: str, action: str, *, inquiry_id: int | None = None) -> None:
    """Raise ``IllegalTransition`` unless the table allows it."""
    if not can_move(from_state, to_state, action):
        raise IllegalTransition(from_state, to_state, action, inquiry_id=inquiry_id)


def move_inquiry(
    session: Session,
    inquiry: Inquiry,
    to_state: str,
    action: str,
    *,
    event: str,
    actor: str = "system",
    details: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> AuditEvent:
    """Move ``inquiry`` to ``to_state`` by ``action`` and append ``event`` to the audit log, in the caller's session.

    Raises ``IllegalTransition`` (nothing changed) when the table does not allow it; staying in the same
    state is a transition like any other (``routed -> routed`` by a re-triage is in the table).
    """
    from_state = inquiry.state
    check_transition(from_state, to_state, action, inquiry_id=inquiry.id)
    if from_state != to_state:
        inquiry.state = InquiryState(to_state).value
        inquiry.updated_at = now or utcnow()
    row = AuditEvent(
        event=event,
        message_pk=inquiry.message_pk,
        inquiry_id=inquiry.id,
        from_state=from_state,
        to_state=inquiry.state,
        actor=actor,
        details=details or {},
    )
    session.add(row)
    return row
