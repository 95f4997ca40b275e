"""IMAP IDLE watchers: one thread and one connection per watched folder, waking the mailbox's sync job.

IDLE is re-issued before the server's timeout (``idle_timeout_seconds``, at
most 29 minutes as RFC 2177 asks); a lost connection is replaced with backoff
and jitter, and after each reconnect the job is woken once to catch up on
whatever arrived meanwhile. Polling stays on as the safety net. IDLE is always
ended (DONE, logout) in a ``finally``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from pipeline.backoff import Backoff
from pipeline.config import MailboxSettings
from pipeline.errors import ImapAuthError, ImapError
from pipeline.sources.base import ConnectionFactory, MailFolderConnection
from pipeline.sources.imap import ImapConnection
from pipeline.worker import AccountSlots

log = logging.getLogger(__name__)

RFC_IDLE_LIMIT = 29 * 60.0
CHECK_EVERY = 1.0  # seconds between looks at the stop flag while idling


class IdleWatcher:
    """Keeps one folder in IDLE and calls ``on_new_mail`` whenever the server announces a message."""

    def __init__(self, name: str, settings: MailboxSettings, folder: str, slots: AccountSlots,
                 on_new_mail: Callable[[], None], stop: threading.Event, *,
                 connect: ConnectionFactory = ImapConnection.open) -> None:
        self.name = name
        self.connect = connect
        self.settings = settings
        self.folder = folder
        self.slots = slots
        self.on_new_mail = on_new_mail
        self.stop = stop
        self.idling = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"idle {name}/{folder}", daemon=True)

    def start(self) -> None:
        """Start watching in the background."""
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the watcher to end (after ``stop`` is set)."""
        self._thread.join(timeout)

    def _run(self) -> None:
        backoff = Backoff(initial=1.0, maximum=300.0)
        auth_backoff = Backoff(initial=30.0, maximum=1800.0)
        reconnect = False
        while not self.stop.is_set():
            delay = 0.0
            try:
                if self._watch(reconnect) is False:
                    return
                backoff.reset()
                auth_backoff.reset()
            except ImapAuthError as exc:
                delay = auth_backoff.next_delay()
                log.warning("%s; IDLE retries in %.1f s", exc, delay)
            except ImapError as exc:
                delay = backoff.next_delay()
                log.warning("%s; IDLE reconnects in %.1f s", exc, delay)
            except Exception:  # a bug must not end the watcher silently
                delay = backoff.next_delay()
                log.exception("mailbox %s, folder %s: unexpected error while idling", self.name, self.folder)
            reconnect = True
            self.idling.clear()
            if delay:
                self.stop.wait(delay)

    def _watch(self, reconnect: bool) -> bool | None:
        """One connection's life; False when the server has no IDLE (the watcher ends)."""
        while not self.slots.acquire(timeout=CHECK_EVERY):
            if self.stop.is_set():
                return None
        connection: MailFolderConnection | None = None
        try:
            connection = self.connect(self.name, self.settings)
            connection.select(self.folder, readonly=True)
            if not connection.has_capability("IDLE"):
                log.info("mailbox %s: the server does not offer IDLE; folder %s is polled every %g s",
                         self.name, self.folder, self.settings.poll_interval_seconds)
                return False
            log.info("mailbox %s, folder %s: idling", self.name, self.folder)
            if reconnect:
                self.on_new_mail()
            self._idle(connection)
            return True
        finally:
            if connection is not None:
                connection.close()
            self.slots.release()

    def _idle(self, connection: MailFolderConnection) -> None:
        renew_after = min(self.settings.idle_timeout_seconds, RFC_IDLE_LIMIT)
        while not self.stop.is_set():
            connection.idle_start(self.folder)
            self.idling.set()
            deadline = time.monotonic() + renew_after
            try:
                while not self.stop.is_set():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    if connection.idle_wait(self.folder, min(CHECK_EVERY, left)):
                        self.on_new_mail()
            finally:
                if not connection.broken:
                    connection.idle_stop(self.folder)
