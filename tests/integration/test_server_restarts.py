"""Nothing waits forever: the real daemon rides out a restart of its database and of its IMAP server.

A real `triage run` process syncs a few hundred messages from a real Dovecot
into a real PostgreSQL; mid-way one of the two servers is restarted (same port,
same data). Afterwards every message of the mailbox is stored exactly once,
every inquiry is triaged once, nothing went to quarantine because of the
outage, the mailbox's status is healthy again, and the daemon never stopped:
it is the same process throughout, and it stops cleanly on SIGTERM.

Each test polls the database with a deadline instead of sleeping, and ends in
well under a minute.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, inspect, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from pipeline.store.models import AuditEvent, DecisionRecord, Inquiry, Message, QuarantineRecord, Sighting
from tests.support.dovecot import Dovecot, dovecot_server
from tests.support.imap import messages, new_user
from tests.support.postgres import create_database, throwaway_server

TRIAGE = str(Path(sys.executable).with_name("triage"))

COUNT = 300  # messages in the mailbox
DEADLINE = 40.0  # seconds for everything to be stored and triaged after a restart


def wait_until(condition: Callable[[], bool], timeout: float, what: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what()}: not within {timeout} s")
        time.sleep(0.05)


@dataclass(frozen=True)
class Counts:
    """What the database holds, read in one go."""

    stored: int = 0
    distinct: int = 0
    new: int = 0
    undecided: int = 0
    quarantined: int = 0

    def done(self, expected: int) -> bool:
        """Every message stored once and every inquiry triaged."""
        return (self.stored, self.distinct, self.new, self.undecided) == (expected, expected, 0, 0)


def counts(url: str) -> Counts:
    """The counts now; all zero while the schema is not there yet or the server does not answer."""
    engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 2})
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table("inquiries"):
                return Counts()
            undecided = select(func.count()).select_from(Inquiry).where(~Inquiry.id.in_(
                select(DecisionRecord.inquiry_id).where(DecisionRecord.is_current.is_(True))))
            return Counts(
                stored=int(connection.scalar(select(func.count()).select_from(Message)) or 0),
                distinct=int(connection.scalar(select(func.count(func.distinct(Message.message_id)))) or 0),
                new=int(connection.scalar(select(func.count()).select_from(Inquiry)
                                          .where(Inquiry.state == "new")) or 0),
                undecided=int(connection.scalar(undecided) or 0),
                quarantined=int(connection.scalar(select(func.count()).select_from(QuarantineRecord)) or 0),
            )
    except SQLAlchemyError:  # the server is restarting
        return Counts()
    finally:
        engine.dispose()


def check_stored_once_and_triaged_once(url: str, expected_ids: set[str], folder: str = "INBOX") -> None:
    """Every Message-ID of the mailbox stored once, seen once at its UID, triaged once; nothing quarantined."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            ids = list(connection.scalars(select(Message.message_id)))
            places = connection.execute(select(Sighting.folder, Sighting.uid, func.count())
                                        .group_by(Sighting.folder, Sighting.uid)).all()
            inquiries = int(connection.scalar(select(func.count()).select_from(Inquiry)) or 0)
            decisions = connection.execute(select(DecisionRecord.inquiry_id, func.count())
                                           .group_by(DecisionRecord.inquiry_id)).all()
            events = connection.execute(select(AuditEvent.inquiry_id, func.count())
                                        .where(AuditEvent.event == "triaged").group_by(AuditEvent.inquiry_id)).all()
            states = dict(connection.execute(select(Inquiry.state, func.count()).group_by(Inquiry.state)).all())
            quarantined = connection.execute(select(QuarantineRecord.source, QuarantineRecord.reason,
                                                    QuarantineRecord.error)).all()
    finally:
        engine.dispose()
    assert quarantined == [], f"quarantined because of the outage: {quarantined[:3]}"
    doubled = sorted({str(i) for i in ids if ids.count(i) > 1})
    assert len(ids) == len(expected_ids) and set(ids) == expected_ids, (
        f"missing: {sorted(expected_ids - set(map(str, ids)))[:5]}, doubled: {doubled[:5]}, "
        f"unexpected: {sorted(set(map(str, ids)) - expected_ids)[:5]}")
    assert len(places) == len(expected_ids) and all(f == folder and n == 1 for f, _, n in places)
    assert inquiries == len(expected_ids) and "new" not in states, states
    assert len(decisions) == inquiries and all(n == 1 for _, n in decisions)
    assert len(events) == inquiries and all(n == 1 for _, n in events)


