"""`triage run` and `triage status` as real processes against a real Dovecot, configured from the environment."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from pipeline.store.models import Message
from tests.support.dovecot import Dovecot, free_port
from tests.support.imap import messages, new_user
from tests.support.tcp_proxy import StallingProxy

pytestmark = pytest.mark.dovecot

TRIAGE = str(Path(sys.executable).with_name("triage"))


def mailbox_env(name: str, dovecot: Dovecot, user: str, *, port: int | None = None, password: str = "secret",
                folders: str = "INBOX", **extra: str) -> dict[str, str]:
    prefix = f"TRIAGE_MAILBOXES__{name.upper()}__"
    env = {f"{prefix}HOST": "127.0.0.1", f"{prefix}PORT": str(port or dovecot.port), f"{prefix}USER": user,
           f"{prefix}PASSWORD": password, f"{prefix}TLS": "none", f"{prefix}FOLDERS": folders}
    env.update({prefix + key.upper(): value for key, value in extra.items()})
    return env


def base_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    env["TRIAGE_DATABASE_URL"] = f"sqlite:///{tmp_path / 'triage.db'}"
    env.update(extra)
    return env


def triage(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TRIAGE, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def last_json(result: subprocess.CompletedProcess[str]) -> dict[str, int]:
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert list(summary) == ["seen", "stored", "duplicates", "quarantined"]
    assert summary["seen"] == summary["stored"] + summary["duplicates"] + summary["quarantined"]
    return summary


def count_messages(tmp_path: Path) -> int:
    engine = create_engine(f"sqlite:///{tmp_path / 'triage.db'}")
    try:
        with engine.connect() as connection:
            if not connection.execute(text("SELECT name FROM sqlite_master WHERE name = 'messages'")).first():
                return 0
            return int(connection.execute(select(func.count()).select_from(Message)).scalar() or 0)
    finally:
        engine.dispose()


def wait_until(condition: Callable[[], bool], timeout: float) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.02)
    return time.monotonic() - started


class Daemon:
    """`triage run` in the background, its log lines collected."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.process = subprocess.Popen([TRIAGE, "run"], env=env, cwd=cwd, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def log(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, fragment: str, timeout: float = 15, count: int = 1) -> None:
        try:
            wait_until(lambda: sum(fragment in line for line in self.lines) >= count, timeout)
        except AssertionError:
            raise AssertionError(f"{fragment!r} not logged; log so far:\n{self.log()}") from None

    def terminate(self, timeout: float = 20) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._reader.join(5)
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()


