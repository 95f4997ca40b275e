"""Nothing waits forever: what is left pending (stored, not triaged) is triaged once a daemon runs.

In process on SQLite and PostgreSQL; then real `triage run` processes against a
real Dovecot and PostgreSQL, killed with SIGKILL at random moments and
restarted: every message is stored once, nothing stays ``new``, every inquiry
is triaged once.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, inspect, select

from pipeline.config import DaemonSettings, DatabaseSettings, Settings, TriageSettings
from pipeline.daemon import Daemon
from pipeline.handoff import leave_new
from pipeline.ingest import Ingestor
from pipeline.leases import LeaseKeeper
from pipeline.rounds.triage import PendingTriage
from pipeline.runtime import Runtime, open_runtime
from pipeline.sources.base import Origin, SourceItem
from pipeline.store.leases import live_daemons
from pipeline.store.models import AuditEvent, DecisionRecord, Inquiry, Message
from tests.support.dovecot import Dovecot
from tests.support.imap import messages, new_user
from tests.support.mail import make_message

TRIAGE = str(Path(sys.executable).with_name("triage"))


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.05)


def store_untriaged(runtime: Runtime, prefix: str, count: int) -> list[int]:
    """Store inquiries the way a crashed process leaves them: committed, never handed to triage."""
    items = [SourceItem(Origin(kind="file", source=f"/{prefix}/{n}.eml"),
                        make_message(f"What is the renewal fee for my design, question {n}?",
                                     subject=f"{prefix} {n}", message_id=f"<{prefix}-{n}@example.com>"))
             for n in range(count)]
    stats = Ingestor(runtime.session_factory, sink=leave_new).ingest(items)
    assert stats.stored == count
    return list(stats.inquiry_ids)


def states(runtime: Runtime) -> dict[str, int]:
    with runtime.session_factory() as session:
        return {state: int(n) for state, n in session.execute(select(Inquiry.state, func.count())
                                                               .group_by(Inquiry.state))}


def triaged_once(runtime: Runtime) -> None:
    """Every inquiry has exactly one decision and one triage event."""
    with runtime.session_factory() as session:
        inquiries = int(session.scalar(select(func.count()).select_from(Inquiry)) or 0)
        decisions = session.execute(select(DecisionRecord.inquiry_id, func.count()).group_by(DecisionRecord.inquiry_id)
                                    ).all()
        events = session.execute(select(AuditEvent.inquiry_id, func.count()).where(AuditEvent.event == "triaged")
                                 .group_by(AuditEvent.inquiry_id)).all()
    assert len(decisions) == inquiries and all(n == 1 for _, n in decisions)
    assert len(events) == inquiries and all(n == 1 for _, n in events)


def test_the_daemon_triages_what_is_pending_at_start_and_on_its_schedule(
        db_url: str, triage_model_path: Path) -> None:
    settings = Settings(database=DatabaseSettings(url=db_url),
                        triage=TriageSettings(model_path=triage_model_path, auto_train=False),
                        daemon=DaemonSettings(pending_interval_seconds=1, pending_batch=7, metrics_port=0))
    runtime = open_runtime(settings)
    try:
        store_untriaged(runtime, "before", 30)
        assert states(runtime) == {"new": 30}
        keeper = LeaseKeeper(runtime.session_factory, seconds=5)
        daemon = Daemon(runtime, {}, sink=leave_new, pending_round=PendingTriage(runtime, batch=7), leases=keeper)
        daemon.start()
        try:
            wait_until(lambda: "new" not in states(runtime), 20, "pending inquiries triaged at start")
            store_untriaged(runtime, "later", 5)  # e.g. by `triage ingest` elsewhere, whose triage failed
            wait_until(lambda: "new" not in states(runtime), 10, "inquiries left new triaged on the schedule")
            assert daemon.metrics is not None
            base = f"http://127.0.0.1:{daemon.metrics.port}"
            with urllib.request.urlopen(f"{base}/healthz", timeout=5) as response:
                health = json.loads(response.read())
            assert response.status == 200 and health["ok"] is True and health["holder"] == keeper.holder
            with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
                text = response.read().decode()
            assert "triage_pending_inquiries 0.0" in text
            assert "triage_messages_stored 35.0" in text
            assert "triage_triaged_total 35.0" in text
            assert "triage_daemons_alive 1.0" in text and "triage_store_up 1.0" in text
        finally:
            daemon.shutdown()
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(f"{base}/healthz", timeout=2)
        assert sum(states(runtime).values()) == 35
        triaged_once(runtime)
    finally:
        runtime.close()


def test_a_second_daemon_on_sqlite_is_refused(sqlite_url: str, tmp_path: Path) -> None:
    runtime = open_runtime(Settings(database=DatabaseSettings(url=sqlite_url)))
    keeper = LeaseKeeper(runtime.session_factory, seconds=30)
    daemon = Daemon(runtime, {}, sink=leave_new, leases=keeper)
    daemon.start()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
        env.update({"TRIAGE_DATABASE_URL": sqlite_url, "TRIAGE_MAILBOXES__DESK__HOST": "127.0.0.1",
                    "TRIAGE_MAILBOXES__DESK__PORT": "9", "TRIAGE_MAILBOXES__DESK__USER": "u",
                    "TRIAGE_MAILBOXES__DESK__PASSWORD": "p", "TRIAGE_MAILBOXES__DESK__TLS": "none"})
        second = subprocess.run([TRIAGE, "run"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert second.returncode == 1
        assert "several daemons need PostgreSQL" in second.stderr and keeper.holder in second.stderr
    finally:
        daemon.shutdown()
        runtime.close()


# --- real processes, killed at random moments --------------------------------------------------------------


def _pg_counts(url: str) -> tuple[int, int, int, int]:
    """(messages, distinct Message-IDs, inquiries still new, inquiries without a current decision)."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table("inquiries"):  # killed before it migrated the database
                return 0, 0, 0, 0
            stored = int(connection.scalar(select(func.count()).select_from(Message)) or 0)
            distinct = int(connection.scalar(select(func.count(func.distinct(Message.message_id)))) or 0)
            new = int(connection.scalar(select(func.count()).select_from(Inquiry).where(Inquiry.state == "new")) or 0)
            undecided = int(connection.scalar(
                select(func.count()).select_from(Inquiry).where(~Inquiry.id.in_(
                    select(DecisionRecord.inquiry_id).where(DecisionRecord.is_current.is_(True))))) or 0)
        return stored, distinct, new, undecided
    finally:
        engine.dispose()


