"""Outgoing replies: subject and case tag, threading headers, header encoding, no injection."""

from __future__ import annotations

from datetime import datetime, timezone
from email import policy
from email.header import decode_header, make_header
from email.parser import BytesParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.errors import ReplyError
from pipeline.mail.parse import parse_message
from pipeline.mail.threads import find_case_tag
from responders.compose import (
    OutgoingMail,
    compose,
    message_bytes,
    reply_subject,
    thread_headers,
    with_case_tag,
)
from responders.facts import InquiryFacts

DATE = datetime(2026, 11, 2, 10, 0, tzinfo=timezone.utc)
HEADERS = {"from", "to", "subject", "date", "message-id", "in-reply-to", "references", "content-language",
           "content-type", "content-transfer-encoding", "mime-version", "auto-submitted", "x-auto-response-suppress"}


def _facts(**changes: object) -> InquiryFacts:
    values: dict[str, object] = dict(
        inquiry_id=1042, message_id="orig@example.com", references=("root@example.com",), subject="Renewal",
        sender_name="Anna", sender_address="anna@example.de", reply_to=None, recipients=(), sent_at=None,
        new_text="",
    )
    values.update(changes)
    return InquiryFacts(**values)  # type: ignore[arg-type]


def _mail(**changes: object) -> OutgoingMail:
    values: dict[str, object] = dict(
        from_address="helpdesk@registry.example.org", from_name="International Design Registry",
        to_address="anna@example.de", to_name="Anna Schmidt", subject="Re: Renewal [T-1042]",
        message_id="triage.1.abc@registry.example.org", date=DATE, in_reply_to="orig@example.com",
        references=("root@example.com", "orig@example.com"),
    )
    values.update(changes)
    return OutgoingMail(**values)  # type: ignore[arg-type]


def _decoded(raw: bytes, name: str) -> str:
    value = BytesParser(policy=policy.compat32).parsebytes(raw)[name]
    return str(make_header(decode_header(str(value))))


def _parse(raw: bytes):  # type: ignore[no-untyped-def]
    return BytesParser(policy=policy.default).parsebytes(raw)


@pytest.mark.parametrize(("original", "expected"), [
    ("Renewal of DM/212 345", "Re: Renewal of DM/212 345 [T-1042]"),
    ("Re: Renewal", "Re: Renewal [T-1042]"),
    ("RE : Renouvellement", "RE : Renouvellement [T-1042]"),
    ("Re: Renewal [T-1042]", "Re: Renewal [T-1042]"),
    ("Re: Renewal [T-99] again", "Re: Renewal again [T-1042]"),
    ("", "Re: Your inquiry [T-1042]"),
    ("Line one\r\nBcc: evil@example.com", "Re: Line one Bcc: evil@example.com [T-1042]"),
    ("Fwd: 特許の更新", "Re: Fwd: 特許の更新 [T-1042]"),
])
def test_reply_subject(original: str, expected: str) -> None:
    assert reply_subject(original, 1042, "Your inquiry") == expected


def test_subject_without_a_stored_case_has_no_tag() -> None:
    assert reply_subject("Renewal", None, "x") == "Re: Renewal"


def test_an_edited_subject_keeps_exactly_this_cases_tag() -> None:
    assert with_case_tag("Your renewal [T-5]", 1042) == "Your renewal [T-1042]"
    assert with_case_tag("Your renewal\n", 7) == "Your renewal [T-7]"


def test_thread_headers_continue_the_chain() -> None:
    assert thread_headers(_facts()) == ("orig@example.com", ("root@example.com", "orig@example.com"))
    assert thread_headers(_facts(message_id=None, references=())) == (None, ())
    long_chain = tuple(f"m{i}@x.org" for i in range(40))
    parent, refs = thread_headers(_facts(references=long_chain))
    assert len(refs) == 20 and refs[0] == "m0@x.org" and refs[-1] == "orig@example.com"
    assert thread_headers(_facts(message_id="bad id\r\nX: y", references=("ok@x.org", "<x>")))[1] == ("ok@x.org",)


