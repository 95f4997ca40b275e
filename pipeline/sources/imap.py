"""One IMAP connection with imapclient: TLS, login, SELECT, UID SEARCH/FETCH, flags, MOVE, IDLE.

Every network operation has a timeout (``timeout_seconds``: connecting and each
read). Every failure of imapclient, imaplib, ``ssl`` or ``socket`` leaves this
module as an ``ImapError`` that names the mailbox, folder and UID; after one
that is not about a single command (``ImapMessageError``, ``ImapFolderError``)
the connection is ``broken`` and must be replaced. Messages are fetched with
``BODY.PEEK[]``, so fetching never marks anything read. Nothing here deletes.
"""

from __future__ import annotations

import re
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from datetime import date, datetime, timezone
from typing import Any, TypeVar
from urllib.parse import quote

from imapclient import SEEN, IMAPClient, SocketTimeout
from imapclient import exceptions as imap_exc

from pipeline.config import MailboxSettings
from pipeline.errors import ConfigError, ImapAuthError, ImapError, ImapFolderError, ImapMessageError
from pipeline.sources.base import FolderStatus
from pipeline.sources.oauth2 import run_token_command
from pipeline.tls import client_tls_context

T = TypeVar("T")

_SERVER_TIMING = re.compile(r"\s*\(\d+\.\d+ \+ \d+\.\d+(?: \+ \d+\.\d+)? secs\)\.?")
_MISSING_FOLDER = ("nonexistent", "doesn't exist", "does not exist", "not exist", "no such mailbox", "unknown mailbox")


def imap_source(mailbox: str, folder: str, uidvalidity: int, uid: int) -> str:
    """The unique name of one message on a server (RFC 5092 style), used as its sighting's source."""
    return f"imap://{quote(mailbox, safe='')}/{quote(folder, safe='/.')};UIDVALIDITY={uidvalidity}/;UID={uid}"


def make_ssl_context(settings: MailboxSettings) -> ssl.SSLContext:
    """The TLS context for a mailbox: verifying (system CAs or ``ca_file``) unless verification is turned off."""
    return client_tls_context(settings.verify_certificate, settings.ca_file, ImapError)


def _server_text(exc: BaseException) -> str:
    text = str(exc.args[0]) if exc.args else str(exc)
    if text.startswith("b'") or text.startswith('b"'):
        text = text[2:-1]
    return _SERVER_TIMING.sub("", " ".join(text.split()))[:300]


def translate_error(
    exc: BaseException,
    *,
    mailbox: str,
    host: str,
    port: int,
    timeout: float,
    operation: str,
    folder: str | None = None,
    uid: int | None = None,
    user: str | None = None,
) -> ImapError:
    """A library or network exception as the project's ``ImapError`` with one clear line."""
    where: dict[str, Any] = {"mailbox": mailbox, "folder": folder, "uid": uid}
    server = f"{host}:{port}"
    if isinstance(exc, ImapError):
        return exc
    if isinstance(exc, imap_exc.LoginError):
        return ImapAuthError(f"authentication failed for user {user!r} at {server}: {_server_text(exc)}", **where)
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = exc.verify_message or _server_text(exc)
        return ImapError(f"the TLS certificate of {server} does not verify ({detail}); "
                         "set ca_file to the CA that signed it or fix the server's certificate", **where)
    if isinstance(exc, ssl.SSLError):
        return ImapError(f"TLS failed with {server} during {operation}: {exc.reason or _server_text(exc)}", **where)
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return ImapError(f"no answer from {server} within {timeout:g} s during {operation}", **where)
    if isinstance(exc, ConnectionRefusedError):
        return ImapError(f"connection refused by {server}", **where)
    if isinstance(exc, socket.gaierror):
        return ImapError(f"cannot resolve host {host!r}: {exc.strerror}", **where)
    if isinstance(exc, OSError):
        return ImapError(f"network error with {server} during {operation}: {exc.strerror or exc}", **where)
    if isinstance(exc, imap_exc.IMAPClientAbortError):
        return ImapError(f"connection to {server} lost during {operation}: {_server_text(exc)}", **where)
    if isinstance(exc, imap_exc.CapabilityError):
        return ImapError(f"{server} does not support {operation}: {_server_text(exc)}", **where)
    if isinstance(exc, imap_exc.IMAPClientError):
        text = _server_text(exc)
        if operation == "SELECT":
            if any(marker in text.lower() for marker in _MISSING_FOLDER):
                return ImapFolderError("the folder does not exist on the server (any more)", **where)
            return ImapFolderError(f"cannot open the folder: {text}", **where)
        return ImapMessageError(f"{operation} refused by the server: {text}", **where)
    return ImapError(f"unexpected response from {server} during {operation}: {type(exc).__name__}: "
                     f"{_server_text(exc)}", **where)


