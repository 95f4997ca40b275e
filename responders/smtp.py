"""Sending over SMTP (implicit TLS, STARTTLS, or plain on loopback, with AUTH), errors translated here.

The transaction is run step by step (MAIL, RCPT, DATA) so that a failure is
known to be definite (nothing was accepted: ``DeliveryError``, safe to try
again) or uncertain (the connection broke while the message was handed over:
``DeliveryUncertainError``, a person checks before anything is sent again).
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Sequence

from pipeline.config import SmtpSettings
from pipeline.tls import client_tls_context
from pipeline.errors import ConfigError, DeliveryError, DeliveryUncertainError


def _context(settings: SmtpSettings) -> ssl.SSLContext:
    return client_tls_context(settings.verify_certificate, settings.ca_file, DeliveryError)


def _reply_text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return " ".join(text.split())[:300]


def describe_smtp_error(exc: BaseException, server: str, step: str) -> str:
    """One clear line for a library or network failure during an SMTP step."""
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"{server} refused the credentials ({exc.smtp_code} {_reply_text(exc.smtp_error)})"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{server} refused {step}: {exc.smtp_code} {_reply_text(exc.smtp_error)}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f"the TLS certificate of {server} does not verify ({exc.verify_message or exc}); "
                "set ca_file to the CA that signed it or fix the server's certificate")
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed with {server} during {step}: {exc.reason or exc}"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"no answer from {server} during {step}"
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused by {server}"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the SMTP host of {server}: {exc.strerror}"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return f"{server} closed the connection during {step}"
    if isinstance(exc, OSError):
        return f"network error with {server} during {step}: {exc.strerror or exc}"
    return f"{server} failed during {step}: {type(exc).__name__}: {exc}"


class SmtpSender:
    """A logged-in SMTP connection for one mailbox (``MailSender``)."""

    def __init__(self, mailbox: str, settings: SmtpSettings) -> None:
        self.mailbox = mailbox
        self.settings = settings
        self.server = f"SMTP server {settings.host}:{settings.effective_port} of mailbox {mailbox}"
        self._smtp = self._connect()

    def _connect(self) -> smtplib.SMTP:
        settings = self.settings
        host, port, timeout = settings.host, settings.effective_port, settings.timeout_seconds
        step = "connect"
        smtp: smtplib.SMTP | None = None
        try:
            if settings.tls == "implicit":
                smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=_context(settings))
            else:
                smtp = smtplib.SMTP(host, port, timeout=timeout)
            step = "EHLO"
            smtp.ehlo()
            if settings.tls == "starttls":
                if not smtp.has_extn("starttls"):
                    raise DeliveryError(f"{self.server} does not offer STARTTLS; refusing to send without TLS")
                step = "STARTTLS"
                smtp.starttls(context=_context(settings))
                smtp.ehlo()
            if settings.user:
                password = self._password()
                step = "AUTH"
                smtp.login(settings.user, password)
            return smtp
        except DeliveryError:
            self._drop(smtp)
            raise
        except (smtplib.SMTPException, OSError) as exc:
            self._drop(smtp)
            raise DeliveryError(describe_smtp_error(exc, self.server, step)) from exc

    def _password(self) -> str:
        try:
            password = self.settings.resolve_password()
        except ConfigError as exc:
            raise DeliveryError(f"{self.server}: {exc}") from exc
        if password is None:
            env = f"TRIAGE_MAILBOXES__{self.mailbox.upper()}__DELIVERY__SMTP__PASSWORD"
            raise DeliveryError(f"{self.server}: smtp.user is set but there is no password: set {env} "
                                "or smtp.password_file")
        return password

    @staticmethod
    def _drop(smtp: smtplib.SMTP | None) -> None:
        if smtp is not None:
            try:
                smtp.close()
            except OSError:  # the socket is going away anyway
                pass

    def send(self, raw: bytes, sender: str, recipients: Sequence[str]) -> None:
        """MAIL, RCPT, DATA: refusals raise ``DeliveryError``, a broken DATA ``DeliveryUncertainError``."""
        smtp = self._smtp
        step = "MAIL FROM"
        try:
            code, reply = smtp.mail(sender)
            if code != 250:
                self._reset()
                raise DeliveryError(f"{self.server} refused the sender {sender}: {code} {_reply_text(reply)}")
            for recipient in recipients:
                step = "RCPT TO"
                code, reply = smtp.rcpt(recipient)
                if code not in (250, 251):
                    self._reset()
                    raise DeliveryError(f"{self.server} refused the recipient {recipient}: {code} {_reply_text(reply)}")
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(describe_smtp_error(exc, self.server, step)) from exc
        try:
            code, reply = smtp.data(raw)
        except smtplib.SMTPDataError as exc:
            raise DeliveryError(describe_smtp_error(exc, self.server, "DATA")) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryUncertainError(describe_smtp_error(exc, self.server, "DATA")
                                         + "; the message may have been accepted") from exc
        if code != 250:
            raise DeliveryError(f"{self.server} refused the message: {code} {_reply_text(reply)}")

    def _reset(self) -> None:
        try:
            self._smtp.rset()
        except (smtplib.SMTPException, OSError):  # the refusal is what matters
            pass

    def close(self) -> None:
        """QUIT, or just drop the connection; never raises."""
        try:
            self._smtp.quit()
        except (smtplib.SMTPException, OSError):  # closing a connection that is going away
            self._drop(self._smtp)
