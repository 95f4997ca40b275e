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
from responders.select import NoTemplate, TemplateChoice, choose_template
from responders.suggest import NoReply, Reply, acknowledgement, suggest_reply
from tests.support.mail import make_message

ROOT = Path(__file__).resolve().parents[2]


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


def _decision(language: str, topic: str, text: str) -> FakeDecision:
    return FakeDecision(language, topic, extract_entities(text))


@pytest.mark.parametrize(("language", "topic", "text", "variant"), [
    ("en", "fees", "We paid twice for A1234567, please refund the difference.", "fees--refund"),
    ("en", "fees", "Our payment of CHF 300 has not been received according to your portal.", "fees--missing_payment"),
    ("en", "fees", "Could you send an invoice for our last payment?", "fees--receipt"),
    ("en", "fees", "How much does it cost to designate Japan?", "fees"),
    ("fr", "fees", "Nous avons payé deux fois, merci de nous rembourser.", "fees--refund"),
    ("es", "fees", "¿Podrían enviarnos la factura del pago?", "fees--receipt"),
    ("en", "renewal", "Is the 6-month grace period still available?", "renewal--grace_period"),
    ("en", "renewal", "Our registration DM/212 345 lapsed last year, can it be restored?", "renewal--lapsed"),
    ("fr", "renewal", "Le délai de grâce est-il encore ouvert ?", "renewal--grace_period"),
    ("es", "renewal", "El registro caducó, ¿hay restablecimiento?", "renewal--lapsed"),
    ("en", "renewal", "Please pay the annuity for EP 3 456 789.", "renewal--annuity"),
    ("en", "renewal", "When is DM/212 345 due for renewal?", "renewal"),
    ("fr", "irregularity", "Les reproductions seraient de qualité insuffisante.", "irregularity--reproductions"),
    ("en", "irregularity", "The notice says the fee paid was insufficient.", "irregularity--fees"),
    ("es", "priority_document", "¿Cuál es el código de acceso DAS?", "priority_document--das"),
    ("fr", "publication", "Nous avions demandé l'ajournement de la publication.", "publication--deferment"),
    ("en", "decision", "We received a statement of grant of protection from Japan.", "decision--grant"),
    ("en", "decision", "We received a refusal from the office of Japan.", "decision"),
    ("en", "recording_change", "Our client changed its name to ACME Studio.", "recording_change--name_address"),
    ("en", "recording_change", "We would like to appoint a new representative.", "recording_change--representative"),
    ("en", "recording_change", "The designs were assigned to another company.", "recording_change"),
    ("en", "eservices", "I forgot my password and cannot log in.", "eservices--account"),
    ("es", "general", "¿Qué países puedo designar?", "general--designations"),
])
def test_the_variant_that_fits(library: Library, language: str, topic: str, text: str, variant: str) -> None:
    choice = choose_template(_decision(language, topic, text), _facts(text), library.catalogue)
    assert isinstance(choice, TemplateChoice), choice
    assert (choice.template_id, choice.language, choice.version) == (variant, language, 1)
    assert choice.why


def test_no_template_outside_the_working_languages_or_topics(library: Library) -> None:
    facts = _facts("Hallo")
    no_language = choose_template(FakeDecision("de", "general"), facts, library.catalogue)
    assert isinstance(no_language, NoTemplate) and not no_language and "'de'" in no_language.reason
    no_topic = choose_template(FakeDecision("en", "weather"), facts, library.catalogue)
    assert isinstance(no_topic, NoTemplate) and "topic 'weather'" in no_topic.reason


def test_a_refused_template_is_never_chosen(library: Library) -> None:
    catalogue = replace(library.catalogue, refused={("fees--refund", "fr"): "line 3: syntax error"})
    choice = choose_template(_decision("fr", "fees", "remboursement"), _facts("remboursement"), catalogue)
    assert isinstance(choice, NoTemplate) and "refused at load time: line 3: syntax error" in choice.reason


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
    reply = suggest_reply(_decision("en", "fees", text), facts_from_parsed(parsed, inquiry_id=1042), library,
                          _policy())
    assert isinstance(reply, Reply)
    assert (reply.template_id, reply.variant, reply.language) == ("fees--refund", "refund", "en")
    assert reply.subject == "Re: Refund of overpayment [T-1042]"
    assert reply.text.startswith("Dear Tom Baker,\n\nThank you for your message about the payment of CHF 1,234.50 "
                                 "for A1234567.")
    assert (reply.to_address, reply.to_name) == ("tom@example.co.uk", "Tom Baker")
    assert reply.in_reply_to == "m1@example.co.uk" and reply.references == ("m0@example.co.uk", "m1@example.co.uk")
    assert reply.variables["refs"]["applications"] == ["A1234567"]
    assert reply.variables["amounts"] == ["CHF 1234.50", "CHF 934.50"]
    assert len(reply.template_digest) == 64


def test_no_reply_for_non_standard_or_automatic_mail(library: Library) -> None:
    decision = FakeDecision("en", "fees", standard=False, reason="Complaint about fees")
    assert suggest_reply(decision, _facts("x"), library, _policy()) == NoReply("not a standard inquiry: Complaint about fees")
    assert isinstance(suggest_reply(decision, _facts("x"), library, _policy(), require_standard=False), Reply)
    auto = suggest_reply(FakeDecision("en", "fees"), _facts("x", is_auto_reply=True), library, _policy())
    assert isinstance(auto, NoReply) and "never answered" in auto.reason


def test_no_reply_to_an_address_that_cannot_receive_one(library: Library) -> None:
    reply = suggest_reply(FakeDecision("en", "general"), _facts("x", sender_address="not-an-address"), library,
                          _policy())
    assert isinstance(reply, NoReply) and "not an e-mail address" in reply.reason


def test_acknowledgement_falls_back_to_the_default_language(library: Library) -> None:
    ack = acknowledgement(_facts("Hallo", subject="Frage"), "de", library, _policy())
    assert isinstance(ack, Reply) and ack.language == "en" and "T-12" in ack.text
    assert ack.template_id == "acknowledgement"
