"""What the review app offers and accepts in each inquiry state (webapp.services.gate over the state machine)."""

from __future__ import annotations

import pytest

from pipeline.errors import IllegalTransition
from pipeline.store.lifecycle import Action, InquiryState
from pipeline.store.models import Inquiry
from webapp.errors import Conflict
from webapp.services import gate

OFFERED = {
    "new": {"handled", "correct"},
    "triaged": {"suggest", "approve", "handled", "reassign", "correct"},
    "routed": {"suggest", "approve", "handled", "reassign", "correct"},
    "suggested": {"suggest", "edit", "approve", "discard", "handled", "reassign", "correct"},
    "edited": {"suggest", "edit", "approve", "discard", "handled", "reassign", "correct"},
    "approved": {"discard", "correct"},
    "sent": {"correct"},
    "handled": {"correct"},
    "discarded": {"correct"},
}


@pytest.mark.parametrize("state", [s.value for s in InquiryState])
def test_offered_actions_per_state(state: str) -> None:
    assert gate.offered(state) == OFFERED[state]


@pytest.mark.parametrize("state", ["handled", "discarded", "sent"])
def test_a_closed_case_offers_no_reply_work(state: str) -> None:
    assert not gate.offered(state) & {"edit", "approve", "suggest", "handled", "reassign"}


def test_check_steps_walks_the_chain_and_refuses_at_the_first_illegal_step() -> None:
    inquiry = Inquiry(id=4, state="suggested")
    gate.check_steps(inquiry, [(InquiryState.EDITED, Action.EDIT), (InquiryState.APPROVED, Action.APPROVE)])
    with pytest.raises(IllegalTransition) as refused:
        gate.check_steps(inquiry, [(InquiryState.APPROVED, Action.APPROVE), (InquiryState.EDITED, Action.EDIT)])
    assert (refused.value.from_state, refused.value.to_state, refused.value.action) == ("approved", "edited", "edit")
    assert inquiry.state == "suggested"
    handled = Inquiry(id=5, state="handled")
    for steps in ([(InquiryState.APPROVED, Action.APPROVE)], [(InquiryState.EDITED, Action.EDIT)],
                  [(InquiryState.SUGGESTED, Action.SUGGEST)], [(InquiryState.TRIAGED, Action.DISCARD)]):
        with pytest.raises(IllegalTransition):
            gate.check_steps(handled, steps)


def test_require_offered_refuses_reassigning_a_closed_case() -> None:
    gate.require_offered(Inquiry(id=1, state="edited"), gate.REASSIGN)
    with pytest.raises(Conflict, match="the case is handled: reassign is not possible"):
        gate.require_offered(Inquiry(id=1, state="handled"), gate.REASSIGN)


@pytest.mark.parametrize(("action", "before", "state", "allowed"), [
    ("handled", {"state": "suggested"}, "handled", True),
    ("handled", {"state": "triaged"}, "handled", True),
    ("handled", {"state": "approved"}, "handled", False),  # undo never makes a reply approved
    ("handled", {"state": "triaged"}, "triaged", False),   # reopened meanwhile: nothing to undo
    ("edit", {}, "edited", True),
    ("edit", {}, "handled", False),
    ("discard", {}, "triaged", True),
    ("discard", {}, "approved", False),
    ("reassign", {"queue": "legal"}, "suggested", True),
    ("reassign", {"queue": "legal"}, "handled", False),
    ("correct", {}, "sent", True),
])
def test_undo_allowed(action: str, before: dict[str, str], state: str, allowed: bool) -> None:
    assert gate.undo_allowed(action, before, state) is allowed
    if action in ("edit", "discard", "handled") and state in ("handled", "approved") and not allowed:
        with pytest.raises(IllegalTransition):
            gate.check_undo(Inquiry(id=9, state=state), action, before)