def test_composed_reply_is_threaded_tagged_and_utf8() -> None:
    raw = message_bytes(compose(_mail(to_name="José Ñúñez", subject="Re: Année [T-1042]"),
                                "Bonjour José,\n\nVoilà — 1 234,50 CHF.\n", "<p>Voilà</p>"))
    assert b"\r\n" in raw and b"\n\n" not in raw.replace(b"\r\n", b"")
    message = _parse(raw)
    assert message["Message-ID"] == "<triage.1.abc@registry.example.org>"
    assert message["In-Reply-To"] == "<orig@example.com>"
    assert message["References"] == "<root@example.com> <orig@example.com>"
    assert str(message["Subject"]) == "Re: Année [T-1042]"
    assert message["To"].addresses[0].display_name == "José Ñúñez"
    assert message["Auto-Submitted"] is None
    plain = message.get_body(("plain",))
    assert plain.get_content_charset() == "utf-8" and plain.get_content().replace("\r\n", "\n") == "Bonjour José,\n\nVoilà — 1 234,50 CHF.\n"
    assert message.get_body(("html",)).get_content().strip() == "<p>Voilà</p>"
    assert raw.isascii()  # every header and body encoded for 7-bit transport
    parsed = parse_message(raw)
    assert find_case_tag(parsed.subject) == 1042 and parsed.in_reply_to == "orig@example.com"


def test_automatic_mail_is_marked() -> None:
    message = _parse(message_bytes(compose(_mail(automatic=True), "x\n")))
    assert message["Auto-Submitted"] == "auto-replied"
    assert message["X-Auto-Response-Suppress"] == "All"
    assert parse_message(message_bytes(compose(_mail(automatic=True), "x\n"))).automation.is_auto_reply


@pytest.mark.parametrize("name", [
    'Jane "JD" Doe', "O'Brien, Pat", "Jane\r\nBcc: victim@example.com", "Иван Петров", "王小明", "محمد",
    "=?utf-8?q?fake?=", "<script>", "a" * 300,
])
def test_display_names_are_encoded_never_injected(name: str) -> None:
    raw = message_bytes(compose(_mail(to_name=name, from_name=name), "x\n"))
    message = _parse(raw)
    assert set(k.lower() for k in message.keys()) <= HEADERS
    assert message["Bcc"] is None
    assert message["To"].addresses[0].addr_spec == "anna@example.de"
    shown = message["To"].addresses[0].display_name.replace("\u2060", "")
    assert "\n" not in shown and "\r" not in shown
    assert shown.split() == name.split()[: len(shown.split())] or shown == " ".join(name.split())[:200]


@pytest.mark.parametrize("field", ["subject", "to_name", "from_name"])
def test_encoded_words_cannot_smuggle_a_line_break(field: str) -> None:
    smuggled = "=?utf-8?q?hi=0D=0ABcc:_evil@example.org?="
    raw = message_bytes(compose(_mail(**{field: f"Re: {smuggled} [T-1042]"}), "x\n"))
    assert b"\r\nBcc:" not in raw
    message = _parse(raw)
    assert message["Bcc"] is None and set(k.lower() for k in message.keys()) <= HEADERS
    header = "Subject" if field == "subject" else field.split("_")[0]
    value = _decoded(raw, header)  # as an RFC 2047 reader shows it (adjacent encoded words joined)
    assert f"Re: {smuggled} [T-1042]" in value.replace("\u2060", "")  # shown literally, never decoded


@pytest.mark.parametrize("address", ["", "no-at-sign", "a@b@c", "anna@example.de\r\nBcc: x@y.org", "a b@c.org"])
def test_bad_recipient_addresses_are_refused(address: str) -> None:
    with pytest.raises(ReplyError, match="not an e-mail address"):
        compose(_mail(to_address=address), "x\n")


def test_addresses_in_other_scripts() -> None:
    message = _parse(message_bytes(compose(_mail(to_address="anna@exämple.es"), "x\n")))
    assert message["To"].addresses[0].addr_spec == "anna@xn--exmple-cua.es"
    with pytest.raises(ReplyError, match="non-ASCII characters before the @"):
        compose(_mail(to_address="josé@example.es"), "x\n")


@settings(max_examples=150, deadline=None)
@given(name=st.text(max_size=80), subject=st.text(max_size=200))
def test_no_name_or_subject_can_add_a_header(name: str, subject: str) -> None:
    raw = message_bytes(compose(_mail(to_name=name, subject=reply_subject(subject, 7, "Your inquiry")), "body\n"))
    message = _parse(raw)
    assert set(k.lower() for k in message.keys()) <= HEADERS
    assert len(message.get_all("To")) == 1 and len(message.get_all("Subject")) == 1
    assert find_case_tag(str(message["Subject"])) == 7
    assert message["To"].addresses[0].addr_spec == "anna@example.de"
