"""Composed drafts: several intents in one reply, facts from the register or marked blanks, and bad input."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from classifiers.entities import extract_entities
from pipeline.errors import ConfigError
from pipeline.mail.parse import parse_message
from responders.blanks import BLANK_PATTERN, blank, unfilled_blanks
from responders.casefacts import NO_REGISTER, CaseFacts, RegisterFile, load_register, number_key, parse_register
from responders.content import nothing_to_answer, own_words
from responders.facts import InquiryFacts, facts_from_parsed
from responders.policy import ReplyPolicy
from responders.render import Library, load_library
from responders.suggest import NoReply, Reply, suggest_reply
from tests.support.drafts import IntentDecision, decision_for, draft, review_cases
from tests.support.mail import make_message

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "config" / "templates"
GREETINGS = {"en": "Dear ", "fr": "Bonjour ", "es": "Estimado/a "}
CLOSINGS = {"en": "Kind regards,", "fr": "Bien cordialement,", "es": "Atentamente,"}
# What a reply says when it asks for a reference number: never when the inquiry gave one.
ASKS_FOR_NUMBER = {
    "en": ("does not give the", "could not recognise one in your message",
           "reply with the registration number", "registration or application number and",
           "(or the registration number, for a renewal)", "with its number and", "with the patent number",
           "and the application or registration number", "does not say which application"),
    "fr": ("n'indique pas le numéro", "pas pu le reconnaître dans votre message",
           "avec le numéro d'enregistrement et", "numéro d'enregistrement ou de demande et",
           "(ou le numéro d'enregistrement, pour un renouvellement)", "avec son numéro et", "le numéro du brevet,",
           "et le numéro de la demande ou de l'enregistrement", "n'indique pas pour quelle demande"),
    "es": ("no indica el número", "no hemos podido reconocerlo en su mensaje",
           "con el número de registro y", "número de registro o de solicitud y",
           "(o el número de registro, en el caso de una renovación)", "con su número y", "el número de la patente,",
           "el número de la solicitud o del registro", "no indica a qué solicitud"),
}
STATUS_INTENTS = ("application--status", "renewal--status", "publication--status", "fees--payment_status")


@pytest.fixture(scope="module")
def library() -> Library:
    return load_library(TEMPLATES)


@pytest.fixture(scope="module")
def register() -> RegisterFile:
    return load_register(ROOT / "data" / "register.toml")


def _facts(text: str, subject: str = "Question", **changes: object) -> InquiryFacts:
    facts = facts_from_parsed(parse_message(make_message(text, subject=subject, sender="Ana Ruiz <ana@example.es>")),
                              inquiry_id=77)
    return replace(facts, **changes)  # type: ignore[arg-type]


def _decision(language: str, *intents: str, text: str = "") -> IntentDecision:
    return replace(decision_for(language, intents), entities=extract_entities(text))


def _reply(library: Library, language: str, intents: tuple[str, ...], text: str,
           register: object = NO_REGISTER) -> Reply:
    reply = suggest_reply(_decision(language, *intents, text=text), _facts(text), library, ReplyPolicy(),
                          case_facts=register)  # type: ignore[arg-type]
    assert isinstance(reply, Reply), reply
    return reply


# --- several intents, one reply ----------------------------------------------------------------


@pytest.mark.parametrize(("language", "intents", "text"), [
    ("en", ("renewal", "recording_change--name_address"),
     "How do we renew DM/190 412, and how do we record our new address?"),
    ("en", ("publication--status", "fees--payment_status", "eservices--account"),
     "1. Has DM/230 112 been published? 2. Was our payment for A1234567 credited? 3. I cannot log in."),
    ("fr", ("irregularity--reproductions", "fees--refund"),
     "Quel est le délai pour la demande HA12345678 ? Et pouvez-vous rembourser le trop-perçu ?"),
    ("fr", ("renewal--partial", "renewal--grace_period", "fees--suspicious_invoice"),
     "Peut-on renouveler DM/212 345 en partie ? Le délai de grâce ? Et cette facture d'un « registre » ?"),
    ("es", ("publication--status", "publication--deferment"),
     "¿Cuándo se publicará DM/214 887? ¿Se tuvo en cuenta el aplazamiento?"),
    ("es", ("application--status", "recording_change--licence", "general--designations"),
     "¿En qué estado está la solicitud HA20240517? ¿Cómo inscribimos una licencia? ¿Qué países podemos designar?"),
])
def test_several_intents_make_one_reply_with_a_section_each_in_the_order_asked(
        library: Library, register: RegisterFile, language: str, intents: tuple[str, ...], text: str) -> None:
    reply = _reply(library, language, intents, text, register)
    assert reply.intents == intents and reply.template_id == intents[0] and reply.language == language
    body = reply.text
    assert body.startswith(GREETINGS[language]) and body.count(GREETINGS[language]) == 1
    assert body.count(CLOSINGS[language]) == 1 and body.index(CLOSINGS[language]) > body.index(f"{len(intents)}. ")
    headings = [re.search(rf"^{n}\. (.+)$", body, re.MULTILINE) for n in range(1, len(intents) + 1)]
    assert all(headings), body
    positions = [heading.start() for heading in headings if heading]
    assert positions == sorted(positions)
    for index, intent in enumerate(intents):
        section = library.render_section(intent, language, reply.variables)
        assert headings[index] is not None and headings[index].group(1) == section.heading  # type: ignore[union-attr]
        assert section.text.splitlines()[0] in body
    assert str(len(intents)) in body.split("\n\n")[1]  # the lead-in says how many questions are answered
    assert "{{" not in body and "{%" not in body and "None" not in body and "\n\n\n" not in body
    assert len(reply.template_versions) == len(intents) and len(reply.template_digest) == 64


def test_one_intent_has_no_numbered_heading(library: Library) -> None:
    reply = _reply(library, "en", ("renewal--grace_period",), "Is the grace period still open for DM/212 345?")
    assert not re.search(r"^1\. ", reply.text, re.MULTILINE)
    assert "\n\nThank you for your message concerning DM/212345.\n\nAn international registration" in reply.text


def test_an_intent_asked_twice_is_answered_once(library: Library) -> None:
    reply = _reply(library, "en", ("fees--receipt", "fees--receipt"), "Receipt please, and an invoice too?")
    assert reply.intents == ("fees--receipt",) and not re.search(r"^1\. ", reply.text, re.MULTILINE)


# --- facts from the register, or blanks --------------------------------------------------------


@pytest.mark.parametrize(("language", "intent", "text", "facts"), [
    ("en", "publication--status", "Has DM/230 112 been published, in which Bulletin?",
     ("7 August 2026", "2026/32")),
    ("fr", "publication--status", "DM/230 112 a-t-il été publié ?", ("7 août 2026", "2026/32")),
    ("es", "publication--status", "¿Se ha publicado DM/214 887?", ("2 de diciembre de 2026",)),
    ("en", "fees--payment_status", "Has our payment for A1234567 been credited?",
     ("credited on 7 October 2026", "CHF 1,234.50", "CHF 300.00")),
    ("en", "renewal--status", "Has the renewal of DM/124 560 been recorded?", ("9 March 2025", "20 March 2030")),
    ("es", "renewal--status", "¿Se ha inscrito la renovación de DM/213 880?", ("30 de septiembre de 2026",)),
    ("fr", "application--status", "Où en est la demande HA12345678 ?", ("15 janvier 2027",)),
    ("es", "application--status", "¿La solicitud HA20240517 ya tiene número de registro?", ("DM/231455",)),
])
def test_status_answers_state_the_looked_up_fact(library: Library, register: RegisterFile, language: str,
                                                 intent: str, text: str, facts: tuple[str, ...]) -> None:
    reply = _reply(library, language, (intent,), text, register)
    assert reply.blanks == () and unfilled_blanks(reply.text) == []
    for fact in facts:
        assert fact in reply.text, (fact, reply.text)


@pytest.mark.parametrize("language", ["en", "fr", "es"])
@pytest.mark.parametrize("intent", STATUS_INTENTS)
def test_status_answers_without_a_register_leave_marked_blanks(library: Library, language: str, intent: str) -> None:
    reply = _reply(library, language, (intent,), "DM/230 112 ?")
    assert reply.blanks and reply.blanks == tuple(unfilled_blanks(reply.text))
    blank_lines = [line for line in reply.text.splitlines() if "[[to fill:" in line]
    assert blank_lines and all("DM/230112" in line for line in blank_lines), blank_lines
    assert not any(phrase in reply.text for phrase in ASKS_FOR_NUMBER[language])


@pytest.mark.parametrize("language", ["en", "fr", "es"])
@pytest.mark.parametrize("intent", STATUS_INTENTS)
def test_status_answers_without_any_number_ask_for_it_once(library: Library, register: RegisterFile,
                                                           language: str, intent: str) -> None:
    reply = _reply(library, language, (intent,), "Any news please?", register)
    assert reply.blanks == ()
    assert sum(reply.text.count(phrase) for phrase in ASKS_FOR_NUMBER[language]) == 1


@pytest.mark.parametrize("language", ["en", "fr", "es"])
def test_no_template_asks_again_for_a_number_the_inquiry_gave(library: Library, register: RegisterFile,
                                                             language: str) -> None:
    text = "About DM/212 345, application A1234567 and patent EP 3 456 789."
    for spec in library.catalogue.templates:
        if spec.kind != "reply":
            continue
        for provider in (register, NO_REGISTER):
            reply = _reply(library, language, (spec.id,), text, provider)
            asked = [phrase for phrase in ASKS_FOR_NUMBER[language] if phrase in reply.text]
            assert asked == [], (spec.id, asked)


def test_a_number_given_earlier_in_the_thread_is_not_asked_again(library: Library, register: RegisterFile) -> None:
    facts = _facts("Has it been published yet?", subject="Re: our design",
                   quoted_text="> Our registration DM/230 112 ...")
    reply = suggest_reply(_decision("en", "publication--status", text="Has it been published yet?"), facts, library,
                          ReplyPolicy(), case_facts=register)
    assert isinstance(reply, Reply) and "2026/32" in reply.text and "does not give" not in reply.text
    earlier = replace(facts, quoted_text="", earlier_texts=("Dear desk, DM/230 112 is ours.",))
    again = suggest_reply(_decision("en", "publication--status"), earlier, library, ReplyPolicy(), case_facts=register)
    assert isinstance(again, Reply) and "2026/32" in again.text


# --- the blank marker --------------------------------------------------------------------------


def test_unfilled_blanks_finds_every_marker_in_order() -> None:
    text = f"Published on {blank('publication date')} in Bulletin {blank('Bulletin number')}; {blank('publication date')}"
    assert unfilled_blanks(text) == ["publication date", "Bulletin number", "publication date"]
    assert unfilled_blanks("No blanks [here] or [[there]] or [[to fill]]") == []
    assert unfilled_blanks("[[to fill:   spaced label  ]]") == ["spaced label"]
    assert unfilled_blanks("") == []
    assert blank("a [b] c\nd") == "[[to fill: a (b) c d]]" and unfilled_blanks(blank("a [b] c\nd")) == ["a (b) c d"]
    spans = [m.span() for m in BLANK_PATTERN.finditer(text)]
    assert [text[a:b] for a, b in spans][1] == "[[to fill: Bulletin number]]"


def test_templates_write_blanks_only_through_the_one_marker() -> None:
    for path in TEMPLATES.glob("*/*.j2"):
        source = path.read_text(encoding="utf-8")
        assert "[[" not in source, path  # a marker is written by blank(), never by hand


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("changes", "reason"), [
    ({"new_text": "", "quoted_text": "", "signature": ""}, "the message is empty"),
    ({"new_text": "", "signature": "Anna Schmidt\nSchmidt IP, Munich\n+49 89 123456"}, "only a greeting or signature"),
    ({"new_text": "Kind regards,\nAnna Schmidt\nSchmidt IP"}, "only a greeting or signature"),
    ({"new_text": "Bonjour,\n\nCordialement,\nLuc Martin"}, "only a greeting or signature"),
    ({"new_text": "Enviado desde mi iPhone"}, "only a greeting or signature"),
    ({"new_text": "", "quoted_text": "> When is DM/212 345 due?", "subject": "Re: Renewal"}, "only quoted history"),
])
def test_empty_signature_only_and_quoted_only_mail_gets_no_reply(library: Library, changes: dict[str, object],
                                                                  reason: str) -> None:
    facts = replace(_facts("placeholder", subject="Re: x"), **changes)  # type: ignore[arg-type]
    reply = suggest_reply(_decision("en", "renewal"), facts, library, ReplyPolicy())
    assert isinstance(reply, NoReply) and reason in reply.reason, reply


@pytest.mark.parametrize(("text", "subject"), [
    ("Please renew.", "Re: x"), ("Any news?", "Re: x"), ("", "How much does renewing DM/212 345 cost?"),
    ("Hello,\n\nCould you confirm the renewal fee?\n\nKind regards,\nAnna", "Re: x"),
])
def test_a_short_real_question_is_answered(text: str, subject: str) -> None:
    facts = replace(_facts("placeholder"), new_text=text, subject=subject, quoted_text="> old")
    assert nothing_to_answer(facts) is None
    assert own_words("Hello,\nCould you confirm?\nThanks,\nAnna\n+41 22 000 00 00") == "Could you confirm?"


def test_a_forwarded_question_is_answered(library: Library) -> None:
    facts = replace(_facts("placeholder"), new_text="", forwarded_text="When is DM/212 345 due for renewal?")
    assert isinstance(suggest_reply(_decision("en", "renewal"), facts, library, ReplyPolicy()), Reply)


def test_a_language_without_templates_gets_a_labelled_draft_for_translation(library: Library) -> None:
    text = "Welche Länder kann ich mit einer internationalen Anmeldung benennen?"
    reply = suggest_reply(_decision("de", "general--designations", text=text), _facts(text), library, ReplyPolicy())
    assert isinstance(reply, Reply) and reply.language == "en" and reply.route_to == "translation"
    assert reply.staff_note is not None and reply.text.startswith(reply.staff_note)
    assert "German (de)" in reply.staff_note and reply.blanks and "STAFF NOTE" in reply.blanks[0]
    assert "Dear Ana Ruiz," in reply.text and reply.html is not None and "STAFF NOTE" in reply.html


def test_a_held_back_decision_gets_no_reply_with_its_reason(library: Library) -> None:
    held = replace(_decision("fr", "decision"), standard=False, answer_intents=(), hold_reason="dispute",
                   reason="L'expéditeur conteste une décision : au service juridique.", queue="legal")
    reply = suggest_reply(held, _facts("Nous contestons ce refus."), library, ReplyPolicy())
    assert reply == NoReply("not a standard inquiry (dispute): L'expéditeur conteste une décision : au service "
                            "juridique.")


def _library_with(tmp_path: Path, body: str) -> Library:
    directory = tmp_path / "templates"
    directory.mkdir()
    for path in TEMPLATES.iterdir():
        target = directory / path.name
        if path.is_dir():
            target.mkdir()
            for file in path.iterdir():
                target.joinpath(file.name).write_bytes(file.read_bytes())
        else:
            target.write_bytes(path.read_bytes())
    (directory / "en" / "fees--receipt.j2").write_text(
        '{% extends "_layout.j2" %}{% block heading %}Receipts{% endblock %}{% block body %}' + body +
        "{% endblock %}", encoding="utf-8")
    return load_library(directory)


def test_a_template_that_fails_to_render_gives_no_reply_and_loses_nothing(tmp_path: Path) -> None:
    library = _library_with(tmp_path, 'Receipt.{% if sender.name == "Crash Test" %}{{ 1 // 0 }}{% endif %}')
    assert library.usable("fees--receipt", "en")
    facts = replace(_facts("Can I have a receipt?"), sender_name="Crash Test")
    reply = suggest_reply(_decision("en", "fees", "fees--receipt"), facts, library, ReplyPolicy())
    assert isinstance(reply, NoReply) and reply.template_id == "fees--receipt"
    assert reply.reason.startswith("template fees--receipt failed: ") and "ZeroDivisionError" in reply.reason
    fine = suggest_reply(_decision("en", "fees", "fees--receipt"), _facts("Can I have a receipt?"), library,
                         ReplyPolicy())
    assert isinstance(fine, Reply) and "Receipt." in fine.text


def test_a_template_that_renders_no_answer_gives_no_reply(tmp_path: Path) -> None:
    library = _library_with(tmp_path, '{% if sender.name != "Blank Page" %}Receipt.{% endif %}')
    facts = replace(_facts("Can I have a receipt?"), sender_name="Blank Page")
    reply = suggest_reply(_decision("en", "fees--receipt"), facts, library, ReplyPolicy())
    assert isinstance(reply, NoReply) and "template fees--receipt failed" in reply.reason


# --- the register ------------------------------------------------------------------------------


def test_the_demo_register_knows_every_number_of_the_samples(register: RegisterFile) -> None:
    for path in sorted((ROOT / "data" / "samples").glob("*.eml")):
        parsed = parse_message(path.read_bytes())
        numbers = [e.value for e in extract_entities(f"{parsed.subject}\n{parsed.text}")
                   if e.kind in ("registration", "application", "patent")]
        for number in numbers:
            assert register.lookup(number) is not None, (path.name, number)
    assert len(register.records) >= 30
    facts = register.lookup("dm/212 345")
    assert isinstance(facts, CaseFacts) and facts.expiry_date == date(2027, 3, 15) and facts.renewal_due == facts.expiry_date
    assert register.lookup("DM/999999") is None and number_key("HA 1234 5678") == "HA12345678"


@pytest.mark.parametrize(("text", "problem"), [
    ('[[record]]\nnumber = "DM/1"\nkind = "registration"\nstatus = "gone"\n', "status must be one of"),
    ('[[record]]\nnumber = "DM/1"\nkind = "trademark"\nstatus = "in_force"\n', "kind must be one of"),
    ('[[record]]\nnumber = "DM/1"\nkind = "registration"\nstatus = "in_force"\ncolour = "red"\n', "unknown keys"),
    ('[[record]]\nnumber = "DM/1"\nkind = "registration"\nstatus = "in_force"\nfees_paid = "12 CHF"\n',
     "written like"),
    ('[[record]]\nnumber = "A1"\nkind = "application"\nstatus = "in_force"\n' * 2, "listed twice"),
    ("[[record]\n", "register extract"),
])
def test_a_malformed_register_is_a_config_error(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_register(text, Path("register.toml"))
    assert problem in str(info.value) and "register.toml" in str(info.value)


# --- the reviewed drafts -----------------------------------------------------------------------


def test_every_reviewed_inquiry_gets_a_complete_draft(library: Library, register: RegisterFile) -> None:
    cases = review_cases()
    assert len(cases) >= 30
    for case in cases:
        reply = draft(case, library, register)
        assert isinstance(reply, Reply), (case.name, reply)
        language = reply.language
        assert "{{" not in reply.text and "None" not in reply.text, case.name
        asked = [phrase for phrase in ASKS_FOR_NUMBER[language] if phrase in reply.text]
        assert asked == [] or not case.decision.entities, (case.name, asked)
        blanks = unfilled_blanks(reply.text)
        assert len(blanks) == (case.decision.language != language), (case.name, blanks)


def test_check_config_reports_an_unreadable_register_and_the_default_has_none(tmp_path: Path) -> None:
    from pipeline.config import RepliesSettings, Settings
    from responders.context import register_of, template_problems

    assert register_of(Settings()) is NO_REGISTER
    missing = Settings(replies=RepliesSettings(case_register=tmp_path / "nowhere.toml"))
    assert any("cannot read the register extract" in message for _, message in template_problems(missing))
    shipped = Settings(replies=RepliesSettings(case_register=Path("data/register.toml")))
    assert register_of(shipped).lookup("DM/212345") is not None and template_problems(shipped) == []
