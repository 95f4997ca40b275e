"""``triage run``: APScheduler runs one sync job per mailbox, IDLE watchers wake them, signals stop them.

Part of the composition root: the daemon plugs triage (``pipeline.rounds``) into
the sync as its ``InquirySink`` and runs the reply round on its own schedule.

Nothing waits forever: a triage job claims whatever is still ``new`` at start
and every ``daemon.pending_interval_seconds`` (what a crash left behind), and
the reply round, also run at start, finishes approved replies not delivered.
With a ``LeaseKeeper`` each folder is synced under a lease in the database, so
several daemons on one PostgreSQL never sync the same folder at once; each
daemon keeps its own in-memory scheduler and the database decides who works on
what. On SQLite a second live daemon is refused.

Each mailbox's job runs at start and then every ``poll_interval_seconds`` (the
safety net); never two runs of one job at once. Folders get an IDLE watcher
while the account's connection limit leaves room for one beside the sync
connection. SIGTERM or SIGINT stops the daemon gracefully: the batch in hand is
finished (or rolled back by the database), IDLE is ended, connections are
logged out. A second signal exits at once.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from types import FrameType
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.executors.pool import ThreadPoolExecutor as SchedulerPool
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from pipeline.background_sink import BackgroundSink
from pipeline.config import MailboxSettings, Settings
from pipeline.errors import ConfigError, TriageError
from pipeline.handoff import InquirySink
from pipeline.idle import IdleWatcher
from pipeline.ingest import IngestStats
from pipeline.leases import LeaseKeeper
from pipeline.metrics import MetricsServer, ProcessCounters, metrics_registry
from pipeline.runtime import Runtime
from pipeline.rounds.retraining import CHECK_SECONDS, ScheduledRetraining
from pipeline.rounds.triage import LazyTriageSink, PendingTriage, TriageStats, shared_triage
from pipeline.store.sync_state import mailbox_reports
from pipeline.rwlock import SharedExclusiveLock
from pipeline.worker import MailboxWorker, account_slots, accounts

log = logging.getLogger(__name__)

SHUTDOWN_WAIT = 60.0
RETRAINING_FIRST_CHECK_SECONDS = 60.0  # after start: the first syncs go first


def enabled_mailboxes(settings: Settings) -> dict[str, MailboxSettings]:
    """The mailboxes to watch; ``ConfigError`` when there are none."""
    mailboxes = {name: box for name, box in settings.mailboxes.items() if box.enabled}
    if not mailboxes:
        raise ConfigError([("mailboxes", "no mailbox is configured: add [mailboxes.NAME] to the configuration or "
                                         "set TRIAGE_MAILBOXES__NAME__HOST, _USER, _PASSWORD (see README)")])
    return mailboxes


def idle_plan(mailboxes: Mapping[str, MailboxSettings]) -> dict[str, list[str]]:
    """Which folders of each mailbox get an IDLE connection: as many as each account's limit leaves free
    beside one sync connection per mailbox, in the order configured."""
    plan: dict[str, list[str]] = {name: [] for name in mailboxes}
    for names in accounts(mailboxes):
        free = min(mailboxes[n].max_connections for n in names) - len(names)
        wanted = [(n, folder) for n in names if mailboxes[n].idle for folder in mailboxes[n].folders]
        # Round-robin over the mailboxes so each gets its first folder watched before any gets a second.
        wanted.sort(key=lambda pair: mailboxes[pair[0]].folders.index(pair[1]))
        for name, folder in wanted[:max(free, 0)]:
            plan[name].append(folder)
    return plan


@dataclass
class OnceResult:
    """The outcome of ``triage run --once``: counts summed over every mailbox and folder, and the failures."""

    stats: IngestStats = field(default_factory=IngestStats)
    failures: dict[str, list[str]] = field(default_factory=dict)


def run_once(runtime: Runtime, mailboxes: Mapping[str, MailboxSettings], *,
             sink: InquirySink | None = None) -> OnceResult:
    """Sync every mailbox once, side by side; a failing mailbox is reported and never stops the others.

    New inquiries go to ``sink`` (by default triage, in the same thread, before the next batch).
    """
    slots = account_slots(mailboxes)
    sink = sink if sink is not None else LazyTriageSink(runtime)
    workers = [MailboxWorker(name, box, runtime, slots[name], keep_connection=False, sink=sink)
               for name, box in mailboxes.items()]
    result = OnceResult()
    try:
        with ThreadPoolExecutor(max_workers=min(16, len(workers)), thread_name_prefix="sync") as pool:
            for sync in pool.map(lambda worker: worker.sync_once(), workers):
                result.stats.add(sync.stats)
                for error in sync.errors:
                    log.error("%s", error)
                if sync.errors:
                    result.failures[sync.name] = [str(error) for error in sync.errors]
    finally:
        for worker in workers:
            worker.close()
    return result


class _DropMaxInstancesWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # The daemon handles this itself (one more run right after the current one).
        return "maximum number of running instances reached" not in record.getMessage()


class _CountingSink:
    """Counts the inquiries stored before handing them on."""

    def __init__(self, inner: InquirySink, counters: ProcessCounters) -> None:
        self.inner = inner
        self.counters = counters

    def __call__(self, inquiry_ids: Sequence[int]) -> None:
        self.counters.ingested.inc(len(inquiry_ids))
        self.inner(inquiry_ids)


class Daemon:
    """The running daemon: scheduler, workers and IDLE watchers for a set of mailboxes.

    ``pending_round`` (triage what is still ``new``) and ``reply_round`` run at
    start and then on their own schedules; ``leases`` makes each folder's sync
    wait for its lease.
    """

    def __init__(self, runtime: Runtime, mailboxes: Mapping[str, MailboxSettings], *,
                 sink: InquirySink | None = None, reply_round: Callable[[], object] | None = None,
                 pending_round: Callable[[], object] | None = None, leases: LeaseKeeper | None = None) -> None:
        self.runtime = runtime
        self.reply_round = reply_round
        self.pending_round = pending_round
        self.leases = leases
        self.mailboxes = dict(mailboxes)
        self.stop_event = threading.Event()
        self.registry, self.counters = metrics_registry(runtime.session_factory)
        self.metrics: MetricsServer | None = None
        slots = account_slots(self.mailboxes)
        # A sync connection is kept open between runs only where the account has room for one per mailbox.
        keep = {name: slots[name].limit >= len(names) for names in accounts(self.mailboxes) for name in names}
        # Triage runs on its own thread: syncing (and so the delay from push to stored) never waits for it.
        # On SQLite it runs only between syncs: its transactions read before they write, and a commit by a
        # sync in between would fail them ("database is locked") however long the busy timeout.
        guard = SharedExclusiveLock() if runtime.engine.dialect.name == "sqlite" else None
        self.guard = guard
        if sink is None:  # triage: load (or train) its model at start, on the triage thread, outside the guard
            self.triage = BackgroundSink(LazyTriageSink(runtime), guard=guard,
                                         prepare=lambda: shared_triage(runtime.settings.triage))
        else:
            self.triage = BackgroundSink(sink, guard=guard)
        counting = _CountingSink(self.triage, self.counters)
        if isinstance(pending_round, PendingTriage) and guard is not None:
            pending_round.guard = guard
        self.workers = {name: MailboxWorker(name, box, runtime, slots[name], stop=self.stop_event,
                                            keep_connection=keep[name], sink=counting, guard=guard)
                        for name, box in self.mailboxes.items()}
        self.plan = idle_plan(self.mailboxes)
        self.watchers = [
            IdleWatcher(name, self.mailboxes[name], folder, slots[name], self.workers[name].wake, self.stop_event)
            for name, folders in self.plan.items() for folder in folders
        ]
        self.scheduler = BackgroundScheduler(
            timezone=timezone.utc,
            executors={"default": SchedulerPool(max_workers=min(32, max(4, len(self.workers))))},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self._filter = _DropMaxInstancesWarning()
        # Scheduled retraining ([retraining], off by default): one job, only when enabled.
        self.retraining = (ScheduledRetraining(runtime, leases=leases, stop=self.stop_event)
                           if runtime.settings.retraining.enabled else None)

    @staticmethod
    def job_id(name: str) -> str:
        """The scheduler job id of a mailbox."""
        return f"mailbox:{name}"

    def _schedule_in(self, name: str, delay: float) -> None:
        try:
            self.scheduler.modify_job(self.job_id(name),
                                      next_run_time=datetime.now(timezone.utc) + timedelta(seconds=delay))
        except (JobLookupError, SchedulerNotRunningError):
            pass  # shutting down

    def _on_max_instances(self, event: Any) -> None:
        if isinstance(event, JobSubmissionEvent) and event.job_id.startswith("mailbox:"):
            worker = self.workers.get(event.job_id.split(":", 1)[1])
            if worker is not None:
                worker.mark_pending()

    def start(self) -> None:
        """Take the daemon's place among the others, schedule every job (first run now), start the IDLE watchers.

        Raises ``TriageError`` when another daemon is alive on a SQLite database.
        """
        if self.leases is not None:
            self._join_the_others(self.leases)
        daemon_settings = self.runtime.settings.daemon
        if daemon_settings.metrics_port is not None:
            self.metrics = MetricsServer(daemon_settings.metrics_host, daemon_settings.metrics_port, self.registry,
                                         self.health)
            self.metrics.start()
            log.info("metrics and health at http://%s:%d/metrics and /healthz", daemon_settings.metrics_host,
                     self.metrics.port)
        logging.getLogger("apscheduler.scheduler").addFilter(self._filter)
        now = datetime.now(timezone.utc)
        for name, worker in self.workers.items():
            worker.schedule_in = lambda delay, name=name: self._schedule_in(name, delay)
            self.scheduler.add_job(worker.run_job, IntervalTrigger(seconds=worker.settings.poll_interval_seconds,
                                                                   timezone=timezone.utc),
                                   id=self.job_id(name), name=f"sync {name}", next_run_time=now)
        if self.reply_round is not None:
            self.scheduler.add_job(self._run_reply_round,
                                   IntervalTrigger(seconds=self.runtime.settings.replies.interval_seconds,
                                                   timezone=timezone.utc),
                                   id="replies", name="suggest and deliver replies", next_run_time=now)
        if self.pending_round is not None:
            self.scheduler.add_job(self._run_pending_round,
                                   IntervalTrigger(seconds=daemon_settings.pending_interval_seconds,
                                                   timezone=timezone.utc),
                                   id="pending", name="triage pending inquiries", next_run_time=now)
        if self.retraining is not None:
            retraining = self.runtime.settings.retraining
            self.scheduler.add_job(self._run_retraining,
                                   IntervalTrigger(seconds=min(CHECK_SECONDS, retraining.period_hours * 3600),
                                                   timezone=timezone.utc),
                                   id="retraining", name="scheduled retraining",
                                   next_run_time=now + timedelta(seconds=RETRAINING_FIRST_CHECK_SECONDS))
            log.info("scheduled retraining: %s (every %g h), auto_promote %s", retraining.schedule,
                     retraining.period_hours, "on" if retraining.auto_promote else "off")
        self.scheduler.add_listener(self._on_max_instances, EVENT_JOB_MAX_INSTANCES)
        self.scheduler.start()
        for watcher in self.watchers:
            watcher.start()
        for name, box in self.mailboxes.items():
            watched = self.plan[name]
            polled = [folder for folder in box.folders if folder not in watched]
            log.info("watching mailbox %s at %s: %s", name, box.host, ", ".join(
                [f"{folder} (IDLE)" for folder in watched]
                + [f"{folder} (every {box.poll_interval_seconds:g} s)" for folder in polled]))

    def _join_the_others(self, leases: LeaseKeeper) -> None:
        leases.start()
        for worker in self.workers.values():
            worker.leases = leases
        others = leases.other_daemons()
        if self.runtime.engine.dialect.name == "sqlite":
            if others:
                leases.close()
                raise TriageError(f"another daemon ({others[0]}) is running on this SQLite database; SQLite serves "
                                  "one daemon only: several daemons need PostgreSQL (database.url)")
            log.info("database is SQLite: this must be the only daemon (several daemons need PostgreSQL)")
        elif others:
            log.info("%d other daemon(s) share this database: %s; folders are synced by one daemon at a time",
                     len(others), ", ".join(others))

    def _run_reply_round(self) -> None:
        if self.stop_event.is_set() or self.reply_round is None:
            return
        try:
            self.reply_round()
        except Exception as exc:  # one failed round is logged; the next one tries again
            self.counters.errors.labels(round="replies").inc()
            log.error("replies: round failed: %s: %s", type(exc).__name__, exc)

    def _run_pending_round(self) -> None:
        if self.stop_event.is_set() or self.pending_round is None:
            return
        try:
            if self.guard is None or isinstance(self.pending_round, PendingTriage):
                result = self.pending_round()  # PendingTriage takes the guard per batch
            else:  # on SQLite triage never overlaps a sync (see __init__)
                with self.guard.exclusive():
                    result = self.pending_round()
        except Exception as exc:  # one failed round is logged; the next one tries again
            self.counters.errors.labels(round="triage").inc()
            log.error("triage: pending round failed: %s: %s", type(exc).__name__, exc)
            return
        if isinstance(result, TriageStats) and result.triaged:
            self.counters.triaged.inc(result.triaged)
            log.info("triage: %d pending inquiries triaged", result.triaged)

    def _run_retraining(self) -> None:
        if self.stop_event.is_set() or self.retraining is None:
            return
        try:
            outcomes = self.retraining()  # each desk's; logs its own results and failures
            for outcome in outcomes.values():
                if outcome.result == "failed":
                    self.counters.errors.labels(round="retraining").inc()
        except Exception as exc:  # never reached in practice; the scheduler must not lose the job
            self.counters.errors.labels(round="retraining").inc()
            log.error("retraining: scheduled run failed: %s: %s", type(exc).__name__, exc)

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Whether the daemon runs and reaches its database, with each mailbox's status."""
        details: dict[str, Any] = {"holder": self.leases.holder if self.leases is not None else None}
        try:
            details["mailboxes"] = {r.name: r.status for r in mailbox_reports(self.runtime.session_factory)
                                    if r.name in self.mailboxes}
            details["database"] = "ok"
        except Exception as exc:
            details["database"] = f"{type(exc).__name__}: {exc}"
            return False, details
        running = self.scheduler.running and not self.stop_event.is_set()
        details["scheduler"] = "running" if running else "stopped"
        return running, details

    def shutdown(self, timeout: float = SHUTDOWN_WAIT) -> None:
        """Stop: finish the batches in hand, end IDLE, log out. Safe to call twice."""
        self.stop_event.set()
        try:
            self.scheduler.shutdown(wait=True)
        except SchedulerNotRunningError:
            pass
        for watcher in self.watchers:
            watcher.join(timeout)
        for worker in self.workers.values():
            worker.close()
        if not self.triage.close(timeout):
            log.warning("triage of the last stored inquiries did not finish in %g s; they stay new", timeout)
        if self.leases is not None:
            self.leases.close()
        if self.metrics is not None:
            self.metrics.close()
            self.metrics = None
        logging.getLogger("apscheduler.scheduler").removeFilter(self._filter)


