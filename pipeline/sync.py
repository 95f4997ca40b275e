"""Incremental, UID-based sync of a mailbox's folders into the store, exactly once.

Progress is kept per (mailbox, folder) as UIDVALIDITY and the last UID handled,
saved after each stored batch. A new UIDVALIDITY starts the folder over; the
store recognises every message it already has (by fingerprint), so a resync
stores nothing twice. UIDs are searched in windows and fetched in batches
bounded by count and bytes, so memory stays flat however large the folder.
The next batch is fetched while the previous one is parsed and stored (one
store thread, so progress is saved strictly in UID order). A message the server
will not hand over is quarantined without bytes; one that breaks the connection
each time is fetched alone and given up after a few tries: one bad message never
blocks the rest of the folder.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy.orm import Session, sessionmaker

from pipeline.config import MailboxSettings
from pipeline.errors import ImapError, ImapFolderError, ImapMessageError, StorageError, TriageError
from pipeline.ingest import IngestStats, Ingestor, StoredOutcome
from pipeline.logs import about_message
from pipeline.quarantine import QuarantineReason
from pipeline.sources.base import MailFolderConnection, Origin, SourceItem
from pipeline.sources.imap import imap_source
from pipeline.store import sync_state
from pipeline.store.models import utcnow

log = logging.getLogger(__name__)

SEARCH_WINDOW = 5_000  # UIDs per UID SEARCH
MAX_BATCH_BYTES = 16 * 1024 * 1024  # bytes per FETCH (a larger message is fetched alone)
STORE_AHEAD = 2  # batches in hand: one being stored in the background while the next is fetched
GIVE_UP_AFTER = 3  # connection failures while fetching one message alone


def plan_batches(sizes: Sequence[tuple[int, int]], *, max_count: int, max_bytes: int) -> list[list[int]]:
    """Group (uid, size) pairs, in order, into batches of at most ``max_count`` messages and ``max_bytes``."""
    batches: list[list[int]] = []
    current: list[int] = []
    total = 0
    for uid, size in sizes:
        if current and (len(current) >= max_count or total + size > max_bytes):
            batches.append(current)
            current, total = [], 0
        current.append(uid)
        total += size
    if current:
        batches.append(current)
    return batches


class FetchFailures:
    """Remembers messages whose fetch broke the connection, so they are next fetched alone and then given up."""

    def __init__(self, give_up_after: int = GIVE_UP_AFTER) -> None:
        self.give_up_after = give_up_after
        self._suspects: dict[tuple[str, int], set[int]] = {}
        self._counts: dict[tuple[str, int, int], int] = {}
        self._lock = threading.Lock()

    def note(self, folder: str, uidvalidity: int, uids: Sequence[int]) -> None:
        """The connection failed while fetching these UIDs."""
        with self._lock:
            self._suspects.setdefault((folder, uidvalidity), set()).update(uids)
            if len(uids) == 1:
                key = (folder, uidvalidity, uids[0])
                self._counts[key] = self._counts.get(key, 0) + 1

    def is_suspect(self, folder: str, uidvalidity: int, uid: int) -> bool:
        """Whether this UID was in a fetch that broke the connection."""
        with self._lock:
            return uid in self._suspects.get((folder, uidvalidity), ())

    def given_up(self, folder: str, uidvalidity: int, uid: int) -> int:
        """How many times fetching this UID alone broke the connection, once that reached the limit (else 0)."""
        with self._lock:
            count = self._counts.get((folder, uidvalidity, uid), 0)
        return count if count >= self.give_up_after else 0

    def forget(self, folder: str, uidvalidity: int, uids: Sequence[int]) -> None:
        """These UIDs are handled."""
        with self._lock:
            suspects = self._suspects.get((folder, uidvalidity))
            for uid in uids:
                if suspects is not None:
                    suspects.discard(uid)
                self._counts.pop((folder, uidvalidity, uid), None)
            if suspects is not None and not suspects:
                del self._suspects[(folder, uidvalidity)]


@dataclass
class _Pending:
    """A fetched batch being stored by the pool."""

    uids: list[int]
    future: Future[tuple[IngestStats, list[int]]]
    unfetchable: dict[int, tuple[QuarantineReason, str]]
    fetched_at: datetime


@dataclass
class _FolderRun:
    """One sync of one folder: where it is, and the batches in flight."""

    connection: MailFolderConnection
    folder: str
    uidvalidity: int
    can_move: bool
    report: "SyncReport"
    stats: IngestStats
    pool: ThreadPoolExecutor
    inflight: deque[_Pending] = field(default_factory=deque)
    failed: bool = False


@dataclass
class SyncReport:
    """What one sync of a mailbox did: counts, folders that failed, problems that need a person."""

    stats: IngestStats = field(default_factory=IngestStats)
    folder_errors: list[ImapError] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    fatal: TriageError | None = None
    stopped: bool = False


class MailboxSync:
    """Syncs every configured folder of one mailbox over a connection it is given."""

    def __init__(
        self,
        name: str,
        settings: MailboxSettings,
        session_factory: sessionmaker[Session],
        ingestor: Ingestor,
        mailbox_id: int,
        *,
        failures: FetchFailures | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.session_factory = session_factory
        self.ingestor = ingestor
        self.mailbox_id = mailbox_id
        self.failures = failures or FetchFailures()
        self.stop = stop or threading.Event()

    def run(self, connection: MailFolderConnection) -> SyncReport:
        """Sync each folder in turn; a folder's error does not stop the others, a broken connection stops all.

        Nothing raises: errors are in the report (``folder_errors``, ``fatal``) with the counts so far.
        """
        report = SyncReport()
        for folder in self.settings.folders:
            if self.stop.is_set():
                report.stopped = True
                break
            try:
                self.sync_folder(connection, folder, report)
            except (ImapFolderError, ImapMessageError) as exc:
                report.folder_errors.append(exc)
                self._folder_failed(folder, exc)
            except TriageError as exc:
                report.fatal = exc
                if isinstance(exc, ImapError):
                    self._folder_failed(folder, exc)
                break
        return report

    def _folder_failed(self, folder: str, exc: TriageError) -> None:
        try:
            sync_state.folder_failed(self.session_factory, self.mailbox_id, folder, str(exc))
        except StorageError as storage:
            log.error("mailbox %s, folder %s: cannot record the folder's error: %s", self.name, folder, storage)

    def sync_folder(self, connection: MailFolderConnection, folder: str,
                    report: SyncReport | None = None) -> IngestStats:
        """Fetch and store every message of one folder not handled yet; the counts are added to the report."""
        report = report if report is not None else SyncReport()
        stats = IngestStats()
        try:
            self._sync_folder(connection, folder, report, stats)
        finally:
            report.stats.add(stats)
            self._log_stats(folder, stats)
        return stats

    def _sync_folder(self, connection: MailFolderConnection, folder: str, report: SyncReport,
                     stats: IngestStats) -> None:
        settings = self.settings
        status = connection.select(folder, readonly=settings.after_ingest == "leave")
        progress = sync_state.load_progress(self.session_factory, self.mailbox_id, folder)
        if progress is None or progress.uidvalidity != status.uidvalidity:
            if progress is not None and progress.uidvalidity is not None:
                log.warning("mailbox %s, folder %s: UIDVALIDITY changed from %s to %s; syncing the folder again "
                            "(messages already stored are recognised, not stored twice)",
                            self.name, folder, progress.uidvalidity, status.uidvalidity)
            sync_state.start_over(self.session_factory, self.mailbox_id, folder, status.uidvalidity)
            progress = sync_state.FolderProgress(status.uidvalidity, 0)
        first = progress.last_uid + 1
        last = status.uidnext - 1 if status.uidnext else None
        if (last is not None and first > last) or status.exists == 0:
            if last is not None and last > progress.last_uid:
                sync_state.advance(self.session_factory, self.mailbox_id, folder, status.uidvalidity, last)
            return
        since = settings.since if progress.last_uid == 0 else None
        can_move = settings.after_ingest != "move" or connection.has_capability("MOVE")
        if not can_move:
            report.alerts.append(f"mailbox {self.name}, folder {folder}: the server does not support MOVE, so "
                                 "after_ingest = 'move' cannot be honoured; messages are left in place")
            log.error("%s", report.alerts[-1])
        # One store thread: batches are stored one after the other, in order, while the next one is fetched.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"store {self.name}") as pool:
            run = _FolderRun(connection, folder, status.uidvalidity, can_move, report, stats, pool)
            try:
                self._walk(run, first, last, since)
            except BaseException:
                self._drain(run)
                raise
            error = self._drain(run)
            if error is not None:
                raise error

    def _walk(self, run: _FolderRun, first: int, last: int | None, since: date | None) -> None:
        """Search the folder window by window; fetch batch after batch while earlier ones are being stored."""
        low = first
        while True:
            high = None if last is None else min(low + SEARCH_WINDOW - 1, last)
            uids = run.connection.search_uids(run.folder, low, high, since)
            sizes = run.connection.sizes(run.folder, uids) if uids else {}
            batches = plan_batches([(uid, sizes[uid]) for uid in uids if uid in sizes],
                                   max_count=self.settings.batch_size, max_bytes=MAX_BATCH_BYTES)
            for batch in batches:
                if any(self.failures.is_suspect(run.folder, run.uidvalidity, uid) for uid in batch):
                    groups = [[uid] for uid in batch]  # one at a time, to find the one that breaks the connection
                else:
                    groups = [batch]
                for group in groups:
                    if self.stop.is_set():
                        run.report.stopped = True
                        return
                    self._submit(run, group)
                    while len(run.inflight) >= STORE_AHEAD:
                        self._finish(run, run.inflight.popleft())
            while run.inflight:
                self._finish(run, run.inflight.popleft())
            done = high if high is not None else (uids[-1] if uids else None)
            if done is not None:
                sync_state.advance(self.session_factory, self.mailbox_id, run.folder, run.uidvalidity, done)
            if high is None or last is None or high >= last:
                return
            low = high + 1

    def _log_stats(self, folder: str, stats: IngestStats) -> None:
        if stats.seen:
            log.info("mailbox %s, folder %s: %d fetched: %d stored, %d duplicates, %d quarantined",
                     self.name, folder, stats.seen, stats.stored, stats.duplicates, stats.quarantined)

    def _origin(self, folder: str, uidvalidity: int, uid: int, fetched_at: datetime) -> Origin:
        return Origin(kind="imap", source=imap_source(self.name, folder, uidvalidity, uid), mailbox=self.name,
                      folder=folder, uidvalidity=uidvalidity, uid=uid, fetched_at=fetched_at)

    def _fetch(self, connection: MailFolderConnection, folder: str, uidvalidity: int,
               uids: list[int]) -> tuple[dict[int, bytes | None], dict[int, tuple[QuarantineReason, str]]]:
        unfetchable: dict[int, tuple[QuarantineReason, str]] = {}
        if len(uids) == 1:
            tries = self.failures.given_up(folder, uidvalidity, uids[0])
            if tries:
                return {}, {uids[0]: (QuarantineReason.FETCH_BREAKS_CONNECTION,
                                      f"fetching this message broke the connection {tries} times; given up")}
        try:
            return connection.fetch_bodies(folder, uids), unfetchable
        except ImapMessageError as exc:
            if len(uids) == 1:
                return {}, {uids[0]: (QuarantineReason.FETCH_REFUSED, exc.reason)}
            log.warning("%s; fetching the batch one message at a time", exc)
        except ImapError:
            self.failures.note(folder, uidvalidity, uids)
            raise
        bodies: dict[int, bytes | None] = {}
        for uid in uids:
            try:
                bodies.update(connection.fetch_bodies(folder, [uid]))
            except ImapMessageError as exc:
                unfetchable[uid] = (QuarantineReason.FETCH_REFUSED, exc.reason)
            except ImapError:
                self.failures.note(folder, uidvalidity, [uid])
                raise
        return bodies, unfetchable

    def _ingest(self, items: list[SourceItem]) -> tuple[IngestStats, list[int]]:
        handled: list[int] = []

        def collect(outcomes: list[StoredOutcome]) -> None:
            handled.extend(o.origin.uid for o in outcomes if o.origin.uid is not None)

        return self.ingestor.ingest(items, on_batch=collect), handled

    def _submit(self, run: _FolderRun, uids: list[int]) -> None:
        """Fetch a batch (on this thread: it owns the connection) and hand it to the pool to be stored."""
        fetched_at = utcnow()
        bodies, unfetchable = self._fetch(run.connection, run.folder, run.uidvalidity, uids)
        for uid, body in bodies.items():
            if body is None:
                unfetchable[uid] = (QuarantineReason.FETCH_NO_BODY, "the server sent no body for the message")
        items = [SourceItem(self._origin(run.folder, run.uidvalidity, uid, fetched_at), body)
                 for uid in uids if (body := bodies.get(uid)) is not None]
        run.inflight.append(_Pending(uids, run.pool.submit(self._ingest, items), unfetchable, fetched_at))

    def _finish(self, run: _FolderRun, pending: _Pending) -> None:
        """Wait for a batch to be stored, then apply the after-ingest action and save progress, in UID order."""
        try:
            stats, handled = pending.future.result()
        except BaseException:
            run.failed = True
            raise
        run.stats.add(stats)
        for uid, (code, reason) in pending.unfetchable.items():
            error = ImapMessageError(f"cannot fetch the message: {reason}; quarantined without bytes",
                                     mailbox=self.name, folder=run.folder, uid=uid)
            origin = self._origin(run.folder, run.uidvalidity, uid, pending.fetched_at)
            log.error("%s", error, extra=about_message(origin))
            sync_state.record_unfetchable(self.session_factory, origin, code, str(error))
            run.stats.seen += 1
            run.stats.quarantined += 1
        self.failures.forget(run.folder, run.uidvalidity, pending.uids)
        if run.failed:
            return  # an earlier batch failed: progress must not pass it
        if self.settings.after_ingest != "leave":
            if run.connection.broken:
                return  # the action cannot be applied now; the batch is fetched again (as duplicates) later
            self._after_ingest(run.connection, run.folder, handled, run.report, run.can_move)
        sync_state.advance(self.session_factory, self.mailbox_id, run.folder, run.uidvalidity, pending.uids[-1])

    def _drain(self, run: _FolderRun) -> BaseException | None:
        """Finish every batch still in the pool (their progress is saved); return the first failure."""
        first: BaseException | None = None
        while run.inflight:
            try:
                self._finish(run, run.inflight.popleft())
            except BaseException as exc:  # keep draining: each stored batch counts
                run.failed = True
                first = first or exc
        return first

    def _after_ingest(self, connection: MailFolderConnection, folder: str, uids: list[int], report: SyncReport,
                      can_move: bool) -> None:
        action = self.settings.after_ingest
        if not uids or action == "leave" or (action == "move" and not can_move):
            return
        try:
            if action == "seen":
                connection.mark_seen(folder, uids)
            else:
                assert self.settings.move_to is not None
                connection.move(folder, uids, self.settings.move_to)
        except ImapMessageError as exc:
            message = f"{exc} (after_ingest = '{action}'; the messages are stored and stay where they are)"
            log.error("%s", message)
            if message not in report.alerts:
                report.alerts.append(message)
