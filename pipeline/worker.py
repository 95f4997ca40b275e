"""One mailbox's sync job: its connection, its backoff, its health in the database.

``sync_once()`` never raises for a mailbox's own failures: it returns them, so
a failing mailbox never stops the others. ``run_job()`` is what the scheduler
runs: no two syncs of one mailbox overlap, a wake-up during a sync runs one
more sync right after it, and a failure reschedules the job with exponential
backoff and jitter (longer for authentication failures, which lock accounts).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field

from pipeline.backoff import Backoff
from pipeline.config import MailboxSettings
from pipeline.errors import ImapAuthError, ImapError, TriageError
from pipeline.handoff import InquirySink
from pipeline.desks import assign_desk
from pipeline.ingest import IngestStats, Ingestor
from pipeline.leases import AnyEvent, LeaseKeeper
from pipeline.runtime import Runtime
from pipeline.rwlock import SharedExclusiveLock
from pipeline.sources.base import ConnectionFactory, MailFolderConnection
from pipeline.sources.imap import ImapConnection
from pipeline.store import sync_state
from pipeline.sync import FetchFailures, MailboxSync, SyncReport

log = logging.getLogger(__name__)

REUSE_CHECK_AFTER = 30.0  # seconds unused after which a kept connection is checked with NOOP first


class AccountSlots:
    """At most ``limit`` connections at a time to one account (servers cap them)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._semaphore = threading.BoundedSemaphore(limit)

    def acquire(self, timeout: float) -> bool:
        """Take a connection slot, waiting at most ``timeout`` seconds; False when none came free."""
        return self._semaphore.acquire(timeout=timeout)

    def release(self) -> None:
        """Give a slot back."""
        self._semaphore.release()


def account_key(settings: MailboxSettings) -> tuple[str, int, str]:
    """Mailboxes with the same host, port and user share one account's connection limit."""
    return settings.host.lower(), settings.effective_port, settings.user.lower()


def accounts(mailboxes: Mapping[str, MailboxSettings]) -> list[list[str]]:
    """The mailbox names grouped by account."""
    groups: dict[tuple[str, int, str], list[str]] = {}
    for name, settings in mailboxes.items():
        groups.setdefault(account_key(settings), []).append(name)
    return list(groups.values())


def account_slots(mailboxes: Mapping[str, MailboxSettings]) -> dict[str, AccountSlots]:
    """The shared slots of each mailbox's account; the limit is the smallest ``max_connections`` among them."""
    slots: dict[str, AccountSlots] = {}
    for names in accounts(mailboxes):
        shared = AccountSlots(min(mailboxes[name].max_connections for name in names))
        slots.update({name: shared for name in names})
    return slots


