"""Which template answers an inquiry, who is never answered, and the pure suggest step."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import pytest

from classifiers.entities import Entity, extract_entities
from pipeline.config import DeliverySettings, MailboxSettings, RepliesSettings, Settings
from pipeline.mail.parse import parse_message
from responders.facts import InquiryFacts, facts_from_parsed
from responders.policy import ReplyPolicy, blocked_by, cap_reached, refusal
from responders.render import Library, load_library
from responders.select import NoTemplate, ReplyPlan, TemplateChoice, choose_template, plan_reply
from responders.suggest import NoReply, Reply, acknowledgement, suggest_reply
from tests.support.drafts import IntentDecision, decision_for
from tests.support.mail import make_message

ROOT = Path(__file__).resolve().parents[2]
CONTRACT_INTENTS = (
    "application", "application--status", "renewal", "renewal--grace_period", "renewal--lapsed", "renewal--annuity",
    "renewal--partial", "renewal--status", "irregularity", "irregularity--reproductions", "irregularity--fees",
    "correction", "publication", "publication--deferment", "publication--status", "fees", "fees--refund",
    "fees--missing_payment", "fees--receipt", "fees--payment_status", "fees--suspicious_invoice",
    "priority_document", "priority_document--das", "decision", "decision--grant", "decision--invalidation",
    "recording_change", "recording_change--name_address", "recording_change--representative",
    "recording_change--licence", "recording_change--limitation", "eservices", "eservices--account",
    "eservices--upload", "general", "general--designations",
)


@dataclass(frozen=True)
class FakeDecision:
    language: str
    topic: str
    entities: tuple[Entity, ...] = ()
    standard: bool = True
    reason: str = "standard"


@pytest.fixture(scope="module")
def library() -> Library:
    return load_library(ROOT / "config" / "templates")


def _facts(text: str, subject: str = "Question", **changes: object) -> InquiryFacts:
    facts = facts_from_parsed(parse_message(make_message(text, subject=subject)), inquiry_id=12)
    return replace(facts, **changes)  # type: ignore[arg-type]


def _intent(language: str, *intents: str, text: str = "", **changes: object) -> IntentDecision:
    decision = decision_for(language, intents)
    return replace(decision, entities=extract_entities(text), **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(("language", "intents", "text"), [
    # the words point elsewhere ("refund", "password", "grace period"): the intent decides, never the words
    ("en", ("fees--receipt",), "We paid twice, please refund the difference and send an invoice."),
    ("fr", ("renewal--partial",), "Le délai de grâce est-il encore ouvert ? Et pour le renouvellement partiel ?"),
    ("es", ("eservices--upload",), "No puedo iniciar sesión ni subir las reproducciones."),
    ("en", ("publication--status", "fees--payment_status"), "Has DM/212 345 been published? And is our fee paid?"),
])
def test_templates_are_chosen_by_intent_in_the_order_asked(library: Library, language: str,
                                                           intents: tuple[str, ...], text: str) -> None:
    plan = plan_reply(_intent(language, *intents, text=text), library.catalogue)
    assert isinstance(plan, ReplyPlan), plan
    assert [c.template_id for c in plan.choices] == list(intents)
    assert all(c.language == language and c.version >= 1 for c in plan.choices)
    first = choose_template(_intent(language, *intents, text=text), _facts(text), library.catalogue)
    assert isinstance(first, TemplateChoice) and first.template_id == intents[0]


def test_every_intent_of_the_contract_has_a_template_in_every_language(library: Library) -> None:
    for intent in CONTRACT_INTENTS:
        spec = library.catalogue.reply(intent)
        assert spec is not None and spec.topic == intent.split("--")[0], intent
        for language in ("en", "fr", "es"):
            assert library.usable(intent, language), (intent, language)


def test_a_held_back_decision_or_one_without_intents_gets_no_template(library: Library) -> None:
    held = _intent("en", "renewal", standard=False, reason="The sender disputes a refusal.",
                   hold_reason="dispute", queue="legal")
    choice = plan_reply(held, library.catalogue)
    assert isinstance(choice, NoTemplate) and choice.reason == "not a standard inquiry (dispute): The sender disputes a refusal."
    empty = plan_reply(_intent("en"), library.catalogue)
    assert isinstance(empty, NoTemplate) and "names no question" in empty.reason
    staff_asked = plan_reply(held, library.catalogue, require_standard=False)
    assert isinstance(staff_asked, ReplyPlan) and staff_asked.choices[0].template_id == "renewal"


def test_unknown_intents_and_refused_templates_are_never_chosen(library: Library) -> None:
    unknown = plan_reply(_intent("en", "fees", "weather--forecast"), library.catalogue)
    assert isinstance(unknown, NoTemplate) and "intent 'weather--forecast'" in unknown.reason
    catalogue = replace(library.catalogue, refused={("fees--refund", "fr"): "line 3: syntax error"})
    refused = plan_reply(_intent("fr", "fees--refund"), catalogue)
    assert isinstance(refused, NoTemplate) and "refused at load time: line 3: syntax error" in refused.reason


def test_a_language_without_templates_gets_the_default_language_marked_for_translation(library: Library) -> None:
    plan = plan_reply(_intent("de", "general--designations"), library.catalogue)
    assert isinstance(plan, ReplyPlan) and plan.language == "en" and plan.needs_translation
    held = _intent("de", "general--designations", standard=False, reason="Written in German.",
                   hold_reason="unsupported_language", queue="translation")
    held = replace(held, intents=(("general--designations", 0.8),))
    plan = plan_reply(held, library.catalogue)
    assert isinstance(plan, ReplyPlan) and plan.choices[0].template_id == "general--designations"


def test_a_decision_made_before_intents_answers_its_topic(library: Library) -> None:
    plan = plan_reply(FakeDecision("fr", "renewal"), library.catalogue)
    assert isinstance(plan, ReplyPlan) and [c.template_id for c in plan.choices] == ["renewal"]
    held = plan_reply(FakeDecision("fr", "renewal", standard=False, reason="Complaint"), library.catalogue)
    assert isinstance(held, NoTemplate) and held.reason == "not a standard inquiry: Complaint"


# --- policy -------------------------------------------------------------------------------------


def _policy() -> ReplyPolicy:
    settings = Settings(
        replies=RepliesSettings(own_addresses=("helpdesk@registry.example.org",),
                                block_list=("spam@example.net", "@blocked.example", "noisy.example")),
        mailboxes={"desk": MailboxSettings(host="127.0.0.1", user="desk@registry.example.org", password="x",
                                           delivery=DeliverySettings(from_address="replies@registry.example.org"))},
    )
    return ReplyPolicy.from_settings(settings)


@pytest.mark.parametrize(("changes", "expected"), [
    ({}, None),
    ({"is_auto_reply": True, "automation_reason": "Auto-Submitted: auto-replied"}, "automatic reply"),
    ({"is_bounce": True}, "bounce"),
    ({"is_mailing_list": True}, "mailing-list"),
    ({"sender_address": "HelpDesk@Registry.Example.org"}, "office's own addresses"),
    ({"sender_address": "desk@registry.example.org"}, "office's own addresses"),
    ({"sender_address": "replies@registry.example.org"}, "office's own addresses"),
    ({"sender_address": "spam@example.net"}, "block list (spam@example.net)"),
    ({"sender_address": "x@blocked.example"}, "block list (@blocked.example)"),
    ({"sender_address": "x@mail.noisy.example"}, "block list (noisy.example)"),
    ({"reply_to": "x@blocked.example"}, "Reply-To address"),
    ({"sender_address": None}, "no sender address"),
])
def test_who_is_never_answered(changes: dict[str, object], expected: str | None) -> None:
    reason = refusal(_facts("Hello", **changes), _policy())
    assert (reason is None) if expected is None else (reason is not None and expected in reason), reason


def test_block_list_matches_whole_domains_only() -> None:
    assert blocked_by("a@notblocked.example", ["blocked.example"]) is None
    assert blocked_by("a@sub.blocked.example", ["*.blocked.example"]) == "*.blocked.example"


def test_cap_on_automatic_mail() -> None:
    policy = _policy()
    assert policy.auto_cap == 10 and policy.auto_window == timedelta(hours=3)
    assert not cap_reached(9, policy) and cap_reached(10, policy)


# --- suggest ------------------------------------------------------------------------------------


def test_suggest_fills_names_references_and_threading(library: Library) -> None:
    text = "We paid CHF 1,234.50 for A1234567 but only CHF 934.50 was due. Please refund the difference."
    parsed = parse_message(make_message(text, subject="Refund of overpayment", sender="Tom Baker <tom@example.co.uk>",
                                        message_id="<m1@example.co.uk>", headers={"References": "<m0@example.co.uk>"}))
    reply = suggest_reply(_intent("en", "fees--refund", text=text), facts_from_parsed(parsed, inquiry_id=1042),
                          library, _policy())
    assert isinstance(reply, Reply)
    assert (reply.template_id, reply.variant, reply.language) == ("fees--refund", "refund", "en")
    assert reply.intents == ("fees--refund",) and reply.template_versions == (reply.template_version,)
    assert reply.subject == "Re: Refund of overpayment [T-1042]"
    assert reply.text.startswith("Dear Tom Baker,\n\nThank you for your message concerning A1234567.\n\n"
                                 "When more than the amount due has been paid")
    assert (reply.to_address, reply.to_name) == ("tom@example.co.uk", "Tom Baker")
    assert reply.in_reply_to == "m1@example.co.uk" and reply.references == ("m0@example.co.uk", "m1@example.co.uk")
    assert reply.variables["refs"]["applications"] == ["A1234567"]
    assert reply.variables["amounts"] == ["CHF 1234.50", "CHF 934.50"]
    assert len(reply.template_digest) == 64


def test_no_reply_for_non_standard_or_automatic_mail(library: Library) -> None:
    decision = FakeDecision("en", "fees", standard=False, reason="Complaint about fees")
    question = "How much is it?"
    assert suggest_reply(decision, _facts(question), library, _policy()) == \
        NoReply("not a standard inquiry: Complaint about fees")
    assert isinstance(suggest_reply(decision, _facts(question), library, _policy(), require_standard=False), Reply)
    auto = suggest_reply(FakeDecision("en", "fees"), _facts(question, is_auto_reply=True), library, _policy())
    assert isinstance(auto, NoReply) and "never answered" in auto.reason


def test_no_reply_to_an_address_that_cannot_receive_one(library: Library) -> None:
    reply = suggest_reply(FakeDecision("en", "general"), _facts("Which countries?", sender_address="not-an-address"),
                          library, _policy())
    assert isinstance(reply, NoReply) and "not an e-mail address" in reply.reason


def test_acknowledgement_falls_back_to_the_default_language(library: Library) -> None:
    ack = acknowledgement(_facts("Hallo", subject="Frage"), "de", library, _policy())
    assert isinstance(ack, Reply) and ack.language == "en" and "T-12" in ack.text
    assert ack.template_id == "acknowledgement"