def _live_daemons(url: str) -> list[str]:
    runtime = open_runtime(Settings(database=DatabaseSettings(url=url)), migrate=False)
    try:
        return live_daemons(runtime.session_factory)
    finally:
        runtime.close()


@pytest.mark.postgres
@pytest.mark.dovecot
@pytest.mark.slow
def test_kill_9_at_random_moments_then_a_restart_leaves_nothing_new_and_every_message_once(
        dovecot: Dovecot, pg_url: str, triage_model_path: Path, tmp_path: Path) -> None:
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    user = new_user(dovecot)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    env.update({
        "TRIAGE_DATABASE_URL": pg_url, "TRIAGE_TRIAGE__MODEL_PATH": str(triage_model_path),
        "TRIAGE_TRIAGE__AUTO_TRAIN": "false", "TRIAGE_DAEMON__PENDING_INTERVAL_SECONDS": "2",
        "TRIAGE_DAEMON__LEASE_SECONDS": "3", "TRIAGE_MAILBOXES__DESK__HOST": dovecot.host,
        "TRIAGE_MAILBOXES__DESK__PORT": str(dovecot.port), "TRIAGE_MAILBOXES__DESK__USER": user,
        "TRIAGE_MAILBOXES__DESK__PASSWORD": dovecot.users[user], "TRIAGE_MAILBOXES__DESK__TLS": "none",
        "TRIAGE_MAILBOXES__DESK__BATCH_SIZE": "20", "TRIAGE_MAILBOXES__DESK__POLL_INTERVAL_SECONDS": "2",
        "TRIAGE_LOGGING__LEVEL": "WARNING",
    })
    appended = 0
    kills = 0
    rounds = int(os.environ.get("TRIAGE_TEST_KILL_ROUNDS", "3"))  # each round starts a process: seconds apiece
    for round_ in range(rounds):
        before = _pg_counts(pg_url)[0]
        dovecot.append(user, messages(f"kill{round_}", 80, start=appended))
        appended += 80
        killed = subprocess.Popen([TRIAGE, "run"], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            # Once it has started storing: anywhere in the sync, the triage of what it stored, or just after.
            wait_until(lambda: _pg_counts(pg_url)[0] > before, 30, f"round {round_} started storing")
            # The last kill comes early, so that the restart surely finds work left pending.
            time.sleep(rng.uniform(0.0, 3.0) if round_ < rounds - 1 else rng.uniform(0.0, 0.3))
        finally:
            if killed.poll() is None:
                killed.send_signal(signal.SIGKILL)
                kills += 1
            killed.wait(10)
    assert kills == rounds, f"a daemon exited by itself (seed {seed})"
    left = _pg_counts(pg_url)
    assert left != (appended, appended, 0, 0), f"nothing was left for the restart (seed {seed})"
    process = subprocess.Popen([TRIAGE, "run"], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: any(f":{process.pid}:" in holder for holder in _live_daemons(pg_url)), 30,
                   "the restarted daemon announced itself")
        wait_until(lambda: _pg_counts(pg_url) == (appended, appended, 0, 0), 40,
                   f"everything stored and triaged after the restart (seed {seed}; after the kills: {left}, "
                   f"now: {_pg_counts(pg_url)})")
        process.send_signal(signal.SIGTERM)
        code = process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        stderr = process.stderr.read() if process.stderr else ""
        if process.stderr:
            process.stderr.close()
    assert code == 0, stderr
    assert " ERROR " not in stderr, stderr
    runtime = open_runtime(Settings(database=DatabaseSettings(url=pg_url)))
    try:
        triaged_once(runtime)
    finally:
        runtime.close()


@pytest.mark.postgres
@pytest.mark.dovecot
@pytest.mark.slow
def test_three_daemons_share_one_postgresql_and_one_dies_without_losing_or_doubling_anything(
        dovecot: Dovecot, pg_url: str, triage_model_path: Path, tmp_path: Path) -> None:
    user = new_user(dovecot)
    folders = ["INBOX", "Cases", "Fees"]
    appended = 0
    for folder in folders:
        dovecot.append(user, messages(f"three-{folder}", 60, start=appended), folder=folder)
        appended += 60
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    env.update({
        "TRIAGE_DATABASE_URL": pg_url, "TRIAGE_TRIAGE__MODEL_PATH": str(triage_model_path),
        "TRIAGE_TRIAGE__AUTO_TRAIN": "false", "TRIAGE_DAEMON__PENDING_INTERVAL_SECONDS": "2",
        "TRIAGE_DAEMON__LEASE_SECONDS": "3", "TRIAGE_MAILBOXES__DESK__HOST": dovecot.host,
        "TRIAGE_MAILBOXES__DESK__PORT": str(dovecot.port), "TRIAGE_MAILBOXES__DESK__USER": user,
        "TRIAGE_MAILBOXES__DESK__PASSWORD": dovecot.users[user], "TRIAGE_MAILBOXES__DESK__TLS": "none",
        "TRIAGE_MAILBOXES__DESK__FOLDERS": ",".join(folders), "TRIAGE_MAILBOXES__DESK__BATCH_SIZE": "10",
        "TRIAGE_MAILBOXES__DESK__POLL_INTERVAL_SECONDS": "1", "TRIAGE_MAILBOXES__DESK__IDLE": "false",
        "TRIAGE_LOGGING__LEVEL": "WARNING",
    })
    open_runtime(Settings(database=DatabaseSettings(url=pg_url))).close()  # migrated once, before they race
    daemons = [subprocess.Popen([TRIAGE, "run"], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True) for _ in range(3)]
    try:
        wait_until(lambda: len(_live_daemons(pg_url)) == 3, 40, "the three daemons announced themselves")
        wait_until(lambda: _pg_counts(pg_url)[0] > 0, 40, "the daemons started storing")
        daemons[0].send_signal(signal.SIGKILL)  # one dies mid-way, holding leases and claims
        daemons[0].wait(10)
        for folder in folders:
            dovecot.append(user, messages(f"three-{folder}", 20, start=appended), folder=folder)
            appended += 20
        wait_until(lambda: _pg_counts(pg_url) == (appended, appended, 0, 0), 60,
                   f"everything stored and triaged by the two left (now: {_pg_counts(pg_url)})")
        for process in daemons[1:]:
            process.send_signal(signal.SIGTERM)
        for process in daemons[1:]:
            assert process.wait(30) == 0
    finally:
        logs = []
        for process in daemons:
            if process.poll() is None:
                process.kill()
                process.wait()
            if process.stderr:
                logs.append(process.stderr.read())
                process.stderr.close()
    for log in logs[1:]:
        assert " ERROR " not in log, log
    runtime = open_runtime(Settings(database=DatabaseSettings(url=pg_url)))
    try:
        triaged_once(runtime)
        with runtime.session_factory() as session:
            from pipeline.store.models import Sighting

            places = session.execute(select(Sighting.folder, Sighting.uid, func.count())
                                     .group_by(Sighting.folder, Sighting.uid)).all()
        assert len(places) == appended and all(n == 1 for *_, n in places)
    finally:
        runtime.close()


@pytest.mark.dovecot
def test_a_reply_approved_but_not_delivered_leaves_once_when_the_daemon_starts(
        dovecot: Dovecot, sqlite_url: str) -> None:
    from pydantic import SecretStr

    from pipeline.config import DeliverySettings, MailboxSettings, RepliesSettings
    from pipeline.store.db import unit_of_work
    from webapp.services import suggestions as service
    from responders.context import ReplyContext
    from pipeline.rounds.replies import ReplyWorker
    from tests.support.replies import store_triaged

    user = new_user(dovecot)
    box = MailboxSettings(host=dovecot.host, port=dovecot.port, tls="none", user=user, password=SecretStr(dovecot.users[user]),
                          delivery=DeliverySettings(mode="drafts", from_address="helpdesk@registry.example.org"))
    runtime = open_runtime(Settings(database=DatabaseSettings(url=sqlite_url), mailboxes={"desk": box},
                                    replies=RepliesSettings(interval_seconds=300)))  # only the round at start
    try:
        # A process approved a reply, then died before delivering it.
        context = ReplyContext.load(runtime.settings)
        inquiry_id = store_triaged(runtime, make_message("What is the renewal fee for design DM/212 345?",
                                                         message_id="<fee-1@example.com>"), topic="fees")
        with unit_of_work(runtime.session_factory) as session:
            info = service.suggest_for_inquiry(session, inquiry_id, context)
            assert isinstance(info, service.SuggestionInfo), info
            service.approve(session, info.id, "alice", context)
        assert states(runtime) == {"approved": 1}
        worker = ReplyWorker.for_runtime(runtime)
        daemon = Daemon(runtime, {}, sink=leave_new, reply_round=worker.run_once)
        daemon.start()
        try:
            wait_until(lambda: states(runtime) == {"sent": 1}, 15, "the approved reply delivered at start")
        finally:
            daemon.shutdown()
        with dovecot.client(user) as client:
            client.select_folder("Drafts", readonly=True)
            assert len(client.search("ALL")) == 1
    finally:
        runtime.close()


def test_one_inquiry_that_breaks_triage_does_not_hold_up_the_others(
        sqlite_url: str, triage_model_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import classifiers.triage

    runtime = open_runtime(Settings(database=DatabaseSettings(url=sqlite_url),
                                    triage=TriageSettings(model_path=triage_model_path, auto_train=False)))
    try:
        store_untriaged(runtime, "poison", 5)
        real = classifiers.triage.prepare_inputs  # what triage runs the models of a batch with

        def choking(inputs, model, config):  # type: ignore[no-untyped-def]
            if any("question 2?" in item.new_text for item in inputs):  # a classifier bug this text triggers
                raise ValueError("classifier bug")
            return real(inputs, model, config)

        monkeypatch.setattr(classifiers.triage, "prepare_inputs", choking)
        stats = PendingTriage(runtime, batch=10)()
        assert (stats.triaged, stats.failed) == (4, 1)
        assert states(runtime).get("new") == 1 and sum(states(runtime).values()) == 5
        monkeypatch.setattr(classifiers.triage, "prepare_inputs", real)  # fixed: the next round takes it
        assert PendingTriage(runtime, batch=10)().triaged == 1
        assert "new" not in states(runtime)
        triaged_once(runtime)
    finally:
        runtime.close()
