"""An in-memory IMAP server and its connections: the twin of ``ImapConnection`` for tests without Dovecot.

``MemoryImapServer`` holds folders (UIDVALIDITY, UIDNEXT, messages with their
arrival date and flags) and is driven by the test: APPEND, expunge, deleting
or recreating a folder (a new UIDVALIDITY), and faults (refused logins, a
server that is down or stalls, a message the server refuses, one that drops
the connection every time it is fetched, a connection dropped after N fetches).
``MemoryImapServer.connect`` has the signature of ``ImapConnection.open`` and
returns a ``MemoryImapConnection``, which satisfies ``MailFolderConnection``.

Faults are raised as the library exceptions a real server would cause
(imapclient's ``LoginError``, ``IMAPClientError``, ``IMAPClientAbortError``,
``socket.timeout``, ``ConnectionRefusedError``) and translated by the real
``translate_error``, so callers see the same ``ImapError`` family, with the same
messages, and the same ``broken`` rule as with a real server. Time is not
simulated: a stalled server fails at once with the timeout error it would
eventually give.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import TypeVar

from imapclient import exceptions as imap_exc

from pipeline.config import MailboxSettings
from pipeline.errors import ConfigError, ImapAuthError, ImapError, ImapFolderError, ImapMessageError
from pipeline.sources.base import FolderStatus
from pipeline.sources.imap import translate_error

T = TypeVar("T")

DEFAULT_CAPABILITIES = ("IMAP4REV1", "IDLE", "MOVE", "UIDPLUS")


@dataclass
class MemoryMessage:
    """One message in a folder: its bytes, when it arrived, its flags."""

    raw: bytes
    internaldate: datetime
    flags: set[str] = field(default_factory=set)


@dataclass
class MemoryFolder:
    """One folder: its UIDVALIDITY, the next UID it will give, and its messages by UID."""

    name: str
    uidvalidity: int
    uidnext: int = 1
    messages: dict[int, MemoryMessage] = field(default_factory=dict)
    arrivals: int = 0  # how many messages were ever appended: IDLE announces a change of it


@dataclass
class _Faults:
    refuse_login: bool = False
    down: bool = False
    stalled: bool = False
    refused_uids: set[tuple[str, int]] = field(default_factory=set)
    breaking_uids: set[tuple[str, int]] = field(default_factory=set)
    bodiless_uids: set[tuple[str, int]] = field(default_factory=set)
    drop_after: int | None = None
    stall_after: int | None = None


def _uid_span(uids: Sequence[int]) -> str:
    return str(uids[0]) if len(uids) == 1 else f"{min(uids)}-{max(uids)}"


class MemoryImapServer:
    """An IMAP account held in memory, with its folders and the faults to inject. Thread-safe."""

    def __init__(self, *, user: str = "desk@example.org", password: str = "secret",
                 folders: Iterable[str] = ("INBOX",), capabilities: Iterable[str] = DEFAULT_CAPABILITIES,
                 first_uidvalidity: int = 1000) -> None:
        self.user = user
        self.password = password
        self.capabilities = {c.upper() for c in capabilities}
        self.folders: dict[str, MemoryFolder] = {}
        self.fetches: list[tuple[str, list[int]]] = []  # every body FETCH asked for: (folder, UIDs)
        self.logins = 0
        self.open_connections: set[MemoryImapConnection] = set()
        self.faults = _Faults()
        self._next_uidvalidity = first_uidvalidity
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        for name in folders:
            self.create_folder(name)

    # -- the test's side: the mailbox's content ----------------------------------------------------------

    def create_folder(self, name: str) -> MemoryFolder:
        """Create a folder (a fresh UIDVALIDITY, as a recreated folder gets); ValueError when it exists."""
        with self._lock:
            if name in self.folders:
                raise ValueError(f"folder {name!r} exists")
            folder = MemoryFolder(name, self._next_uidvalidity)
            self._next_uidvalidity += 1
            self.folders[name] = folder
            return folder

    def delete_folder(self, name: str) -> None:
        """Delete a folder and its messages."""
        with self._changed:
            del self.folders[name]
            self._changed.notify_all()

    def append(self, folder: str, raw: bytes, *, internaldate: datetime | None = None,
               flags: Iterable[str] = ()) -> int:
        """APPEND a message (creating the folder if needed); its UID. IDLE connections on the folder are told."""
        with self._changed:
            box = self.folders.get(folder) or self.create_folder(folder)
            uid = box.uidnext
            box.uidnext += 1
            box.messages[uid] = MemoryMessage(raw, internaldate or datetime.now(timezone.utc), set(flags))
            box.arrivals += 1
            self._changed.notify_all()
            return uid

    def append_many(self, folder: str, raws: Iterable[bytes], *, internaldate: datetime | None = None) -> list[int]:
        """APPEND several messages in order; their UIDs."""
        return [self.append(folder, raw, internaldate=internaldate) for raw in raws]

    def expunge(self, folder: str, uids: Iterable[int]) -> None:
        """Remove messages for good (their UIDs are never given again)."""
        with self._changed:
            box = self.folders[folder]
            for uid in uids:
                box.messages.pop(uid, None)
            self._changed.notify_all()

    def renumber(self, folder: str) -> int:
        """Give a folder a new UIDVALIDITY with its messages renumbered from UID 1 (as after a server rebuild);
        the new UIDVALIDITY."""
        with self._changed:
            box = self.folders[folder]
            box.uidvalidity = self._next_uidvalidity
            self._next_uidvalidity += 1
            box.messages = {n: message for n, message in enumerate(box.messages.values(), start=1)}
            box.uidnext = len(box.messages) + 1
            self._changed.notify_all()
            return box.uidvalidity

    def uids(self, folder: str) -> list[int]:
        """The UIDs in a folder, ascending."""
        with self._lock:
            return sorted(self.folders[folder].messages)

    def flags(self, folder: str) -> dict[int, frozenset[str]]:
        """Each message's flags."""
        with self._lock:
            return {uid: frozenset(m.flags) for uid, m in sorted(self.folders[folder].messages.items())}

    # -- the test's side: faults -------------------------------------------------------------------------

    def refuse_logins(self, refuse: bool = True) -> None:
        """Refuse (or accept again) every login, as with a changed password."""
        with self._lock:
            self.faults.refuse_login = refuse

    def set_down(self, down: bool = True) -> None:
        """Refuse (or accept again) every new connection, as a server that is not running."""
        with self._lock:
            self.faults.down = down

    def refuse_fetch(self, folder: str, uid: int) -> None:
        """The server answers NO to every FETCH that includes this message; the connection stays usable."""
        with self._lock:
            self.faults.refused_uids.add((folder, uid))

    def break_on_fetch(self, folder: str, uid: int) -> None:
        """The server drops the connection on every FETCH that includes this message."""
        with self._lock:
            self.faults.breaking_uids.add((folder, uid))

    def send_no_body(self, folder: str, uid: int) -> None:
        """The server answers a FETCH of this message without its body."""
        with self._lock:
            self.faults.bodiless_uids.add((folder, uid))

    def drop_after_fetches(self, count: int) -> None:
        """The next ``count`` body FETCHes succeed; the one after drops the connection (once)."""
        with self._lock:
            self.faults.drop_after = count

    def stall_after_fetches(self, count: int) -> None:
        """The next ``count`` body FETCHes succeed; then the server stops answering anything until ``resume``."""
        with self._lock:
            self.faults.stall_after = count

    def stall(self) -> None:
        """The server stops answering anything (connections, commands) until ``resume``."""
        with self._changed:
            self.faults.stalled = True
            self._changed.notify_all()

    def resume(self) -> None:
        """The server answers again."""
        with self._lock:
            self.faults.stalled = False
            self.faults.stall_after = None

    def clear_faults(self) -> None:
        """No more injected faults."""
        with self._lock:
            self.faults = _Faults()

    def disconnect_all(self) -> None:
        """The server closes every open connection (BYE), as on a restart."""
        with self._changed:
            for connection in list(self.open_connections):
                connection._dropped = True
            self._changed.notify_all()

    # -- the connection's side ---------------------------------------------------------------------------

    def connect(self, mailbox: str, settings: MailboxSettings) -> "MemoryImapConnection":
        """Connect and log in like ``ImapConnection.open``; the same errors for the same causes."""
        connection = MemoryImapConnection(self, mailbox=mailbox, settings=settings)
        connection._open()
        return connection

    def _check_alive(self) -> None:
        if self.faults.stalled:
            raise socket.timeout("timed out")

    def _before_body_fetch(self, folder: str, uids: Sequence[int]) -> None:
        """Apply the fetch faults, in the order a server would meet them."""
        self.fetches.append((folder, list(uids)))
        faults = self.faults
        if faults.stall_after is not None:
            if faults.stall_after <= 0:
                faults.stalled = True
                raise socket.timeout("timed out")
            faults.stall_after -= 1
        if faults.drop_after is not None:
            if faults.drop_after <= 0:
                faults.drop_after = None
                raise imap_exc.IMAPClientAbortError("socket error: EOF")
            faults.drop_after -= 1
        if any((folder, uid) in faults.breaking_uids for uid in uids):
            raise imap_exc.IMAPClientAbortError("socket error: EOF")
        if any((folder, uid) in faults.refused_uids for uid in uids):
            raise imap_exc.IMAPClientError("fetch failed: Internal error occurred. Refer to server log")


