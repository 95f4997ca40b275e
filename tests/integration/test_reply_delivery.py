"""Delivery to real servers: Drafts and Sent in a real Dovecot, sending through a real SMTP server (aiosmtpd).

What arrived is read back from the servers: headers, threading, charset, body,
flags; and a process that dies between sending and recording never sends twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email import policy
from email.header import Header, decode_header, make_header
from email.message import EmailMessage
from email.parser import BytesParser

import pytest

from pipeline.config import DatabaseSettings, DeliverySettings, MailboxSettings, Settings, SmtpSettings
from pipeline.errors import DeliveryError, DeliveryUncertainError
from pipeline.runtime import Runtime, open_runtime
from pipeline.store.db import unit_of_work
from pipeline.store import replies as reply_store
from webapp.services import suggestions as service
from responders.context import ReplyContext
from pipeline.rounds.replies import acknowledge_inquiries, deliver_approved, recover_deliveries
from responders.mailboxes import MailboxTransports
from responders.smtp import SmtpSender
from tests.support.dovecot import Dovecot
from tests.support.mail import make_message
from tests.support.replies import set_first_sync, store_triaged
from tests.support.smtp import SmtpServer, smtp_server

pytestmark = pytest.mark.dovecot

SMTP_USER, SMTP_PASSWORD = "desk@registry.example.org", "smtp-secret"
RAW = (b"From: desk@registry.example.org\r\nTo: tom@example.co.uk\r\nSubject: hi\r\n"
       b"Message-ID: <plain@registry.example.org>\r\n\r\nbody\r\n")


class Crash(BaseException):
    """The process dies here."""


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server("starttls") as server:
        yield server


def _smtp_settings(server: SmtpServer, **changes: object) -> SmtpSettings:
    values: dict[str, object] = dict(host=server.host, port=server.port, tls=server.tls, ca_file=server.ca_file,
                                     user=SMTP_USER, password=SMTP_PASSWORD, timeout_seconds=5)
    values.update(changes)
    return SmtpSettings(**values)  # type: ignore[arg-type]


def _runtime(sqlite_url: str, dovecot: Dovecot, mode: str, smtp: SmtpServer | None = None) -> tuple[Runtime, str]:
    user = dovecot.fresh_user()
    delivery = DeliverySettings(mode=mode, from_address="helpdesk@registry.example.org",  # type: ignore[arg-type]
                                from_name="International Design Registry",
                                smtp=_smtp_settings(smtp) if smtp is not None else None,
                                auto_acknowledge=smtp is not None)
    mailbox = MailboxSettings(host=dovecot.host, port=dovecot.port, tls="starttls", ca_file=dovecot.ca_file,
                              user=user, password=dovecot.users[user], delivery=delivery)  # type: ignore[arg-type]
    settings = Settings(database=DatabaseSettings(url=sqlite_url), mailboxes={"desk": mailbox})
    return open_runtime(settings), user


def _fetch(dovecot: Dovecot, user: str, folder: str) -> list[tuple[EmailMessage, bytes, set[str]]]:
    with dovecot.client(user) as client:
        if not client.folder_exists(folder):
            return []
        client.select_folder(folder, readonly=True)
        data = client.fetch(client.search("ALL"), ["BODY.PEEK[]", "FLAGS"])
    found = []
    for item in data.values():
        raw = bytes(item[b"BODY[]"])
        message = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(message, EmailMessage)
        found.append((message, raw, {f.decode() for f in item[b"FLAGS"]}))
    return found


def _approved(runtime: Runtime, raw: bytes, language: str = "fr", topic: str = "irregularity",
              text: str = "") -> service.SuggestionInfo:
    context = ReplyContext.load(runtime.settings)
    # The French notice asks about replacement reproductions: the intent the model gives it.
    intents = ("irregularity--reproductions",) if topic == "irregularity" else None
    inquiry_id = store_triaged(runtime, raw, language=language, topic=topic, text_for_entities=text, intents=intents)
    with unit_of_work(runtime.session_factory) as session:
        info = service.suggest_for_inquiry(session, inquiry_id, context)
        assert isinstance(info, service.SuggestionInfo), info
        return service.approve(session, info.id, "alice", context)


FRENCH = ("Nous avons reçu une notification d'irrégularité concernant la demande HA12345678 : les reproductions "
          "seraient de qualité insuffisante.")


def _french(message_id: str = "<fr-1@cabinet-dubois.example.fr>") -> bytes:
    return make_message(FRENCH, subject="Notification d'irrégularité - demande HA12345678",
                        sender="Claire Dubois <c.dubois@cabinet-dubois.example.fr>", message_id=message_id,
                        headers={"References": "<root@cabinet-dubois.example.fr>"})


# --- SMTP alone -----------------------------------------------------------------------------------


@pytest.mark.parametrize("tls", ["starttls", "implicit", "none"])
def test_smtp_sender_with_each_kind_of_tls(tls: str) -> None:
    with smtp_server(tls) as server:  # type: ignore[arg-type]
        sender = SmtpSender("desk", _smtp_settings(server))
        try:
            sender.send(RAW, "desk@registry.example.org", ["tom@example.co.uk"])
        finally:
            sender.close()
        (received,) = server.received
    assert received.rcpt_tos == ("tom@example.co.uk",) and received.mail_from == "desk@registry.example.org"
    assert received.message()["Message-ID"] == "<plain@registry.example.org>"


def test_smtp_refusals_are_definite_and_a_broken_data_is_uncertain(smtp: SmtpServer) -> None:
    with pytest.raises(DeliveryError, match="refused the credentials"):
        SmtpSender("desk", _smtp_settings(smtp, password="wrong"))
    with pytest.raises(DeliveryError, match="does not verify"):
        SmtpSender("desk", _smtp_settings(smtp, ca_file=None))
    sender = SmtpSender("desk", _smtp_settings(smtp))
    try:
        smtp.recorder.refuse.add("nobody@example.co.uk")
        with pytest.raises(DeliveryError, match="refused the recipient nobody@example.co.uk: 550") as refused:
            sender.send(RAW, SMTP_USER, ["nobody@example.co.uk"])
        assert not isinstance(refused.value, DeliveryUncertainError)
        smtp.recorder.drop_during_data = 1
        with pytest.raises(DeliveryUncertainError, match="may have been accepted"):
            sender.send(RAW, SMTP_USER, ["tom@example.co.uk"])
    finally:
        sender.close()
    assert smtp.received == []


def test_starttls_is_required_when_configured() -> None:
    with smtp_server("none", users={}) as server:
        with pytest.raises(DeliveryError, match="does not offer STARTTLS"):
            SmtpSender("desk", _smtp_settings(server, tls="starttls", user=None))


# --- Drafts and Sent in Dovecot --------------------------------------------------------------------


def test_approved_reply_lands_in_drafts_threaded_and_readable(dovecot: Dovecot, sqlite_url: str) -> None:
    runtime, user = _runtime(sqlite_url, dovecot, "drafts")
    try:
        info = _approved(runtime, _french(), text=FRENCH)
        (outcome,) = deliver_approved(runtime.session_factory, ReplyContext.load(runtime.settings),
                                      MailboxTransports(runtime.settings))
    finally:
        runtime.close()
    assert outcome.outcome == "sent", outcome
    ((message, raw, flags),) = _fetch(dovecot, user, "Drafts")
    assert {"\\Draft", "\\Seen"} <= flags
    assert message["Message-ID"] == f"<{info.message_id}>"
    assert message["In-Reply-To"] == "<fr-1@cabinet-dubois.example.fr>"
    assert message["References"] == "<root@cabinet-dubois.example.fr> <fr-1@cabinet-dubois.example.fr>"
    assert str(message["Subject"]) == f"Re: Notification d'irrégularité - demande HA12345678 [T-{info.inquiry_id}]"
    assert str(message["From"]) == "International Design Registry <helpdesk@registry.example.org>"
    assert message["To"].addresses[0].display_name == "Claire Dubois"
    assert message["Auto-Submitted"] is None and message["Content-Language"] == "fr"
    plain = message.get_body(("plain",))
    assert plain.get_content_charset() == "utf-8"
    assert plain.get_content().replace("\r\n", "\n") == info.body
    assert "Bonjour Claire Dubois," in info.body and "reproductions de remplacement" in info.body
    assert message.get_body(("html",)) is not None
    assert _fetch(dovecot, user, "Sent") == []


def test_smtp_mode_sends_and_files_the_copy_in_sent(dovecot: Dovecot, sqlite_url: str, smtp: SmtpServer) -> None:
    runtime, user = _runtime(sqlite_url, dovecot, "smtp", smtp)
    try:
        info = _approved(runtime, _french(), text=FRENCH)
        (outcome,) = deliver_approved(runtime.session_factory, ReplyContext.load(runtime.settings),
                                      MailboxTransports(runtime.settings))
    finally:
        runtime.close()
    assert outcome.outcome == "sent", outcome
    (received,) = smtp.received
    assert received.mail_from == "helpdesk@registry.example.org"
    assert received.rcpt_tos == ("c.dubois@cabinet-dubois.example.fr",)
    message = received.message()
    assert message["Message-ID"] == f"<{info.message_id}>" and message["In-Reply-To"]
    assert f"[T-{info.inquiry_id}]" in str(message["Subject"])
    ((copy, raw, flags),) = _fetch(dovecot, user, "Sent")
    assert raw.replace(b"\r\n", b"\n") == received.data.replace(b"\r\n", b"\n")
    assert "\\Seen" in flags and "$TriageSending" not in flags
    assert _fetch(dovecot, user, "Drafts") == []


def test_a_crash_after_smtp_accepted_is_recovered_from_sent_not_resent(
        dovecot: Dovecot, sqlite_url: str, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime, user = _runtime(sqlite_url, dovecot, "smtp", smtp)
    try:
        info = _approved(runtime, _french("<fr-2@x.example.fr>"), text=FRENCH)
        context = ReplyContext.load(runtime.settings)
        with monkeypatch.context() as patch:
            patch.setattr(reply_store, "finish_delivery", lambda *args: (_ for _ in ()).throw(Crash()))
            with pytest.raises(Crash):
                deliver_approved(runtime.session_factory, context, MailboxTransports(runtime.settings))
        assert len(smtp.received) == 1
        (outcome,) = recover_deliveries(runtime.session_factory, context, MailboxTransports(runtime.settings),
                                        older_than_seconds=0)
        with runtime.session_factory() as session:
            final = service.suggestion_info(session, info.id)
    finally:
        runtime.close()
    assert outcome.outcome == "sent" and "found sent in Sent" in outcome.detail
    assert len(smtp.received) == 1 and final.status == "sent"
    assert len(_fetch(dovecot, user, "Sent")) == 1


def test_a_crash_before_smtp_was_asked_leaves_it_to_a_person(
        dovecot: Dovecot, sqlite_url: str, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime, user = _runtime(sqlite_url, dovecot, "smtp", smtp)
    try:
        info = _approved(runtime, _french("<fr-3@x.example.fr>"), text=FRENCH)
        context = ReplyContext.load(runtime.settings)
        with monkeypatch.context() as patch:
            patch.setattr(SmtpSender, "send", lambda *args: (_ for _ in ()).throw(Crash()))
            with pytest.raises(Crash):
                deliver_approved(runtime.session_factory, context, MailboxTransports(runtime.settings))
        (outcome,) = recover_deliveries(runtime.session_factory, context, MailboxTransports(runtime.settings),
                                        older_than_seconds=0)
        assert outcome.outcome == "uncertain"
        with unit_of_work(runtime.session_factory) as session:
            service.resolve_uncertain(session, info.id, "alice", was_sent=False)
        (retried,) = deliver_approved(runtime.session_factory, context, MailboxTransports(runtime.settings))
    finally:
        runtime.close()
    assert retried.outcome == "sent" and len(smtp.received) == 1
    ((_, _, flags),) = _fetch(dovecot, user, "Sent")
    assert "$TriageSending" not in flags


def test_hostile_names_and_subjects_arrive_encoded_and_literal(dovecot: Dovecot, sqlite_url: str,
                                                               smtp: SmtpServer) -> None:
    runtime, _ = _runtime(sqlite_url, dovecot, "smtp", smtp)
    subject = "Réf {{ 7*7 }} {% if 1 %}x{% endif %} =?utf-8?q?a=0D=0ABcc:_evil@example.org?= 特許"
    # The subject arrives RFC 2047-encoded; decoded once it reads exactly as ``subject`` (an encoded word inside).
    encoded = Header(subject, "utf-8", maxlinelen=10_000).encode().encode("ascii")
    raw = make_message("We paid twice for A1234567, please refund the difference.", subject="PLACEHOLDER",
                       sender='"O\'Brien, \\"Pat\\" 王" <pat@example.org>', message_id="<hostile@example.org>")
    raw = raw.replace(b"Subject: PLACEHOLDER", b"Subject: " + encoded)
    try:
        info = _approved(runtime, raw, language="en", topic="fees",
                         text="We paid twice for A1234567, please refund the difference.")
        (outcome,) = deliver_approved(runtime.session_factory, ReplyContext.load(runtime.settings),
                                      MailboxTransports(runtime.settings))
    finally:
        runtime.close()
    assert outcome.outcome == "sent", outcome
    (received,) = smtp.received
    assert received.rcpt_tos == ("pat@example.org",)
    assert received.data.isascii() and b"\r\nBcc" not in received.data
    message = received.message()
    assert {k.lower() for k in message.keys()} == {
        "from", "to", "subject", "date", "message-id", "in-reply-to", "references", "content-language",
        "mime-version", "content-type"}
    header = BytesParser(policy=policy.compat32).parsebytes(received.data)["Subject"]
    shown = str(make_header(decode_header(str(header)))).replace("\u2060", "")
    assert shown == f"Re: {subject} [T-{info.inquiry_id}]"
    assert message["To"].addresses[0].display_name == 'O\'Brien, "Pat" 王'
    assert "Dear O'Brien, \"Pat\" 王," in message.get_body(("plain",)).get_content()


def test_acknowledgement_goes_out_by_smtp_marked_automatic(dovecot: Dovecot, sqlite_url: str) -> None:
    with smtp_server("implicit") as server:
        runtime, user = _runtime(sqlite_url, dovecot, "drafts", server)
        now = datetime.now(timezone.utc)
        try:
            set_first_sync(runtime, "desk", "INBOX", now - timedelta(hours=1))
            raw = make_message("Hola, ¿cuál es la tasa de renovación?", subject="Renovación",
                               sender="Ana <ana@example.cl>", message_id="<es-ack@example.cl>",
                               date=now - timedelta(minutes=5))
            inquiry_id = store_triaged(runtime, raw, language="es", topic="renewal")
            (outcome,) = acknowledge_inquiries(runtime.session_factory, ReplyContext.load(runtime.settings),
                                               MailboxTransports(runtime.settings), [inquiry_id])
        finally:
            runtime.close()
        assert outcome.outcome == "sent", outcome
        (received,) = server.received
    message = received.message()
    assert message["Auto-Submitted"] == "auto-replied" and message["X-Auto-Response-Suppress"] == "All"
    assert str(message["Subject"]) == f"Re: Renovación [T-{inquiry_id}]"
    body = message.get_body(("plain",)).get_content()
    assert "Hemos recibido su mensaje" in body and f"T-{inquiry_id}" in body
    assert len(_fetch(dovecot, user, "Sent")) == 1 and _fetch(dovecot, user, "Drafts") == []
