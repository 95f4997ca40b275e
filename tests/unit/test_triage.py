"""The pure core: a parsed message in, a decision out; bad input gets a decision, never an exception."""

from __future__ import annotations

import dataclasses
import random
from email.message import EmailMessage
from pathlib import Path

import pytest

from classifiers.decision import Decision
from classifiers.triage import triage_message, triage_messages
from pipeline.mail.parse import parse_message

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"

EXPECTED_SAMPLES = [
    # (file, language, topic, queue, standard)
    ("01-en-renewal.eml", "en", "renewal", "customer_service", True),
    ("02-en-fees.eml", "en", "fees", "customer_service", True),
    ("03-fr-irregularity.eml", "fr", "irregularity", "customer_service", True),
    ("04-fr-correction.eml", "fr", "correction", "customer_service", True),
    ("06-es-priority.eml", "es", "priority_document", "customer_service", True),
    ("07-en-eservices-complaint.eml", "en", "eservices", "it", False),
    ("08-de-general.eml", "de", "general", "translation", False),
    ("09-en-auto-reply.eml", "en", None, "customer_service", False),
    ("10-es-decision.eml", "es", "decision", "customer_service", True),
    ("11-en-recording.eml", "en", "recording_change", "customer_service", True),
    ("12-fr-application-html.eml", "fr", "application", "customer_service", True),
    ("13-en-renewal-reply.eml", "en", "renewal", "customer_service", True),
]


def _mail(body: str | bytes = "", subject: str = "Question", *, content_type: str = "text/plain; charset=utf-8",
          attachment: bytes | None = None) -> bytes:
    message = EmailMessage()
    message["From"] = "Someone <someone@client.example>"
    message["To"] = "helpdesk@registry.example.org"
    message["Subject"] = subject
    message["Date"] = "Mon, 03 Nov 2025 09:00:00 +0000"
    message["Message-ID"] = "<t@example>"
    if isinstance(body, bytes):
        head = "".join(f"{k}: {v}\r\n" for k, v in message.items())
        return (head + f"Content-Type: {content_type}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n").encode() + body
    message.set_content(body)
    if attachment is not None:
        message.add_attachment(attachment, maintype="application", subtype="pdf", filename="scan.pdf")
    return bytes(message)


@pytest.mark.parametrize(("name", "language", "topic", "queue", "standard"), EXPECTED_SAMPLES)
def test_sample_inquiries(triage_model, triage_config, name, language, topic, queue, standard) -> None:  # type: ignore[no-untyped-def]
    decision = triage_message(parse_message((SAMPLES / name).read_bytes()), triage_model, triage_config)
    assert decision.language == language
    if topic is not None:
        assert decision.topic == topic
    assert (decision.queue, decision.standard) == (queue, standard)
    assert decision.reason and decision.rule_id and decision.model_version == triage_model.version
    assert decision.standard == (decision.hold_reason is None) and (decision.standard or not decision.answer_intents)


def test_sample_entities_and_signals(triage_model, triage_config) -> None:  # type: ignore[no-untyped-def]
    fees = triage_message(parse_message((SAMPLES / "02-en-fees.eml").read_bytes()), triage_model, triage_config)
    assert {(e.kind, e.value) for e in fees.entities} >= {
        ("amount", "CHF 1234.50"), ("amount", "CHF 934.50"), ("application", "A1234567"), ("date", "2026-10-03"),
    }
    complaint = triage_message(parse_message((SAMPLES / "07-en-eservices-complaint.eml").read_bytes()),
                               triage_model, triage_config)
    assert complaint.signals.complaint and complaint.signals.urgent
    assert "complaint" in complaint.reason.lower()


def test_decisions_are_frozen_values_and_repeatable(triage_model, triage_config) -> None:  # type: ignore[no-untyped-def]
    parsed = [parse_message(p.read_bytes()) for p in sorted(SAMPLES.glob("*.eml"))]
    first = triage_messages(parsed, triage_model, triage_config)
    again = [triage_message(p, triage_model, triage_config) for p in parsed]
    assert first == again
    with pytest.raises(dataclasses.FrozenInstanceError):
        first[0].queue = "legal"  # type: ignore[misc]
    assert all(isinstance(d.as_json()["entities"], list) for d in first)


def _person(decision: Decision) -> None:
    assert (decision.language, decision.language_confidence, decision.language_band) == ("und", 0.0, "low")
    assert decision.queue == "customer_service" and not decision.standard
    assert decision.rule_id == "language-undetermined"


BAD_INPUT = {
    "empty body": _mail(""),
    "only a signature": _mail("--\nJohn Smith\nSmith IP Ltd\n+44 20 7946 0000", subject=""),
    "attachment only": _mail("", subject="", attachment=b"%PDF-1.4 " + bytes(range(256)) * 20),
    "binary garbage declared as text": _mail(random.Random(3).randbytes(20_000), subject=""),
    "garbage declared as latin-1": _mail(random.Random(4).randbytes(5000), subject="",
                                         content_type="text/plain; charset=iso-8859-1"),
    "mixed scripts": _mail("Привет 你好 مرحبا hello שלום こんにちは Γειά σου", subject=""),
}


@pytest.mark.parametrize("raw", BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_bad_input_gets_a_decision_for_a_person(triage_model, triage_config, raw: bytes) -> None:  # type: ignore[no-untyped-def]
    _person(triage_message(parse_message(raw), triage_model, triage_config))


def test_five_megabytes_of_text_gets_a_decision(triage_model, triage_config) -> None:  # type: ignore[no-untyped-def]
    words = "please renew our registration DM/212 345 before the deadline and send the invoice ".split()
    rng = random.Random(1)
    body = " ".join(rng.choice(words) for _ in range(900_000))[:5_000_000]
    decision = triage_message(parse_message(_mail(body, subject="Renewal")), triage_model, triage_config)
    assert decision.language == "en" and decision.queue
    assert ("registration", "DM/212345") in {(e.kind, e.value) for e in decision.entities}


def test_html_only_mail_is_read(triage_model, triage_config) -> None:  # type: ignore[no-untyped-def]
    raw = _mail("<html><body><p>No puedo <b>entrar</b> en el portal, me da error de contraseña.</p></body></html>",
                subject="Portal", content_type="text/html; charset=utf-8")
    raw = raw.replace(b"Content-Type: text/plain; charset=\"utf-8\"", b"Content-Type: text/html; charset=\"utf-8\"")
    decision = triage_message(parse_message(raw), triage_model, triage_config)
    assert (decision.language, decision.topic) == ("es", "eservices")


def test_deadline_within_n_days_of_the_message_date(triage_model, triage_config) -> None:  # type: ignore[no-untyped-def]
    soon = triage_message(parse_message(_mail("Our registration DM/212 345 expires on 7 November 2025. How do we renew?",
                                              subject="Renewal")), triage_model, triage_config)
    later = triage_message(parse_message(_mail("Our registration DM/212 345 expires on 7 November 2026. How do we renew?",
                                               subject="Renewal")), triage_model, triage_config)
    assert soon.signals.deadline == "2025-11-07" and soon.signals.urgent
    assert later.signals.deadline is None and not later.signals.urgent