@dataclass
class SyncResult:
    """One sync of one mailbox: what it stored, and the errors that made it fail (empty on success)."""

    name: str
    stats: IngestStats = field(default_factory=IngestStats)
    errors: list[TriageError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every folder synced."""
        return not self.errors

    @property
    def auth_failed(self) -> bool:
        """True when the server refused the credentials (or none could be had)."""
        return any(isinstance(error, ImapAuthError) for error in self.errors)


class MailboxWorker:
    """Syncs one configured mailbox, keeping one connection open between runs."""

    def __init__(self, name: str, settings: MailboxSettings, runtime: Runtime, slots: AccountSlots, *,
                 sink: InquirySink, stop: threading.Event | None = None, keep_connection: bool = True,
                 guard: SharedExclusiveLock | None = None, connect: ConnectionFactory = ImapConnection.open) -> None:
        self.name = name
        self.connect = connect  # how connections are opened (an in-memory twin in unit tests)
        self.keep_connection = keep_connection
        self.guard = guard  # held shared while syncing (see Daemon)
        self.settings = settings
        self.runtime = runtime
        self.slots = slots
        self.stop = stop or threading.Event()
        self.ingestor = Ingestor(runtime.session_factory, limits=runtime.parse_limits, batch_size=settings.batch_size,
                                 sink=sink, desk_for=self._desk_of)
        self.failures = FetchFailures()
        self.backoff = Backoff(initial=1.0, maximum=300.0)
        self.auth_backoff = Backoff(initial=30.0, maximum=1800.0)
        self.schedule_in: Callable[[float], None] | None = None  # set by the daemon: run the job after N seconds
        self._mailbox_id: int | None = None
        self._connection: MailFolderConnection | None = None
        self._run_lock = threading.Lock()
        self._flags = threading.Lock()
        self._running = False
        self._pending = False
        self._retry_at: float | None = None
        self.leases: LeaseKeeper | None = None  # set by the daemon: each folder is synced under its lease

    def _desk_of(self, mailbox: str | None, recipients: list[str]) -> str | None:
        """The desk of a message of this mailbox: the mailbox's own, else by its receiving address."""
        if self.settings.desk:
            return self.settings.desk
        return assign_desk(self.runtime.settings, mailbox or self.name, recipients)

    # -- one sync -------------------------------------------------------------------------------------------

    def sync_once(self) -> SyncResult:
        """Sync every folder once; failures are returned (and recorded as the mailbox's health), not raised."""
        with self._run_lock, (self.guard.shared() if self.guard is not None else nullcontext()):
            result = SyncResult(self.name)
            factory = self.runtime.session_factory
            try:
                if self._mailbox_id is None:
                    self._mailbox_id = sync_state.ensure_mailbox(factory, self.name, self.settings.host,
                                                                 self.settings.user)
                connection = self._connect()
                if self.leases is None:
                    sync = MailboxSync(self.name, self.settings, factory, self.ingestor, self._mailbox_id,
                                       failures=self.failures, stop=self.stop)
                    report = sync.run(connection)
                else:
                    report = self._sync_leased(connection, self.leases, self._mailbox_id)
                result.stats = report.stats
                result.errors.extend(report.folder_errors)
                if report.fatal is not None:
                    result.errors.append(report.fatal)
                if connection.broken or not self.keep_connection:
                    self._drop_connection()
                alerts = [a for a in (connection.auth_warning, *report.alerts) if a]
            except TriageError as exc:
                result.errors.append(exc)
                alerts = []
                if self._connection is not None and (self._connection.broken or not self.keep_connection):
                    self._drop_connection()
            self._record(result, alerts)
            return result

    def _sync_leased(self, connection: MailFolderConnection, leases: LeaseKeeper, mailbox_id: int) -> SyncReport:
        """Sync each folder whose lease this daemon gets; one another daemon holds is tried again when it expires."""
        report = SyncReport()
        retry: float | None = None
        for folder in self.settings.folders:
            if self.stop.is_set():
                report.stopped = True
                break
            claim, held = leases.try_take(self.name, folder)
            if held is None:
                log.debug("mailbox %s, folder %s: synced by %s now (lease for %.1f s more)",
                          self.name, folder, claim.holder, claim.seconds_left)
                retry = claim.seconds_left if retry is None else min(retry, claim.seconds_left)
                continue
            try:
                sync = MailboxSync(self.name, self.settings.model_copy(update={"folders": (folder,)}),
                                   self.runtime.session_factory, self.ingestor, mailbox_id, failures=self.failures,
                                   stop=AnyEvent(self.stop, held.lost))
                part = sync.run(connection)
            finally:
                leases.give_back(held)
            report.stats.add(part.stats)
            report.folder_errors.extend(part.folder_errors)
            report.alerts.extend(alert for alert in part.alerts if alert not in report.alerts)
            report.stopped = report.stopped or (part.stopped and self.stop.is_set())
            if part.fatal is not None:
                report.fatal = part.fatal
                break
        if retry is not None and self.schedule_in is not None and not self.stop.is_set():
            self.schedule_in(retry + 0.5)
        return report

    def _record(self, result: SyncResult, alerts: list[str]) -> None:
        if self._mailbox_id is None:
            return
        factory = self.runtime.session_factory
        try:
            if result.ok:
                sync_state.mailbox_succeeded(factory, self._mailbox_id, alert="; ".join(alerts) or None)
            else:
                auth = next((e for e in result.errors if isinstance(e, ImapAuthError)), None)
                sync_state.mailbox_failed(factory, self._mailbox_id, str(auth or result.errors[0]),
                                          auth=auth is not None)
        except TriageError as exc:
            log.error("mailbox %s: cannot record its state: %s", self.name, exc)

    def _connect(self) -> MailFolderConnection:
        connection = self._connection
        if connection is not None and not connection.broken:
            if time.monotonic() - connection.last_used < REUSE_CHECK_AFTER:
                return connection
            try:
                connection.noop()
                return connection
            except ImapError:
                log.info("mailbox %s: the kept connection no longer answers; reconnecting", self.name)
        self._drop_connection()
        if not self.slots.acquire(timeout=self.settings.timeout_seconds):
            raise ImapError(f"all {self.slots.limit} connections allowed to this account stay busy",
                            mailbox=self.name)
        try:
            connection = self.connect(self.name, self.settings)
        except BaseException:
            self.slots.release()
            raise
        if connection.auth_warning:
            log.warning("mailbox %s: %s", self.name, connection.auth_warning)
        self._connection = connection
        return connection

    def _drop_connection(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
            self.slots.release()

    def close(self) -> None:
        """Log out of the kept connection."""
        with self._run_lock:
            self._drop_connection()

    # -- as a scheduled job ---------------------------------------------------------------------------------

    def wake(self) -> None:
        """New mail was announced: sync now, or right after the sync in progress (not while backing off)."""
        with self._flags:
            if self._running:
                self._pending = True
                return
            if self._retry_at is not None and time.monotonic() < self._retry_at:
                return
        if self.schedule_in is not None:
            self.schedule_in(0.0)

    def mark_pending(self) -> None:
        """A run came due while one was in progress: run again right after it."""
        with self._flags:
            self._pending = True

    def run_job(self) -> None:
        """The scheduler's job: sync (again while wake-ups arrive); on failure, back off and reschedule."""
        with self._flags:
            if self._running:
                self._pending = True
                return
            self._running, self._pending = True, False
        try:
            while not self.stop.is_set():
                try:
                    result = self.sync_once()
                except Exception:  # a bug must not stop the daemon: log it and back off like any failure
                    log.exception("mailbox %s: unexpected error during sync", self.name)
                    result = SyncResult(self.name, errors=[TriageError("unexpected error")])
                if not result.ok:
                    self._back_off(result)
                    return
                self.backoff.reset()
                self.auth_backoff.reset()
                with self._flags:
                    self._retry_at = None
                    if not self._pending:
                        self._running = False
                        return
                    self._pending = False
        finally:
            with self._flags:
                self._running = False

    def _back_off(self, result: SyncResult) -> None:
        delay = (self.auth_backoff if result.auth_failed else self.backoff).next_delay()
        with self._flags:
            self._retry_at = time.monotonic() + delay
        for error in result.errors:
            prefix = "ALERT: " if isinstance(error, ImapAuthError) else ""
            log.error("%s%s; retrying in %.1f s", prefix, error, delay)
        if self.schedule_in is not None and not self.stop.is_set():
            self.schedule_in(delay)
