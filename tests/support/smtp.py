"""A real SMTP server on 127.0.0.1 for tests and benchmarks: aiosmtpd, with STARTTLS or implicit TLS and AUTH.

``smtp_server()`` starts it on a free port with a test certificate made by
openssl (the same helper as the test Dovecot), records every message it
accepts (envelope and bytes), and can refuse recipients or drop the connection
in the middle of DATA, so tests see each way a delivery can end.
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any, Literal

import ssl
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.support.dovecot import free_port, make_certificate


class _QuietSession(Session):
    """aiosmtpd itself sets the deprecated ``login_data`` on every AUTH; keep it from warning (tests run -W error)."""

    @property  # type: ignore[override]
    def login_data(self) -> Any:
        return self._login_data

    @login_data.setter
    def login_data(self, value: Any) -> None:
        self._login_data = value


class _QuietSMTP(SMTP):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        with warnings.catch_warnings():
            # Implicit TLS: the connection is encrypted before SMTP starts, which aiosmtpd cannot see.
            warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
            super().__init__(*args, **kwargs)

    def _create_session(self) -> Session:
        return _QuietSession(self.loop)


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _QuietSMTP(self.handler, **self.SMTP_kwargs)


@dataclass(frozen=True)
class Received:
    """One message the server accepted."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes

    def message(self) -> EmailMessage:
        """The message, parsed."""
        parsed = BytesParser(policy=policy.default).parsebytes(self.data)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Recorder:
    """The handler: keeps what arrived; refuses some recipients; can break the connection during DATA."""

    received: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    drop_during_data: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if address.lower() in self.refuse:
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            if self.drop_during_data:
                self.drop_during_data -= 1
                transport = server.transport
                assert isinstance(transport, asyncio.Transport)
                transport.abort()
                return "250 never seen by the client"
            data = envelope.original_content or b""
            self.received.append(Received(str(envelope.mail_from), tuple(envelope.rcpt_tos), data))
        return "250 2.0.0 queued"


@dataclass
class SmtpServer:
    """A running test SMTP server: where it listens, its CA, its users, and what it received."""

    host: str
    port: int
    tls: str
    ca_file: Path
    users: dict[str, str]
    recorder: Recorder

    @property
    def received(self) -> list[Received]:
        """Messages accepted so far."""
        with self.recorder.lock:
            return list(self.recorder.received)


@contextmanager
def smtp_server(tls: Literal["starttls", "implicit", "none"] = "starttls",
                users: dict[str, str] | None = None) -> Iterator[SmtpServer]:
    """Start aiosmtpd on a free loopback port; stop it afterwards."""
    users = {"desk@registry.example.org": "smtp-secret"} if users is None else users
    with tempfile.TemporaryDirectory(prefix="triage-smtp-") as tmp:
        cert, key = make_certificate(Path(tmp), "smtp")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(cert), str(key))
        recorder = Recorder()

        def authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) \
                -> AuthResult:
            ok = isinstance(data, LoginPassword) and users.get(data.login.decode()) == data.password.decode()
            return AuthResult(success=ok, handled=False)

        port = free_port()
        kwargs: dict[str, Any] = {"authenticator": authenticate if users else None, "auth_required": bool(users)}
        if tls == "implicit":
            kwargs.update(ssl_context=context, auth_require_tls=False)
        elif tls == "starttls":
            kwargs.update(tls_context=context, require_starttls=True, auth_require_tls=True)
        else:
            kwargs.update(auth_require_tls=False)
        controller = _Controller(recorder, hostname="127.0.0.1", port=port, server_hostname="localhost", **kwargs)
        controller.start()
        try:
            yield SmtpServer("127.0.0.1", port, tls, cert, dict(users), recorder)
        finally:
            controller.stop()
