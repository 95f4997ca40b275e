"""Renewal instructions per patent: what one mail says, and how it stands against earlier mail of the thread or client."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from classifiers.entities import extract_entities
from classifiers.routing import RouteFacts, load_rules, route
from classifiers.signals import (
    EarlierInstruction,
    PatentInstruction,
    check_instructions,
    detect_signals,
    instruction_patents,
    instructions_in,
    patent_key,
    patent_label,
    states_change,
)
from classifiers.taxonomy import Taxonomy, load_taxonomy

ROOT = Path(__file__).resolve().parents[2]
RENEWALS = ROOT / "config" / "desks" / "renewals"
LANGUAGES = ("en", "fr", "es", "de")
Q4 = EarlierInstruction("EP1234567", "pay", date(2026, 11, 2), "Renewal instructions Q4", 7)


@pytest.fixture(scope="module")
def renewals() -> Taxonomy:
    return load_taxonomy(RENEWALS / "taxonomy.toml")


@pytest.fixture(scope="module")
def registry() -> Taxonomy:
    return load_taxonomy(ROOT / "config" / "taxonomy.toml")


def said(text: str, taxonomy: Taxonomy) -> list[tuple[str, str]]:
    return [(i.patent, i.instruction) for i in instructions_in(text, LANGUAGES, taxonomy.words)]


@pytest.mark.parametrize(("text", "expected"), [
    ("Please pay the annuity for EP 1 234 567.", [("EP1234567", "pay")]),
    ("Do not pay EP1234567.", [("EP1234567", "abandon")]),
    ("Please don't pay the renewal for EP 1 234 567.", [("EP1234567", "abandon")]),  # a pay phrase inside: abandon
    ("Do not renew EP 1 234 567 - RI-2025-7245", [("EP1234567", "abandon")]),
    ("Please let EP 1 234 567 lapse.", [("EP1234567", "abandon")]),  # the number reads as "it": "let it lapse"
    ("Merci de ne pas renouveler FR 3 045 112.", [("FR3045112", "abandon")]),
    ("No renovar ES 2 654 321, por favor.", [("ES2654321", "abandon")]),
    ("EP 1 234 567 bitte nicht verlängern.", [("EP1234567", "abandon")]),
    ("Bitte zahlen Sie die Jahresgebühr für EP 1 234 567 B1.", [("EP1234567", "pay")]),
    ("What will the annuity for EP 1 234 567 cost?", []),
    # German closes on its negation: the whole sentence is let lapse, every patent of it
    ("Bitte zahlen Sie die Jahresgebühr für EP 1 234 567, WO 2021/123456 und EP2345678 NICHT.",
     [("EP1234567", "abandon"), ("WO2021123456", "abandon"), ("EP2345678", "abandon")]),
    ("Die Jahresgebühr für EP 1 234 567 bitte nicht mehr zahlen.", [("EP1234567", "abandon")]),
    # an ordinal's period ends no sentence: the instruction reaches the numbers after it
    ("Bitte zahlen Sie die Jahresgebühr für das 7. Jahr für EP 1 998 240 und EP2345678 in Deutschland.",
     [("EP1998240", "pay"), ("EP2345678", "pay")]),
    ("Please pay the annuity for EP 1 234 567. Do not pay EP 2 345 678.",
     [("EP1234567", "pay"), ("EP2345678", "abandon")]),
])
def test_what_one_mail_instructs_per_patent_negations_included(renewals: Taxonomy, text: str,
                                                                expected: list[tuple[str, str]]) -> None:
    assert said(text, renewals) == expected


def test_several_patents_in_one_mail_each_with_its_own_instruction(renewals: Taxonomy) -> None:
    text = ("Please pay the annuities for EP 1 234 567 and EP 2 345 678, but let EP 3 456 789 lapse.\n"
            "Do not pay US 10,123,456 B2; keep WO 2021/123456 in force.")
    assert said(text, renewals) == [("EP1234567", "pay"), ("EP2345678", "pay"), ("EP3456789", "abandon"),
                                    ("US10123456", "abandon"), ("WO2021123456", "pay")]
    # a list of numbers after a comma takes the instruction of its sentence
    assert said("Please pay the annuity for EP 1 234 567, EP 2 345 678 and EP 3 456 789.", renewals) == [
        ("EP1234567", "pay"), ("EP2345678", "pay"), ("EP3456789", "pay")]


def test_the_registry_desk_reads_no_instruction(registry: Taxonomy) -> None:
    assert said("Please pay the annuity for EP 1 234 567. Do not pay EP 1 234 567.", registry) == []
    assert not states_change("Change of instruction: let EP 1 234 567 lapse.", LANGUAGES, registry.words)


def test_numbers_written_differently_are_one_patent() -> None:
    values = {patent_key(e.value) for text in ("EP1234567", "EP 1 234 567", "EP 1.234.567 B1", "EP1234567A1")
              for e in extract_entities(text) if e.kind == "patent"}
    assert values == {"EP1234567"}
    assert patent_label("EP1234567") == "EP 1 234 567" and patent_label("EP3456789B1") == "EP 3 456 789 B1"
    assert patent_label("US10123456") == "US10123456"


def test_an_earlier_instruction_contradicted_is_a_conflict_with_both_instructions_and_the_earlier_mail() -> None:
    check = check_instructions([PatentInstruction("EP1234567", "abandon")], [Q4])
    assert check.conflict == "EP1234567" and not check.changed
    assert check.detail == ("Conflicting instructions for EP 1 234 567: pay (mail of 2026-11-02, "
                            "'Renewal instructions Q4') and now let lapse")
    reverse = check_instructions([PatentInstruction("EP1234567", "pay")],
                                 [EarlierInstruction("EP1234567", "abandon", date(2026, 10, 1), "Drop list", 3)])
    assert reverse.conflict == "EP1234567" and "let lapse (mail of 2026-10-01, 'Drop list') and now pay" in str(
        reverse.detail)


def test_a_repeat_or_another_patent_is_no_conflict() -> None:
    assert check_instructions([PatentInstruction("EP1234567", "pay")], [Q4]).detail is None
    assert check_instructions([PatentInstruction("EP2345678", "abandon")], [Q4]).conflict is None
    assert check_instructions([], [Q4]).conflict is None


def test_the_latest_earlier_instruction_is_the_one_that_stands() -> None:
    later = EarlierInstruction("EP1234567", "abandon", date(2026, 11, 20), "Change", 9)
    assert check_instructions([PatentInstruction("EP1234567", "abandon")], [Q4, later]).conflict is None
    assert check_instructions([PatentInstruction("EP1234567", "pay")], [later, Q4]).conflict == "EP1234567"


def test_a_patent_both_to_pay_and_to_let_lapse_in_one_mail_stays_a_conflict() -> None:
    check = check_instructions([PatentInstruction("EP1234567", "pay"), PatentInstruction("EP1234567", "abandon")])
    assert check.conflict == "EP1234567" and "in one mail" in str(check.detail)


@pytest.mark.parametrize(("language", "text"), [
    ("en", "Change of instruction: please let EP 1 234 567 lapse."),
    ("en", "Please cancel our earlier instruction and let EP 1 234 567 lapse."),
    ("fr", "Changement d'instruction : veuillez laisser expirer EP 1 234 567."),
    ("es", "Cambio de instrucciones: dejen caducar EP 1 234 567."),
    ("de", "Änderung unserer Anweisung: EP 1 234 567 bitte verfallen lassen."),
])
def test_a_change_the_sender_states_is_an_instruction_change_not_a_conflict(renewals: Taxonomy, language: str,
                                                                           text: str) -> None:
    entities = extract_entities(text)
    signals = detect_signals(text, language=language, entities=entities, ranked_topics=["instruction"],
                             topic_margins=[1.0], sent_on=date(2026, 11, 30), automated=False, taxonomy=renewals,
                             earlier=[Q4])
    assert signals.names >= {"instruction_change"} and "conflict" not in signals.names
    assert signals.instruction_detail == ("Instruction changed for EP 1 234 567: pay (mail of 2026-11-02, "
                                          "'Renewal instructions Q4'), now let lapse")
    assert instruction_patents(signals, entities) == ("EP1234567",)


def test_a_cancelled_instruction_without_a_new_one_is_a_change_too(renewals: Taxonomy) -> None:
    text = "Please cancel our earlier instruction for EP 1 234 567."
    signals = detect_signals(text, language="en", entities=extract_entities(text), ranked_topics=["instruction"],
                             topic_margins=[1.0], sent_on=None, automated=False, taxonomy=renewals, earlier=[Q4])
    assert signals.instruction_change and signals.instructions == ()
    assert signals.instruction_detail == ("Instruction changed for EP 1 234 567: pay (mail of 2026-11-02, "
                                          "'Renewal instructions Q4') cancelled")


def test_signals_carry_the_instructions_and_the_conflict_with_earlier_mail(renewals: Taxonomy,
                                                                          registry: Taxonomy) -> None:
    text = "Renewals\nPlease let EP 1 234 567 lapse, but pay the annuity for EP 2 345 678."
    kwargs = dict(language="en", entities=extract_entities(text), ranked_topics=["instruction"], topic_margins=[1.0],
                  sent_on=None, automated=False, earlier=[Q4])
    signals = detect_signals(text, taxonomy=renewals, **kwargs)  # type: ignore[arg-type]
    assert "conflict" in signals.names and signals.conflict == "EP1234567"
    assert signals.as_json()["instructions"] == [{"patent": "EP1234567", "instruction": "abandon"},
                                                 {"patent": "EP2345678", "instruction": "pay"}]
    assert any(e.startswith("conflict: Conflicting instructions for EP 1 234 567") for e in signals.evidence)
    alone = detect_signals(text, taxonomy=renewals, **{**kwargs, "earlier": ()})  # type: ignore[arg-type]
    assert "conflict" not in alone.names
    untouched = detect_signals(text, taxonomy=registry, **kwargs)  # type: ignore[arg-type]
    assert untouched.instructions == () and not ({"conflict", "instruction_change"} & untouched.names)


def test_the_renewal_desk_holds_a_conflict_or_a_change_for_a_person_with_the_reason(renewals: Taxonomy) -> None:
    rules = load_rules(RENEWALS / "routing.toml", renewals)
    facts = RouteFacts(language="en", language_band="high", language_confidence=0.99, topic="instruction",
                       topic_band="high", confidence=0.9, topics=("instruction",), signals=frozenset({"conflict"}),
                       sender_domain="client.example", entity_kinds=frozenset({"patent"}),
                       instruction="Conflicting instructions for EP 1 234 567: pay (mail of 2026-11-02, "
                                   "'Renewal instructions Q4') and now let lapse")
    conflict = route(facts, rules, renewals)
    assert (conflict.queue, conflict.standard, conflict.hold_reason) == ("renewals_processing", False,
                                                                         "conflicting_instructions")
    assert conflict.reason.startswith(facts.instruction + ": a person confirms")
    changed = route(RouteFacts(**{**facts.__dict__, "signals": frozenset({"instruction_change", "deadline"})}),
                    rules, renewals)
    assert (changed.queue, changed.hold_reason) == ("renewals_processing", "instruction_changed")
    assert "the client changes an instruction" in changed.reason


def test_the_window_of_earlier_instructions_is_configured(renewals: Taxonomy, registry: Taxonomy) -> None:
    assert renewals.instruction_days == 120 and registry.instruction_days == 120  # the registry: the default