def _uid_span(uids: Sequence[int]) -> str:
    if not uids:
        return ""
    return str(uids[0]) if len(uids) == 1 else f"{min(uids)}-{max(uids)}"


class ImapConnection:
    """A logged-in connection to one mailbox's server. Not thread-safe: one user at a time."""

    def __init__(self, client: IMAPClient, *, mailbox: str, settings: MailboxSettings) -> None:
        self._client = client
        self.mailbox = mailbox
        self.settings = settings
        self.broken = False
        self.auth_warning: str | None = None
        self.last_used = time.monotonic()
        self._idling = False
        self._quick_empty_checks = 0

    @classmethod
    def open(cls, mailbox: str, settings: MailboxSettings) -> "ImapConnection":
        """Connect (implicit TLS, STARTTLS or plain on loopback) and log in with a password or XOAUTH2."""
        host, port, timeout = settings.host, settings.effective_port, settings.timeout_seconds
        context = make_ssl_context(settings) if settings.tls != "none" else None
        try:
            client = IMAPClient(host, port, ssl=settings.tls == "implicit", ssl_context=context,
                                timeout=SocketTimeout(connect=timeout, read=timeout))
        except Exception as exc:  # every library/network error becomes an ImapError here
            raise translate_error(exc, mailbox=mailbox, host=host, port=port, timeout=timeout,
                                  operation="connect") from exc
        connection = cls(client, mailbox=mailbox, settings=settings)
        try:
            connection._keepalive()
            if settings.tls == "starttls":
                if not connection._call("CAPABILITY", lambda: client.has_capability("STARTTLS")):
                    raise ImapError(f"{host}:{port} does not offer STARTTLS; refusing to log in without TLS",
                                    mailbox=mailbox)
                connection._call("STARTTLS", client.starttls, context)
            connection._login()
        except BaseException:
            connection.broken = True
            connection.close()
            raise
        return connection

    def _keepalive(self) -> None:
        sock = self._client.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for name, value in (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 15), ("TCP_KEEPCNT", 4)):
            if hasattr(socket, name):
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)

    def _login(self) -> None:
        settings = self.settings
        if settings.oauth2_token_command:
            token = run_token_command(settings.oauth2_token_command, timeout=settings.timeout_seconds,
                                      mailbox=self.mailbox)
            self.auth_warning = token.expiry_warning(datetime.now(timezone.utc))
            self._call("XOAUTH2 login", self._client.oauth2_login, settings.user, token.value)
            return
        try:
            password = settings.resolve_password()
        except ConfigError as exc:
            raise ImapAuthError(str(exc), mailbox=self.mailbox) from exc
        if password is None:
            raise ImapAuthError(
                f"no credentials: set TRIAGE_MAILBOXES__{self.mailbox.upper()}__PASSWORD, password_file "
                "or oauth2_token_command", mailbox=self.mailbox)
        self._call("login", self._client.login, settings.user, password)

    def _call(self, operation: str, function: Callable[..., T], *args: Any, folder: str | None = None,
              uid: int | None = None) -> T:
        try:
            result = function(*args)
        except Exception as exc:  # translated at this boundary, with where it happened
            error = translate_error(exc, mailbox=self.mailbox, host=self.settings.host,
                                    port=self.settings.effective_port, timeout=self.settings.timeout_seconds,
                                    operation=operation, folder=folder, uid=uid, user=self.settings.user)
            if not isinstance(error, (ImapMessageError, ImapFolderError)) or isinstance(exc, imap_exc.LoginError):
                self.broken = True
            raise error from exc
        self.last_used = time.monotonic()
        return result

    def has_capability(self, name: str) -> bool:
        """Whether the server advertises a capability (IDLE, MOVE, ...)."""
        return bool(self._call("CAPABILITY", self._client.has_capability, name))

    def noop(self) -> None:
        """Check that the connection still answers."""
        self._call("NOOP", self._client.noop)

    def select(self, folder: str, *, readonly: bool) -> FolderStatus:
        """Open a folder (read-only with EXAMINE); its UIDVALIDITY and UIDNEXT."""
        response = self._call("SELECT", self._client.select_folder, folder, readonly, folder=folder)
        uidvalidity = response.get(b"UIDVALIDITY")
        if uidvalidity is None:
            self.broken = True
            raise ImapFolderError("the server sent no UIDVALIDITY", mailbox=self.mailbox, folder=folder)
        uidnext = response.get(b"UIDNEXT")
        return FolderStatus(int(uidvalidity), int(uidnext) if uidnext else None, int(response.get(b"EXISTS", 0)))

    def search_uids(self, folder: str, first: int, last: int | None, since: date | None = None) -> list[int]:
        """UIDs from ``first`` to ``last`` (or the end), ascending, optionally only those arrived since a date."""
        criteria: list[Any] = ["UID", f"{first}:{last if last is not None else '*'}"]
        if since is not None:
            criteria += ["SINCE", since]
        found = self._call("UID SEARCH", self._client.search, criteria, folder=folder)
        # "n:*" always matches the last message, even below n.
        return sorted(uid for uid in found if uid >= first and (last is None or uid <= last))

    def sizes(self, folder: str, uids: Sequence[int]) -> dict[int, int]:
        """The size in bytes of each message that still exists."""
        if not uids:
            return {}
        data = self._call("FETCH RFC822.SIZE", self._client.fetch, list(uids), ["RFC822.SIZE"], folder=folder)
        return {uid: int(item.get(b"RFC822.SIZE") or 0) for uid, item in data.items()}

    def fetch_bodies(self, folder: str, uids: Sequence[int]) -> dict[int, bytes | None]:
        """The raw bytes of each message with ``BODY.PEEK[]``; None when the server sent none; absent when gone."""
        if not uids:
            return {}
        data = self._call(f"FETCH BODY.PEEK[] of UIDs {_uid_span(uids)}", self._client.fetch, list(uids),
                          ["BODY.PEEK[]"], folder=folder, uid=uids[0] if len(uids) == 1 else None)
        bodies: dict[int, bytes | None] = {}
        for uid, item in data.items():
            body = item.get(b"BODY[]")
            bodies[uid] = bytes(body) if isinstance(body, (bytes, bytearray)) else (
                body.encode("utf-8", "surrogateescape") if isinstance(body, str) else None)
        return bodies

    def mark_seen(self, folder: str, uids: Sequence[int]) -> None:
        """Flag messages \\Seen."""
        if uids:
            self._call("STORE +FLAGS (\\Seen)", self._client.add_flags, list(uids), [SEEN], True, folder=folder)

    def move(self, folder: str, uids: Sequence[int], destination: str) -> None:
        """Move messages to another folder with the MOVE command (never COPY and delete)."""
        if uids:
            self._call(f"MOVE to {destination}", self._client.move, list(uids), destination, folder=folder)

    def idle_start(self, folder: str) -> None:
        """Enter IDLE on the selected folder."""
        self._call("IDLE", self._client.idle, folder=folder)
        self._idling = True
        self._quick_empty_checks = 0

    def idle_wait(self, folder: str, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds in IDLE; True when the server announced new mail."""
        started = time.monotonic()
        responses = self._call("IDLE", self._client.idle_check, timeout, folder=folder)
        changed = False
        for response in responses:
            if len(response) >= 1 and response[0] == b"BYE":
                self.broken = True
                text = " ".join(p.decode(errors="replace") if isinstance(p, bytes) else str(p) for p in response[1:])
                raise ImapError(f"the server closed the connection: {text[:300]}",
                                mailbox=self.mailbox, folder=folder)
            if len(response) >= 2 and response[1] in (b"EXISTS", b"RECENT"):
                changed = True
        if not responses and time.monotonic() - started < timeout / 2:
            # The socket was readable but held no response: the server has gone (EOF).
            self._quick_empty_checks += 1
            if self._quick_empty_checks >= 2:
                self.broken = True
                raise ImapError("the connection was closed by the server while idling",
                                mailbox=self.mailbox, folder=folder)
        else:
            self._quick_empty_checks = 0
        return changed

    def idle_stop(self, folder: str) -> None:
        """Leave IDLE (DONE), waiting at most the timeout for the server's answer."""
        if self._idling:
            self._idling = False
            self._call("IDLE DONE", self._client.idle_done, folder=folder)

    def close(self) -> None:
        """Log out (or just drop a broken connection); never raises."""
        try:
            if not self.broken:
                if self._idling:
                    self.idle_stop("")
                self._client.logout()
                return
        except Exception:  # closing a connection that is going away anyway
            pass
        try:
            self._client.shutdown()
        except Exception:  # the socket may already be closed
            pass