def daemon_env(url: str, server: Dovecot, user: str, model: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    env.update({
        "TRIAGE_DATABASE_URL": url, "TRIAGE_TRIAGE__MODEL_PATH": str(model), "TRIAGE_TRIAGE__AUTO_TRAIN": "false",
        "TRIAGE_DAEMON__PENDING_INTERVAL_SECONDS": "2", "TRIAGE_DAEMON__LEASE_SECONDS": "5",
        "TRIAGE_MAILBOXES__DESK__HOST": server.host, "TRIAGE_MAILBOXES__DESK__PORT": str(server.port),
        "TRIAGE_MAILBOXES__DESK__USER": user, "TRIAGE_MAILBOXES__DESK__PASSWORD": server.users[user],
        "TRIAGE_MAILBOXES__DESK__TLS": "none", "TRIAGE_MAILBOXES__DESK__BATCH_SIZE": "10",
        "TRIAGE_MAILBOXES__DESK__TIMEOUT_SECONDS": "5", "TRIAGE_MAILBOXES__DESK__POLL_INTERVAL_SECONDS": "2",
        "TRIAGE_LOGGING__LEVEL": "WARNING",
    })
    return env


@contextmanager
def running_daemon(env: dict[str, str], cwd: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """A `triage run` process (its log in a file: a full pipe would stall it); killed if still running after."""
    log = cwd / "daemon.log"
    with log.open("wb") as out:
        process = subprocess.Popen([TRIAGE, "run"], env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=out)
    try:
        yield process, log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def stop_daemon(process: subprocess.Popen[bytes], log: Path) -> str:
    """SIGTERM: the daemon finishes what it has in hand and exits 0; returns its log."""
    assert process.poll() is None, f"the daemon exited by itself ({process.returncode}):\n{log.read_text()[-4000:]}"
    process.send_signal(signal.SIGTERM)
    code = process.wait(30)
    text = log.read_text(encoding="utf-8", errors="replace")
    assert code == 0, text[-4000:]
    return text


def instance_processes(server: Dovecot) -> list[int]:
    """The processes of this Dovecot instance still alive (they work in its directory: run/, the users' homes)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                command = handle.read()
        except OSError:  # gone, or not ours to look at
            continue
        if command.startswith(b"dovecot") and cwd.startswith(f"{server.root}/"):
            found.append(int(entry))
    return found


def restart_dovecot(server: Dovecot) -> None:
    """Restart Dovecot the way ``systemctl restart`` does: every process of it ends, live IMAP sessions included.

    ``Dovecot.stop()`` ends the master, but the imap process of a session in the middle of its work (not in IDLE)
    outlives it and goes on serving that connection; systemd kills the service's whole control group.
    """
    server.stop()
    for pid in instance_processes(server):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    wait_until(lambda: not instance_processes(server), 10,
               lambda: f"Dovecot's processes ended (left: {instance_processes(server)})")
    server.start()


def status(env: dict[str, str], cwd: Path) -> tuple[int, list[dict[str, object]]]:
    """`triage status --json`: its exit status and one object per mailbox."""
    done = subprocess.run([TRIAGE, "status", "--json"], env=env, cwd=cwd, capture_output=True, text=True, timeout=60)
    return done.returncode, [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def wait_healthy(env: dict[str, str], cwd: Path) -> None:
    """`triage status` exits 0 with the mailbox ``ok``: a sync that failed in the outage marked it in error, the
    next complete one (right after, or at the next poll) marks it healthy again."""
    last: list[tuple[int, list[dict[str, object]]]] = []

    def healthy() -> bool:
        last[:] = [status(env, cwd)]
        code, boxes = last[0]
        return code == 0 and [(box["status"], box["ok"]) for box in boxes] == [("ok", True)]

    wait_until(healthy, DEADLINE, lambda: f"the mailbox's status recovered (last: {last})")


@pytest.mark.postgres
@pytest.mark.dovecot
@pytest.mark.slow
@pytest.mark.timeout(120)
def test_postgresql_restarted_mid_batch_loses_nothing_doubles_nothing_and_the_daemon_goes_on(
        dovecot: Dovecot, triage_model_path: Path, tmp_path: Path) -> None:
    started = time.monotonic()
    user = new_user(dovecot)
    dovecot.append(user, messages("pg-restart", COUNT))
    expected = {f"pg-restart-{n}@example.com" for n in range(COUNT)}
    with throwaway_server() as cluster:  # its own server: restarting it disturbs no other test
        url = create_database(cluster.dsn)
        env = daemon_env(url, dovecot, user, triage_model_path)
        with running_daemon(env, tmp_path) as (process, log):
            # 1. A crash of the server (immediate: no shutdown checkpoint, WAL replayed at start) while batches are
            #    being stored and the next ones fetched.
            wait_until(lambda: counts(url).stored > 0, 30, lambda: f"the daemon started storing\n{log.read_text()}")
            cluster.stop("immediate")
            assert counts(url) == Counts()  # down
            cluster.start()
            first = counts(url)
            # 2. An orderly restart (fast: open transactions rolled back, connections closed) once triage runs
            #    too: its batches are in flight beside the sync's.
            wait_until(lambda: (c := counts(url)).stored > c.new, 30,
                       lambda: f"the daemon started triaging (now: {counts(url)})\n{log.read_text()[-4000:]}")
            cluster.stop("fast")
            cluster.start()
            second = counts(url)
            assert not first.done(COUNT) and not second.done(COUNT), (
                f"the daemon had finished before a restart: nothing was tested ({first}, {second})")
            wait_until(lambda: counts(url).done(COUNT), DEADLINE,
                       lambda: f"everything stored once and triaged after the restarts ({first}, {second}, "
                               f"now: {counts(url)})\n{log.read_text()[-4000:]}")
            assert process.poll() is None, f"the daemon died:\n{log.read_text()[-4000:]}"
            check_stored_once_and_triaged_once(url, expected)
            wait_healthy(env, tmp_path)
            text = stop_daemon(process, log)
        assert "Traceback" not in text, text[-4000:]
    print(f"PostgreSQL restarted at {first} and at {second}; {time.monotonic() - started:.1f} s")


@pytest.mark.postgres
@pytest.mark.dovecot
@pytest.mark.slow
@pytest.mark.timeout(120)
def test_dovecot_restarted_mid_sync_loses_nothing_doubles_nothing_and_the_mailbox_recovers(
        pg_url: str, triage_model_path: Path, tmp_path: Path) -> None:
    started = time.monotonic()
    with dovecot_server(pool=1) as server:  # its own server: restarting it disturbs no other test
        user = new_user(server)
        server.append(user, messages("imap-restart", COUNT))
        expected = {f"imap-restart-{n}@example.com" for n in range(COUNT)}
        env = daemon_env(pg_url, server, user, triage_model_path)
        with running_daemon(env, tmp_path) as (process, log):
            wait_until(lambda: counts(pg_url).stored > 0, 30,
                       lambda: f"the daemon started storing\n{log.read_text()}")
            restart_dovecot(server)  # the sync connection and the IDLE one break mid-folder
            at_restart = counts(pg_url)
            assert at_restart.stored < COUNT, "the daemon had synced everything before the restart: nothing tested"
            wait_until(lambda: counts(pg_url).done(COUNT), DEADLINE,
                       lambda: f"everything stored once and triaged after the restart (then: {at_restart}, "
                               f"now: {counts(pg_url)})\n{log.read_text()[-4000:]}")
            assert process.poll() is None, f"the daemon died:\n{log.read_text()[-4000:]}"
            check_stored_once_and_triaged_once(pg_url, expected)
            wait_healthy(env, tmp_path)
            text = stop_daemon(process, log)
        assert "Traceback" not in text, text[-4000:]
        assert "ERROR pipeline.worker: mailbox desk" in text, f"the restart did not break the sync: {text[-4000:]}"
    print(f"Dovecot restarted at {at_restart}; {time.monotonic() - started:.1f} s")