class MemoryImapConnection:
    """A logged-in connection to a ``MemoryImapServer``, behaving as ``ImapConnection`` does. One user at a time."""

    def __init__(self, server: MemoryImapServer, *, mailbox: str, settings: MailboxSettings) -> None:
        self.server = server
        self.mailbox = mailbox
        self.settings = settings
        self.broken = False
        self.auth_warning: str | None = None
        self.last_used = time.monotonic()
        self.closed = False
        self._dropped = False  # the server closed this connection
        self._selected: tuple[str, int] | None = None  # folder name and its UIDVALIDITY when selected
        self._readonly = True
        self._idling = False
        self._idle_arrivals = 0

    def _open(self) -> None:
        server = self.server
        with server._lock:
            try:
                if server.faults.down:
                    raise ConnectionRefusedError(111, "Connection refused")
                server._check_alive()
            except Exception as exc:
                self.broken = self.closed = True
                raise self._translate(exc, "connect") from exc
            server.open_connections.add(self)
        try:
            self._login()
        except BaseException:
            self.broken = True
            self.close()
            raise

    def _login(self) -> None:
        if self.settings.oauth2_token_command:
            raise ImapAuthError("the in-memory IMAP server supports password logins only", mailbox=self.mailbox)
        try:
            password = self.settings.resolve_password()
        except ConfigError as exc:
            raise ImapAuthError(str(exc), mailbox=self.mailbox) from exc
        if password is None:
            raise ImapAuthError(
                f"no credentials: set TRIAGE_MAILBOXES__{self.mailbox.upper()}__PASSWORD, password_file "
                "or oauth2_token_command", mailbox=self.mailbox)

        def login() -> None:
            server = self.server
            if server.faults.refuse_login or self.settings.user != server.user or password != server.password:
                raise imap_exc.LoginError("b'[AUTHENTICATIONFAILED] Authentication failed.'")
            server.logins += 1

        self._call("login", login)

    def _translate(self, exc: BaseException, operation: str, folder: str | None = None,
                   uid: int | None = None) -> ImapError:
        return translate_error(exc, mailbox=self.mailbox, host=self.settings.host,
                               port=self.settings.effective_port, timeout=self.settings.timeout_seconds,
                               operation=operation, folder=folder, uid=uid, user=self.settings.user)

    def _call(self, operation: str, function: Callable[[], T], *, folder: str | None = None,
              uid: int | None = None) -> T:
        """Run one command against the server under its lock, translating failures as ``ImapConnection`` does."""
        server = self.server
        try:
            with server._lock:
                if self.closed or self._dropped:
                    raise imap_exc.IMAPClientAbortError("socket error: EOF")
                server._check_alive()
                result = function()
        except Exception as exc:  # translated at this boundary, with where it happened
            error = self._translate(exc, operation, folder, uid)
            if not isinstance(error, (ImapMessageError, ImapFolderError)) or isinstance(exc, imap_exc.LoginError):
                self.broken = True
            raise error from exc
        self.last_used = time.monotonic()
        return result

    def _folder(self, folder: str) -> MemoryFolder:
        """The selected folder; the caller must name the folder it selected."""
        if self._selected is None:
            raise imap_exc.IMAPClientError("command failed: No mailbox selected")
        name, uidvalidity = self._selected
        if folder != name:
            raise ValueError(f"folder {folder!r} is not the selected folder {name!r}")
        box = self.server.folders.get(name)
        if box is None or box.uidvalidity != uidvalidity:
            self._dropped = True
            raise imap_exc.IMAPClientAbortError("socket error: EOF (the selected mailbox was deleted)")
        return box

    def has_capability(self, name: str) -> bool:
        """Whether the server advertises a capability (IDLE, MOVE, ...)."""
        return self._call("CAPABILITY", lambda: name.upper() in self.server.capabilities)

    def noop(self) -> None:
        """Check that the connection still answers."""
        self._call("NOOP", lambda: None)

    def select(self, folder: str, *, readonly: bool) -> FolderStatus:
        """Open a folder (read-only with EXAMINE); its UIDVALIDITY and UIDNEXT."""

        def select() -> FolderStatus:
            box = self.server.folders.get(folder)
            if box is None:
                self._selected = None
                raise imap_exc.IMAPClientError(f"select failed: Mailbox doesn't exist: {folder}")
            self._selected, self._readonly = (folder, box.uidvalidity), readonly
            return FolderStatus(box.uidvalidity, box.uidnext, len(box.messages))

        return self._call("SELECT", select, folder=folder)

    def search_uids(self, folder: str, first: int, last: int | None, since: date | None = None) -> list[int]:
        """UIDs from ``first`` to ``last`` (or the end), ascending, optionally only those arrived since a date."""

        def search() -> list[int]:
            box = self._folder(folder)
            return sorted(uid for uid, message in box.messages.items()
                          if uid >= first and (last is None or uid <= last)
                          and (since is None or message.internaldate.date() >= since))

        return self._call("UID SEARCH", search, folder=folder)

    def sizes(self, folder: str, uids: Sequence[int]) -> dict[int, int]:
        """The size in bytes of each message that still exists."""
        if not uids:
            return {}

        def sizes() -> dict[int, int]:
            box = self._folder(folder)
            return {uid: len(box.messages[uid].raw) for uid in uids if uid in box.messages}

        return self._call("FETCH RFC822.SIZE", sizes, folder=folder)

    def fetch_bodies(self, folder: str, uids: Sequence[int]) -> dict[int, bytes | None]:
        """The raw bytes of each message, without marking it read; None when the server sent none; absent when gone."""
        if not uids:
            return {}

        def fetch() -> dict[int, bytes | None]:
            box = self._folder(folder)
            try:
                self.server._before_body_fetch(folder, uids)
            except imap_exc.IMAPClientAbortError:
                self._dropped = True
                raise
            bodiless = self.server.faults.bodiless_uids
            return {uid: None if (folder, uid) in bodiless else box.messages[uid].raw
                    for uid in uids if uid in box.messages}

        return self._call(f"FETCH BODY.PEEK[] of UIDs {_uid_span(uids)}", fetch, folder=folder,
                          uid=uids[0] if len(uids) == 1 else None)

    def mark_seen(self, folder: str, uids: Sequence[int]) -> None:
        """Flag messages \\Seen."""
        if not uids:
            return

        def store() -> None:
            box = self._folder(folder)
            if self._readonly:
                raise imap_exc.IMAPClientError("store failed: Mailbox is read-only")
            for uid in uids:
                if uid in box.messages:
                    box.messages[uid].flags.add("\\Seen")

        self._call("STORE +FLAGS (\\Seen)", store, folder=folder)

    def move(self, folder: str, uids: Sequence[int], destination: str) -> None:
        """Move messages to another folder with the MOVE command (never COPY and delete)."""
        if not uids:
            return

        def move() -> None:
            box = self._folder(folder)
            if "MOVE" not in self.server.capabilities:
                raise imap_exc.CapabilityError("Server does not support MOVE")
            if self._readonly:
                raise imap_exc.IMAPClientError("move failed: Mailbox is read-only")
            target = self.server.folders.get(destination)
            if target is None:
                raise imap_exc.IMAPClientError(f"move failed: Mailbox doesn't exist: {destination}")
            for uid in uids:
                message = box.messages.pop(uid, None)
                if message is not None:
                    self.server.append(destination, message.raw, internaldate=message.internaldate,
                                       flags=message.flags)

        self._call(f"MOVE to {destination}", move, folder=folder)

    def idle_start(self, folder: str) -> None:
        """Enter IDLE on the selected folder."""

        def idle() -> None:
            box = self._folder(folder)
            if "IDLE" not in self.server.capabilities:
                raise imap_exc.CapabilityError("Server does not support IDLE")
            self._idle_arrivals = box.arrivals

        self._call("IDLE", idle, folder=folder)
        self._idling = True

    def idle_wait(self, folder: str, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds in IDLE; True when the server announced new mail."""
        server = self.server

        def changed() -> bool:
            box = server.folders.get(folder)
            return self._dropped or server.faults.stalled or box is None or box.arrivals != self._idle_arrivals

        def wait() -> bool:
            server._changed.wait_for(changed, timeout)
            if self._dropped:
                raise imap_exc.IMAPClientAbortError("socket error: EOF")
            box = self._folder(folder)
            announced = box.arrivals != self._idle_arrivals
            self._idle_arrivals = box.arrivals
            return announced

        if self._dropped:  # the server said BYE while we were idling
            self.broken = True
            raise ImapError("the server closed the connection: Server shutting down.", mailbox=self.mailbox,
                            folder=folder)
        return self._call("IDLE", wait, folder=folder)

    def idle_stop(self, folder: str) -> None:
        """Leave IDLE (DONE)."""
        if self._idling:
            self._idling = False
            self._call("IDLE DONE", lambda: None, folder=folder)

    def close(self) -> None:
        """Log out (or just drop a broken connection); never raises."""
        with self.server._lock:
            self.closed = True
            self._idling = False
            self.server.open_connections.discard(self)

    def __repr__(self) -> str:
        return f"<MemoryImapConnection {self.mailbox} {'closed' if self.closed else 'open'}>"
