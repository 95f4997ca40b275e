"""Parsing bytes into ParsedMessage: tables of real-world shapes."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

import pytest

from pipeline.errors import ParseError
from pipeline.mail import ParseLimits, parse_message
from pipeline.quarantine import QuarantineReason
from tests.support.mail import make_message


def test_plain_message_headers_and_text() -> None:
    parsed = parse_message(make_message())
    assert parsed.message_id == "abc123@example.com"
    assert parsed.subject == "Renewal question"
    assert parsed.sender is not None and parsed.sender.address == "jane@example.com"
    assert parsed.sender.name == "Jane Doe"
    assert parsed.date == datetime(2026, 3, 1, 10, 0, tzinfo=timezone.utc)
    assert parsed.new_text == "Hello, what is the renewal fee for DM/212 345?"
    assert not parsed.automation.is_automated


@pytest.mark.parametrize(
    "raw_subject, expected",
    [
        ("=?utf-8?q?Demande_de_renouvellement_=E2=80=93_d=C3=A9lai?=", "Demande de renouvellement – délai"),
        ("=?iso-8859-1?b?U29saWNpdHVkIGRlIGNvcnJlY2Np824=?=", "Solicitud de corrección"),
        ("=?windows-1252?q?R=E9f=E9rence?= DM/212345", "Référence DM/212345"),
        ("=?x-unknown-charset?q?caf=E9?=", "café"),
    ],
)
def test_rfc2047_subjects(raw_subject: str, expected: str) -> None:
    raw = (
        f"From: a@example.com\nTo: b@example.com\nSubject: {raw_subject}\nMessage-ID: <s@x>\n\nbody\n"
    ).encode()
    assert parse_message(raw).subject == expected


@pytest.mark.parametrize(
    "declared, body_bytes, expected",
    [
        (None, "Référence de la demande".encode("latin-1"), "Référence de la demande"),
        ("utf-8", "Référence de la demande".encode("cp1252"), "Référence de la demande"),
        ("iso-8859-1", "Solicitud de corrección".encode("utf-8"), "Solicitud de corrección"),
        ("koi8-r", "Продление регистрации".encode("koi8-r"), "Продление регистрации"),
        ("bogus-charset", "Gebühr".encode("utf-8"), "Gebühr"),
        ("shift_jis", "意匠の更新".encode("shift_jis"), "意匠の更新"),
    ],
)
def test_body_charsets_declared_missing_or_wrong(declared: str | None, body_bytes: bytes, expected: str) -> None:
    ctype = f"text/plain; charset={declared}" if declared else "text/plain"
    raw = (
        b"From: a@example.com\nTo: b@example.com\nSubject: x\nMessage-ID: <c@x>\nMIME-Version: 1.0\n"
        + f"Content-Type: {ctype}\nContent-Transfer-Encoding: 8bit\n\n".encode()
        + body_bytes
        + b"\n"
    )
    assert parse_message(raw).text == expected


def test_html_only_becomes_clean_text_without_scripts_or_styles() -> None:
    html = (
        "<html><head><style>p {color: red}</style><script>alert('x')</script></head><body>"
        "<p>Bonjour,</p><p>Quel est le <b>délai</b> pour&nbsp;répondre&nbsp;?</p><ul><li>DM/212 345</li></ul>"
        "</body></html>"
    )
    parsed = parse_message(make_message("", html=html))
    assert parsed.html is not None and "<script>" in parsed.html
    assert "alert" not in parsed.text and "color" not in parsed.text
    assert "Quel est le délai pour répondre ?" in parsed.text
    assert "- DM/212 345" in parsed.text


def test_html_blockquote_is_quoted_history() -> None:
    html = (
        "<div>Thanks, that answers it.</div><div class='gmail_quote'>On Mon, 2 Mar 2026 at 10:00, Desk "
        "&lt;desk@x.org&gt; wrote:<blockquote><p>Your renewal is due.</p></blockquote></div>"
    )
    parsed = parse_message(make_message("", html=html))
    assert parsed.new_text == "Thanks, that answers it."
    assert "Your renewal is due." in parsed.parts.quoted_text


@pytest.mark.parametrize(
    "text, new, quoted_start",
    [
        ("Thanks!\n\nOn Mon, 2 Mar 2026 at 10:00, Desk <d@x.org> wrote:\n> Renewal due.\n", "Thanks!", "On Mon"),
        ("Merci.\n\nLe lun. 2 mars 2026 à 10:00, Desk <d@x.org> a écrit :\n> Délai.\n", "Merci.", "Le lun."),
        ("Gracias.\n\nEl lun, 2 mar 2026 a las 10:00, Desk (<d@x.org>)\nescribió:\n> Plazo.\n", "Gracias.", "El lun"),
        (
            "See below.\n\nFrom: Desk <d@x.org>\nSent: Monday, March 2, 2026 10:00 AM\nTo: Jane\n"
            "Subject: RE: fee\n\nOld text\n",
            "See below.",
            "From: Desk",
        ),
        (
            "De : Desk <d@x.org>\nEnvoyé : lundi 2 mars 2026 10:00\nÀ : Jane\nObjet : frais\n\nAncien\n",
            "",
            "De : Desk",
        ),
        ("Top.\n\n-----Original Message-----\nFrom: x\nold\n", "Top.", "-----Original"),
        ("> quoted line\n> more\n\nMy answer below the quote.\n", "My answer below the quote.", "> quoted"),
    ],
)
def test_quoted_history_is_separated(text: str, new: str, quoted_start: str) -> None:
    parsed = parse_message(make_message(text))
    assert parsed.new_text == new
    assert parsed.parts.quoted_text.startswith(quoted_start)


@pytest.mark.parametrize(
    "text, new, signature_start",
    [
        ("Please renew DM/212 345.\n\n-- \nJane Doe\nDoe & Partners\n+41 22 000 00 00\n", "Please renew DM/212 345.", "--"),
        ("Please renew DM/212 345.\n\nKind regards,\nJane Doe\nDoe & Partners\n", "Please renew DM/212 345.", "Kind regards"),
        ("Merci de corriger le nom.\n\nBien cordialement,\nLuc\n", "Merci de corriger le nom.", "Bien cordialement"),
        ("¿Cuál es la tasa?\n\nSaludos cordiales,\nAna Torres\n", "¿Cuál es la tasa?", "Saludos cordiales"),
        ("Status please?\n\nSent from my iPhone\n", "Status please?", "Sent from my iPhone"),
        ("Thanks, got it.\n", "Thanks, got it.", ""),
    ],
)
def test_signature_is_separated(text: str, new: str, signature_start: str) -> None:
    parsed = parse_message(make_message(text))
    assert parsed.new_text == new
    assert parsed.parts.signature.startswith(signature_start)


def test_inline_forward_marker() -> None:
    text = (
        "Please see the client's question below.\n\n---------- Forwarded message ---------\n"
        "From: Client <c@client.example>\nSubject: fee\n\nHow much is the fee?\n"
    )
    parsed = parse_message(make_message(text))
    assert parsed.new_text == "Please see the client's question below."
    assert "How much is the fee?" in parsed.parts.forwarded_text


def test_forwarded_message_attachment_is_listed_and_read() -> None:
    inner = make_message("Original question about DM/099 001", subject="Inner", message_id="<inner@x>")
    raw = (
        b"From: a@example.com\nTo: b@example.com\nSubject: Fwd: Inner\nMessage-ID: <outer@x>\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="BB"\n\n--BB\nContent-Type: text/plain\n\nFYI\n--BB\n'
        b"Content-Type: message/rfc822\n\n" + inner + b"\n--BB--\n"
    )
    parsed = parse_message(raw)
    assert parsed.new_text == "FYI"
    assert "Original question about DM/099 001" in parsed.parts.forwarded_text
    assert any(a.content_type == "message/rfc822" for a in parsed.attachments)


def test_attachments_listed_with_name_type_size_hash_and_cap() -> None:
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"] = "a@example.com"
    msg["To"] = "b@example.com"
    msg["Subject"] = "files"
    msg["Message-ID"] = "<att@x>"
    msg.set_content("See attached.")
    small = b"%PDF-1.4 small"
    big = b"x" * 50_000
    msg.add_attachment(small, maintype="application", subtype="pdf", filename="décision.pdf")
    msg.add_attachment(big, maintype="image", subtype="png", filename="view1.png")
    parsed = parse_message(bytes(msg), ParseLimits(max_attachment_bytes=10_000))
    first, second = parsed.attachments
    assert (first.filename, first.content_type, first.size) == ("décision.pdf", "application/pdf", len(small))
    assert first.sha256 == hashlib.sha256(small).hexdigest() and not first.oversized
    assert second.filename == "view1.png" and second.oversized and second.sha256 is None
    assert abs(second.size - len(big)) < 1000


@pytest.mark.parametrize(
    "headers, key",
    [
        ({"References": "<root@x> <mid@x>", "In-Reply-To": "<mid@x>"}, "mid:root@x"),
        ({"In-Reply-To": "<parent@x>"}, "mid:parent@x"),
        ({}, "mid:abc123@example.com"),
    ],
)
def test_thread_key(headers: dict[str, str], key: str) -> None:
    assert parse_message(make_message(headers=headers)).thread_key == key


def test_thread_key_falls_back_to_normalised_subject() -> None:
    parsed = parse_message(make_message(subject="RE: Fwd: [T-1042] Renewal  Question", message_id=None))
    assert parsed.thread_key == "subject:renewal question"


@pytest.mark.parametrize(
    "headers, flag",
    [
        ({"Auto-Submitted": "auto-replied"}, "is_auto_reply"),
        ({"X-Autoreply": "yes"}, "is_auto_reply"),
        ({"Precedence": "bulk"}, "is_auto_reply"),
        ({"Precedence": "list"}, "is_mailing_list"),
        ({"List-Id": "<designs.lists.example.org>"}, "is_mailing_list"),
        ({"Return-Path": "<>"}, "is_auto_reply"),
    ],
)
def test_automatic_mail_is_flagged(headers: dict[str, str], flag: str) -> None:
    parsed = parse_message(make_message(headers=headers))
    assert getattr(parsed.automation, flag)
    assert parsed.automation.reason


def test_auto_submitted_no_is_not_automatic() -> None:
    assert not parse_message(make_message(headers={"Auto-Submitted": "no"})).automation.is_automated


def test_delivery_status_notification_is_a_bounce() -> None:
    raw = (
        b"From: MAILER-DAEMON@mx.example.org\nTo: helpdesk@x.org\nSubject: Undelivered Mail\nMessage-ID: <dsn@x>\n"
        b'MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary="R"\n\n'
        b"--R\nContent-Type: text/plain\n\nDelivery failed.\n--R\nContent-Type: message/delivery-status\n\n"
        b"Reporting-MTA: dns; mx.example.org\n\nFinal-Recipient: rfc822; x@y\nAction: failed\nStatus: 5.1.1\n--R--\n"
    )
    parsed = parse_message(raw)
    assert parsed.automation.is_bounce and "delivery status" in (parsed.automation.reason or "")


def test_fingerprint_ignores_transport_differences() -> None:
    base = make_message()
    crlf = base.replace(b"\n", b"\r\n")
    traced = b"Received: from mx by imap; Mon, 2 Mar 2026\nDelivered-To: desk@x\n" + base
    escaped = make_message("From the desk we need this.\nThanks").replace(b"\nFrom the", b"\n>From the")
    assert parse_message(base).fingerprint == parse_message(crlf).fingerprint == parse_message(traced).fingerprint
    assert parse_message(escaped).fingerprint == parse_message(make_message("From the desk we need this.\nThanks")).fingerprint


def test_reused_message_id_with_other_content_is_another_fingerprint() -> None:
    one = parse_message(make_message("First question"))
    two = parse_message(make_message("Entirely different question"))
    assert one.message_id == two.message_id
    assert one.fingerprint != two.fingerprint


@pytest.mark.parametrize(
    "raw, reason, code",
    [
        (b"", "empty", QuarantineReason.EMPTY),
        (b"   \n\n", "empty", QuarantineReason.EMPTY),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not an email message", QuarantineReason.UNREADABLE_BYTES),
        (b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\n", "not an email message", QuarantineReason.NOT_EMAIL),
        (b"Just some text without headers.\nAnother line.\n", "not an email message", QuarantineReason.NOT_EMAIL),
        (b"X-Random: 1\nX-Other: 2\n\nno known header\n", "not an email message", QuarantineReason.NOT_EMAIL),
    ],
)
def test_not_mail_raises_parse_error_with_reason(raw: bytes, reason: str, code: QuarantineReason) -> None:
    with pytest.raises(ParseError, match=reason) as raised:
        parse_message(raw)
    assert raised.value.code is code


def test_too_large_message_is_refused() -> None:
    with pytest.raises(ParseError, match="too large") as raised:
        parse_message(make_message("x" * 5000), ParseLimits(max_message_bytes=2048))
    assert raised.value.code is QuarantineReason.TOO_LARGE


def test_mbox_from_line_and_bom_are_tolerated() -> None:
    raw = b"\xef\xbb\xbfFrom jane@example.com Mon Mar  2 10:00:00 2026\n" + make_message()
    assert parse_message(raw).message_id == "abc123@example.com"


def test_header_that_breaks_policy_default_falls_back_to_compat32() -> None:
    # An address header policy.default cannot parse when it is read.
    raw = (
        b"From: \"unterminated <a@example.com>\nTo: ,,, undisclosed-recipients:;, \"x\" <@>\n"
        b"Subject: =?utf-8?B?broken?=\nMessage-ID: <brk@x>\n\nbody text\n"
    )
    parsed = parse_message(raw)
    assert parsed.new_text == "body text"
    assert parsed.message_id == "brk@x"


def test_nul_bytes_and_control_characters_never_reach_the_text() -> None:
    raw = b"From: a@example.com\nSubject: ctl\x07\nMessage-ID: <n@x>\n\nabc\x00def\x1bghi\n"
    parsed = parse_message(raw)
    assert "\x00" not in parsed.text and "\x1b" not in parsed.text
    assert parsed.text == "abcdefghi"
