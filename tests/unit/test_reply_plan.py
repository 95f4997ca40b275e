"""triage.plan_reply: when a message gets a standard reply and when a person must read it."""

from __future__ import annotations

import pytest

from classifiers.holdback import HoldBack
from classifiers.inputs import TriageInput
from classifiers.intents import IntentResult
from classifiers.routing import Routing
from classifiers.signals import Signals
from classifiers.triage import Reading, plan_reply

ROUTED = Routing("customer_service", True, "standard inquiry", "standard")
UNSURE = IntentResult((("recording_change", 0.26), ("renewal", 0.2)), ())
SURE = IntentResult((("recording_change--name_address", 0.9),), ("recording_change--name_address",))
QUIET = HoldBack(probability=0.01, queue="operations", queue_probability=0.9, reason="complaint", reason_probability=0.1)


def _plan(intents: IntentResult, signals: Signals, triage_config):  # type: ignore[no-untyped-def]
    item = TriageInput.from_text("Holder name", "Can you record the new name of the holder before Wednesday?")
    return plan_reply(item, "en", "recording_change", signals, ROUTED, Reading(intents, QUIET, 0.4),
                      triage_config)


@pytest.mark.parametrize("signals", [Signals(urgent=True), Signals(deadline="2025-05-21")])
def test_an_urgent_message_whose_intent_is_a_guess_goes_to_a_person(signals: Signals, triage_config) -> None:  # type: ignore[no-untyped-def]
    plan = _plan(UNSURE, signals, triage_config)
    assert (plan.standard, plan.hold_reason, plan.queue) == (False, "deadline_at_risk", "operations")
    assert "time limit" in plan.reason


def test_an_urgent_message_with_a_sure_intent_is_answered(triage_config) -> None:  # type: ignore[no-untyped-def]
    plan = _plan(SURE, Signals(urgent=True), triage_config)
    assert plan.standard and plan.answer_intents == ("recording_change--name_address",)


def test_a_calm_message_whose_intent_is_a_guess_goes_to_its_topics_section(triage_config) -> None:  # type: ignore[no-untyped-def]
    plan = _plan(UNSURE, Signals(), triage_config)
    assert (plan.standard, plan.hold_reason, plan.queue) == (False, "low_confidence", "operations")
    assert plan.answer_intents == ()
