"""Which case actions the inquiry's state allows: the review app's reading of ``pipeline.store.lifecycle``.

The page offers, and the forms and the API accept, only what the state machine
allows from the inquiry's current state. An action that moves the inquiry is
checked step by step against the transition table *before* anything is written
(``check_steps``), so a refused action changes nothing and sends nothing.

Reassigning and correcting do not move the inquiry: a case can be reassigned
while it waits for staff (an open state); a correction (a training label) can be
made in any state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.store.lifecycle import Action, InquiryState, allowed_actions, can_move, check_transition, is_open
from pipeline.store.models import Inquiry
from webapp.errors import Conflict

# A move of the inquiry: the state it reaches, and the lifecycle action that moves it there.
Step = tuple[str, Action]

# The review app's case actions; the first five are lifecycle actions, the others move nothing.
EDIT, APPROVE, DISCARD, SUGGEST, HANDLED = "edit", "approve", "discard", "suggest", "handled"
REASSIGN, CORRECT, UNDO = "reassign", "correct", "undo"
_MOVES: Mapping[str, Action] = {EDIT: Action.EDIT, APPROVE: Action.APPROVE, DISCARD: Action.DISCARD,
                                SUGGEST: Action.SUGGEST, HANDLED: Action.HANDLE}


def check_steps(inquiry: Inquiry, steps: Sequence[Step]) -> None:
    """Raise ``IllegalTransition`` unless every step is allowed, each from the state the one before reaches."""
    state = inquiry.state
    for to_state, action in steps:
        check_transition(state, to_state, action, inquiry_id=inquiry.id)
        state = to_state


def offered(state: str) -> frozenset[str]:
    """The case actions (edit, approve, discard, suggest, handled, reassign, correct) allowed in ``state``.

    Whether undo is allowed depends on the action it takes back: see ``undo_allowed``.
    """
    moves = allowed_actions(state)
    names = {name for name, action in _MOVES.items() if action in moves}
    if is_open(state) and state != InquiryState.NEW:
        names.add(REASSIGN)
    names.add(CORRECT)
    return frozenset(names)


def require_offered(inquiry: Inquiry, name: str) -> None:
    """``Conflict`` (nothing done) when the inquiry's state does not allow this action that moves nothing."""
    if name not in offered(inquiry.state):
        raise Conflict(f"the case is {inquiry.state}: {name} is not possible in that state (nothing was changed)")


def undo_step(action: str, before: Mapping[str, Any]) -> Step | None:
    """The first move undoing ``action`` makes; None when it moves nothing (reassign, correct).

    Undoing "handled" reopens the case in the state it had; undoing an edit edits the reply back (an edit
    move); undoing a discard suggests the reply again.
    """
    if action == HANDLED:
        return str(before.get("state", "")), Action.UNDO
    if action == EDIT:
        return InquiryState.EDITED, Action.EDIT
    if action == DISCARD:
        return InquiryState.SUGGESTED, Action.UNDO
    return None


def check_undo(inquiry: Inquiry, action: str, before: Mapping[str, Any]) -> None:
    """``IllegalTransition`` (nothing written) unless the first move of undoing ``action`` is allowed."""
    step = undo_step(action, before)
    if step is not None:
        check_steps(inquiry, [step])


def undo_allowed(action: str, before: Mapping[str, Any], state: str) -> bool:
    """Whether undoing ``action`` (whose record kept ``before``) is allowed while the inquiry is in ``state``."""
    if action == HANDLED and state != InquiryState.HANDLED:
        return False
    if action == REASSIGN:
        return REASSIGN in offered(state)
    step = undo_step(action, before)
    return step is None or can_move(state, *step)