@pytest.mark.slow
def test_run_once_json_contract_with_a_mailbox_from_the_environment_only(dovecot: Dovecot, tmp_path: Path) -> None:
    good, other = new_user(dovecot), new_user(dovecot)
    dovecot.append(good, messages("env", 3))
    dovecot.append(other, messages("env", 2, start=3), folder="Cases")
    env = base_env(tmp_path, **mailbox_env("desk", dovecot, good),
                   **mailbox_env("cases", dovecot, other, folders="INBOX, Cases"))
    first = triage(["run", "--once", "--json"], env, tmp_path)
    assert first.returncode == 0, first.stderr
    assert last_json(first) == {"seen": 5, "stored": 5, "duplicates": 0, "quarantined": 0}
    second = triage(["run", "--once", "--json"], env, tmp_path)
    assert last_json(second) == {"seen": 0, "stored": 0, "duplicates": 0, "quarantined": 0}

    env.update(mailbox_env("broken", dovecot, other, password="wrong"))
    dovecot.append(good, messages("env", 1, start=5))
    third = triage(["run", "--once", "--json"], env, tmp_path)
    assert third.returncode == 1
    assert last_json(third) == {"seen": 1, "stored": 1, "duplicates": 0, "quarantined": 0}
    errors = [line for line in third.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "mailbox broken: authentication failed for user" in errors[0]
    assert "wrong" not in third.stderr

    status = triage(["status"], env, tmp_path)
    assert status.returncode == 1, status.stderr  # a configured mailbox is alerting
    assert "broken: auth_failed" in status.stdout and "ALERT" in status.stdout
    assert "desk: ok" in status.stdout and "folder INBOX: UIDVALIDITY" in status.stdout
    as_json = triage(["status", "--json"], env, tmp_path)
    assert as_json.returncode == 1
    rows = [json.loads(line) for line in as_json.stdout.splitlines()]
    by_name = {row["name"]: row for row in rows}
    assert by_name["broken"]["alert"] and by_name["desk"]["alert"] is None
    assert by_name["broken"]["ok"] is False and by_name["desk"]["ok"] is True
    assert list(by_name["desk"]) == ["name", "host", "user", "status", "alert", "last_sync_at", "last_success_at",
                                     "lag_seconds", "last_error", "folders", "ok"]
    env.pop("TRIAGE_MAILBOXES__BROKEN__HOST")  # no longer configured: shown, but no longer fails the status
    for key in [k for k in env if k.startswith("TRIAGE_MAILBOXES__BROKEN__")]:
        env.pop(key)
    healthy = triage(["status"], env, tmp_path)
    assert healthy.returncode == 0, healthy.stdout
    assert "broken: auth_failed" in healthy.stdout and "(no longer configured)" in healthy.stdout
    assert by_name["desk"]["lag_seconds"] is not None and by_name["desk"]["lag_seconds"] < 60
    assert {f["folder"] for f in by_name["cases"]["folders"]} == {"INBOX", "Cases"}


def test_no_mailbox_configured_is_a_config_error(tmp_path: Path) -> None:
    result = triage(["run", "--once", "--json"], base_env(tmp_path), tmp_path)
    assert result.returncode == 2
    assert "no mailbox is configured" in result.stderr


@pytest.mark.slow
def test_daemon_idle_wakes_within_a_second_survives_restart_and_stops_on_sigterm(
        dovecot: Dovecot, tmp_path: Path) -> None:
    user = new_user(dovecot)
    dovecot.append(user, messages("idle", 1))
    env = base_env(tmp_path, **mailbox_env("desk", dovecot, user, poll_interval_seconds="3600"))
    daemon = Daemon(env, tmp_path)
    try:
        daemon.wait_for("mailbox desk, folder INBOX: idling")
        wait_until(lambda: count_messages(tmp_path) == 1, 10)
        for n in range(1, 3):  # polling is hourly: only IDLE can bring these in
            dovecot.append(user, messages("idle", 1, start=n))
            delay = wait_until(lambda: count_messages(tmp_path) == n + 1, 5)
            assert delay < 2.0
        assert daemon.terminate() == 0
        assert "SIGTERM received" in daemon.log() and "stopped" in daemon.lines[-1]
    finally:
        daemon.kill()

    dovecot.append(user, messages("idle", 2, start=3))  # arrives while the daemon is down
    daemon = Daemon(env, tmp_path)
    try:
        wait_until(lambda: count_messages(tmp_path) == 5, 10)
        daemon.wait_for("mailbox desk, folder INBOX: idling")
        dovecot.append(user, messages("idle", 1, start=5))
        wait_until(lambda: count_messages(tmp_path) == 6, 5)
        assert daemon.terminate() == 0
    finally:
        daemon.kill()
    assert " ERROR " not in daemon.log()
    again = triage(["run", "--once", "--json"], env, tmp_path)
    assert last_json(again)["seen"] == 0


@pytest.mark.slow
def test_daemon_retries_an_unreachable_server_with_backoff_while_others_go_on(
        dovecot: Dovecot, tmp_path: Path) -> None:
    good, flaky = new_user(dovecot), new_user(dovecot)
    dovecot.append(flaky, messages("flaky", 2))
    port = free_port()
    env = base_env(tmp_path, **mailbox_env("good", dovecot, good, poll_interval_seconds="3600"),
                   **mailbox_env("flaky", dovecot, flaky, port=port, poll_interval_seconds="3600"))
    daemon = Daemon(env, tmp_path)
    try:
        daemon.wait_for("mailbox good, folder INBOX: idling")
        daemon.wait_for(f"mailbox flaky: connection refused by 127.0.0.1:{port}; retrying in", count=2)
        dovecot.append(good, messages("good", 1))
        wait_until(lambda: count_messages(tmp_path) == 1, 5)
        with StallingProxy(dovecot.host, dovecot.port, port=port):  # the server comes back
            wait_until(lambda: count_messages(tmp_path) == 3, 20)
            assert daemon.terminate() == 0
    finally:
        daemon.kill()
    retries = [line for line in daemon.lines if "mailbox flaky: connection refused" in line and " ERROR " in line]
    delays = [float(line.rsplit("retrying in ", 1)[1].split()[0]) for line in retries]
    assert len(delays) >= 2 and delays[1] > delays[0] * 0.5 and all(0.5 <= d <= 300 for d in delays)
