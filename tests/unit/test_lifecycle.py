"""The inquiry state machine: every (from, to, action) of the product of states x states x actions is either in
the table written out below (allowed) or refused, and ``move_inquiry`` changes nothing when it refuses."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from pipeline.errors import IllegalTransition
from pipeline.store.lifecycle import (
    CLOSED_STATES,
    TRANSITIONS,
    Action,
    InquiryState,
    allowed_actions,
    can_move,
    check_transition,
    is_open,
    move_inquiry,
)
from pipeline.store.models import AuditEvent, Inquiry

# The allowed moves, written out by hand (one line per action: "from -> to" pairs), so the test does not
# derive its expectation from the table it checks.
EXPECTED_TEXT = {
    Action.TRIAGE: """new->triaged new->routed triaged->triaged triaged->routed routed->triaged routed->routed""",
    Action.SUGGEST: """triaged->suggested routed->suggested suggested->suggested edited->suggested""",
    Action.EDIT: """suggested->edited edited->edited""",
    Action.APPROVE: """triaged->approved routed->approved suggested->approved edited->approved""",
    Action.UNAPPROVE: """approved->edited""",
    Action.SEND: """approved->sent""",
    Action.DISCARD: """suggested->triaged suggested->routed suggested->discarded
                       edited->triaged edited->routed edited->discarded
                       approved->triaged approved->routed approved->discarded""",
    Action.HANDLE: """new->handled triaged->handled routed->handled suggested->handled edited->handled""",
    Action.ROUTE: """triaged->routed routed->routed suggested->routed edited->routed""",
    Action.UNDO: """handled->new handled->triaged handled->routed handled->suggested handled->edited
                    discarded->new discarded->triaged discarded->routed discarded->suggested discarded->edited
                    suggested->edited suggested->suggested suggested->triaged suggested->routed
                    triaged->edited triaged->suggested triaged->triaged triaged->routed
                    routed->edited routed->suggested routed->triaged routed->routed""",
}


def _expected() -> frozenset[tuple[str, str, str]]:
    allowed = set()
    for action, text in EXPECTED_TEXT.items():
        for pair in text.split():
            source, target = pair.split("->")
            allowed.add((source, target, action.value))
    return frozenset(allowed)


EXPECTED = _expected()
STATES = [state.value for state in InquiryState]
ACTIONS = [action.value for action in Action]
EVERY_MOVE = list(itertools.product(STATES, STATES, ACTIONS))
ALLOWED = sorted(EXPECTED)
REFUSED = [move for move in EVERY_MOVE if move not in EXPECTED]


def _id(move: tuple[str, str, str]) -> str:
    return f"{move[0]}->{move[1]}:{move[2]}"


class Recorder:
    """A session stand-in for the pure tests: it only keeps what ``add`` was given."""

    def __init__(self) -> None:
        self.added: list[Any] = []

    def add(self, row: Any) -> None:
        self.added.append(row)


def test_the_written_table_names_only_real_states_and_actions_and_is_not_empty() -> None:
    assert len(EXPECTED) == 58
    assert {s for s, _, _ in EXPECTED} | {t for _, t, _ in EXPECTED} <= set(STATES)
    assert len(EVERY_MOVE) == len(STATES) ** 2 * len(ACTIONS) == len(ALLOWED) + len(REFUSED)


def test_the_table_is_exactly_the_written_one() -> None:
    actual = {(s.value, t.value, a.value) for (s, t), actions in TRANSITIONS.items() for a in actions}
    assert actual == EXPECTED


@pytest.mark.parametrize("move", ALLOWED, ids=_id)
def test_allowed_move(move: tuple[str, str, str]) -> None:
    source, target, action = move
    assert can_move(source, target, action)
    check_transition(source, target, action)
    assert Action(action) in allowed_actions(source)
    inquiry = Inquiry(id=7, message_pk=3, state=source)
    session = Recorder()
    event = move_inquiry(session, inquiry, target, action, event="test_move", actor="sam")  # type: ignore[arg-type]
    assert inquiry.state == target
    assert session.added == [event]
    assert isinstance(event, AuditEvent)
    assert (event.from_state, event.to_state, event.inquiry_id, event.actor) == (source, target, 7, "sam")


@pytest.mark.parametrize("move", REFUSED, ids=_id)
def test_refused_move(move: tuple[str, str, str]) -> None:
    source, target, action = move
    assert not can_move(source, target, action)
    with pytest.raises(IllegalTransition) as refused:
        check_transition(source, target, action, inquiry_id=7)
    assert (refused.value.from_state, refused.value.to_state, refused.value.action) == (source, target, action)
    assert f"inquiry 7 is {source}: {action} cannot move it to {target}" in str(refused.value)
    inquiry = Inquiry(id=7, message_pk=3, state=source)
    session = Recorder()
    with pytest.raises(IllegalTransition):
        move_inquiry(session, inquiry, target, action, event="test_move", actor="sam")  # type: ignore[arg-type]
    assert inquiry.state == source
    assert session.added == []


@pytest.mark.parametrize("source", STATES)
def test_allowed_actions_are_those_of_the_written_table(source: str) -> None:
    assert {a.value for a in allowed_actions(source)} == {a for s, _, a in EXPECTED if s == source}


@pytest.mark.parametrize(("source", "target", "action"), [
    ("handled", "approved", "approve"),
    ("handled", "edited", "edit"),
    ("handled", "sent", "send"),
    ("handled", "suggested", "suggest"),
    ("handled", "triaged", "discard"),
    ("discarded", "approved", "approve"),
    ("discarded", "edited", "edit"),
    ("sent", "edited", "undo"),
    ("sent", "approved", "approve"),
])
def test_a_closed_case_cannot_be_edited_approved_or_sent(source: str, target: str, action: str) -> None:
    assert not can_move(source, target, action)


@pytest.mark.parametrize("before", ["new", "triaged", "routed", "suggested", "edited"])
def test_undo_of_handled_reopens_the_case_as_it_was(before: str) -> None:
    assert can_move("handled", before, "undo")
    assert allowed_actions("handled") == {Action.UNDO}
    assert allowed_actions("discarded") == {Action.UNDO}


@pytest.mark.parametrize(("source", "target", "action"), [
    ("nonsense", "handled", "handle"), ("new", "nonsense", "handle"), ("new", "handled", "nonsense"), ("", "", ""),
])
def test_unknown_names_are_refused(source: str, target: str, action: str) -> None:
    assert not can_move(source, target, action)
    with pytest.raises(IllegalTransition):
        check_transition(source, target, action)
    if source not in STATES:
        assert allowed_actions(source) == frozenset()


def test_open_and_closed_states() -> None:
    assert CLOSED_STATES == {"approved", "sent", "handled", "discarded"}
    assert [s for s in STATES if is_open(s)] == ["new", "triaged", "routed", "suggested", "edited"]