def run_daemon(runtime: Runtime, mailboxes: Mapping[str, MailboxSettings],
               reply_round: Callable[[], object] | None = None) -> int:
    """Run until SIGTERM or SIGINT; return the exit status.

    ``reply_round``, when given, runs on its own schedule (suggest, recover, acknowledge, deliver);
    pending inquiries are triaged at start and on a schedule; folders are synced under leases.
    """
    settings = runtime.settings.daemon
    pending = PendingTriage(runtime, batch=settings.pending_batch)
    daemon = Daemon(runtime, mailboxes, reply_round=reply_round, pending_round=pending,
                    leases=LeaseKeeper(runtime.session_factory, seconds=settings.lease_seconds))
    pending.stop = daemon.stop_event  # a long backlog stops between batches on SIGTERM
    signals_seen: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        signals_seen.append(signum)
        if len(signals_seen) > 1:
            log.warning("second %s: exiting at once (the database rolls back any unfinished batch)",
                        signal.Signals(signum).name)
            os._exit(128 + signum)
        log.info("%s received: finishing the batch in hand, then stopping", signal.Signals(signum).name)
        daemon.stop_event.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        daemon.start()
        while not daemon.stop_event.wait(1.0):
            pass
    except TriageError:
        daemon.stop_event.set()
        raise
    finally:
        daemon.shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("stopped")
    return 0
