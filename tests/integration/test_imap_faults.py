"""Faults against a real Dovecot: bad credentials, unreachable and hung servers, TLS, vanished folders."""

from __future__ import annotations

import logging
import os
import shlex
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from pipeline.daemon import enabled_mailboxes, run_once
from pipeline.errors import ImapAuthError
from pipeline.quarantine import QuarantineReason
from pipeline.store.models import QuarantineRecord
from pipeline.store.sync_state import mailbox_reports
from pipeline.handoff import leave_new
from pipeline.worker import AccountSlots, MailboxWorker
from tests.support.dovecot import Dovecot, free_port
from tests.support.imap import mailbox, messages, new_user, open_test_runtime, sightings, stored_count
from tests.support.tcp_proxy import StallingProxy

pytestmark = pytest.mark.dovecot


def error_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_wrong_password_is_an_alert_and_the_other_mailbox_goes_on(
        dovecot: Dovecot, sqlite_url: str, caplog: pytest.LogCaptureFixture) -> None:
    good, bad = new_user(dovecot), new_user(dovecot)
    dovecot.append(good, messages("good", 2))
    dovecot.append(bad, messages("bad", 2))
    runtime = open_test_runtime(sqlite_url, {"good": mailbox(dovecot, good),
                                             "bad": mailbox(dovecot, bad, password="wrong")})
    try:
        with caplog.at_level(logging.ERROR):
            result = run_once(runtime, enabled_mailboxes(runtime.settings))
        assert result.stats.stored == 2 and list(result.failures) == ["bad"]
        lines = error_lines(caplog)
        assert len(lines) == 1 and "\n" not in lines[0]
        assert lines[0].startswith("mailbox bad: authentication failed for user") and "wrong" not in lines[0]
        reports = {r.name: r for r in mailbox_reports(runtime.session_factory)}
        assert reports["bad"].status == "auth_failed" and "authentication failed" in (reports["bad"].alert or "")
        assert reports["good"].status == "ok" and reports["good"].alert is None
    finally:
        runtime.close()
    # Fixed credentials clear the alert.
    runtime = open_test_runtime(sqlite_url, {"bad": mailbox(dovecot, bad)})
    try:
        assert run_once(runtime, enabled_mailboxes(runtime.settings)).stats.stored == 2
        report = next(r for r in mailbox_reports(runtime.session_factory) if r.name == "bad")
        assert report.status == "ok" and report.alert is None and report.last_error is None
    finally:
        runtime.close()


def test_unreachable_server_is_one_line_and_does_not_stop_the_others(
        dovecot: Dovecot, sqlite_url: str, caplog: pytest.LogCaptureFixture) -> None:
    good = new_user(dovecot)
    dovecot.append(good, messages("reach", 1))
    closed_port = free_port()
    runtime = open_test_runtime(sqlite_url, {"gone": mailbox(dovecot, good, port=closed_port),
                                             "good": mailbox(dovecot, good)})
    try:
        with caplog.at_level(logging.ERROR):
            result = run_once(runtime, enabled_mailboxes(runtime.settings))
        assert result.stats.stored == 1 and list(result.failures) == ["gone"]
        assert error_lines(caplog) == [f"mailbox gone: connection refused by 127.0.0.1:{closed_port}"]
        report = next(r for r in mailbox_reports(runtime.session_factory) if r.name == "gone")
        assert report.status == "error" and report.alert is None
    finally:
        runtime.close()


def test_implicit_tls_and_starttls_with_the_test_ca_and_an_unverified_certificate_refused(
        dovecot: Dovecot, sqlite_url: str) -> None:
    user = new_user(dovecot)
    dovecot.append(user, messages("tls", 2))
    runtime = open_test_runtime(sqlite_url, {
        "implicit": mailbox(dovecot, user, tls="implicit", port=dovecot.tls_port, ca_file=dovecot.ca_file),
        "starttls": mailbox(dovecot, user, tls="starttls", ca_file=dovecot.ca_file, folders="INBOX"),
        "unverified": mailbox(dovecot, user, tls="implicit", port=dovecot.tls_port),
        "wronghost": mailbox(dovecot, user, tls="implicit", host="127.0.0.2", port=dovecot.tls_port,
                             ca_file=dovecot.ca_file),
    })
    try:
        result = run_once(runtime, enabled_mailboxes(runtime.settings))
        assert result.stats.stored == 2 and result.stats.duplicates == 2
        assert sorted(result.failures) == ["unverified", "wronghost"]
        (unverified,) = result.failures["unverified"]
        assert "does not verify" in unverified and "self-signed certificate" in unverified
        (wronghost,) = result.failures["wronghost"]
        assert "does not verify" in wronghost or "refused" in wronghost
    finally:
        runtime.close()


def test_server_that_stops_answering_mid_fetch_loses_nothing_and_duplicates_nothing(
        dovecot: Dovecot, sqlite_url: str) -> None:
    user = new_user(dovecot)
    dovecot.append(user, messages("hang", 10, size=10_000))
    with StallingProxy(dovecot.host, dovecot.port) as proxy:
        settings = mailbox(dovecot, user, port=proxy.port, batch_size=3, timeout_seconds=1)
        runtime = open_test_runtime(sqlite_url, {"desk": settings})
        worker = MailboxWorker("desk", settings, runtime, AccountSlots(2), sink=leave_new)
        try:
            proxy.stall_after(45_000)  # the greeting, login, SELECT, SEARCH, sizes, 3 messages, part of the next 3
            started = time.monotonic()
            first = worker.sync_once()
            assert time.monotonic() - started < 5
            assert first.stats.stored == 3
            (error,) = first.errors
            assert str(error).startswith("mailbox desk, folder INBOX: no answer from 127.0.0.1")
            assert "within 1 s during FETCH BODY.PEEK[] of UIDs 4-6" in str(error)

            proxy.resume()
            second = worker.sync_once()
            assert second.ok, second.errors
            assert second.stats.as_json() == {"seen": 7, "stored": 7, "duplicates": 0, "quarantined": 0}
            assert stored_count(runtime) == 10
            assert [uid for _, _, uid in sightings(runtime, "desk")] == list(range(1, 11))
        finally:
            worker.close()
            runtime.close()


def test_server_that_never_greets_times_out(dovecot: Dovecot, sqlite_url: str) -> None:
    user = new_user(dovecot)
    with StallingProxy(dovecot.host, dovecot.port) as proxy:
        proxy.stall_after(0)
        runtime = open_test_runtime(sqlite_url, {"desk": mailbox(dovecot, user, port=proxy.port, timeout_seconds=1)})
        try:
            started = time.monotonic()
            result = run_once(runtime, enabled_mailboxes(runtime.settings))
            assert time.monotonic() - started < 5
            assert result.failures["desk"] == [f"mailbox desk: no answer from 127.0.0.1:{proxy.port} within 1 s "
                                               "during connect"]
        finally:
            runtime.close()


def test_folder_that_disappears_fails_alone_and_comes_back_with_a_resync(dovecot: Dovecot, sqlite_url: str) -> None:
    user = new_user(dovecot)
    dovecot.append(user, messages("arch", 2), folder="Archive")
    dovecot.append(user, messages("inbox", 1))
    runtime = open_test_runtime(sqlite_url, {"desk": mailbox(dovecot, user, folders="Archive,INBOX")})
    try:
        assert run_once(runtime, enabled_mailboxes(runtime.settings)).stats.stored == 3
        with dovecot.client(user) as client:
            client.delete_folder("Archive")
        dovecot.append(user, messages("inbox", 1, start=1))
        result = run_once(runtime, enabled_mailboxes(runtime.settings))
        assert result.stats.stored == 1
        assert result.failures == {"desk": ["mailbox desk, folder Archive: the folder does not exist on the server "
                                            "(any more)"]}
        report = mailbox_reports(runtime.session_factory)[0]
        assert report.status == "error"
        assert {f.folder: f.last_error is not None for f in report.folders} == {"Archive": True, "INBOX": False}

        dovecot.append(user, messages("arch", 3), folder="Archive")  # recreated: new UIDVALIDITY
        result = run_once(runtime, enabled_mailboxes(runtime.settings))
        assert not result.failures
        assert result.stats.as_json() == {"seen": 3, "stored": 1, "duplicates": 2, "quarantined": 0}
        assert mailbox_reports(runtime.session_factory)[0].status == "ok"
    finally:
        runtime.close()


def test_a_message_the_server_cannot_deliver_never_blocks_the_folder(dovecot: Dovecot, sqlite_url: str) -> None:
    user = new_user(dovecot)
    dovecot.append(user, messages("poison", 5))
    maildir = dovecot.maildir(user)
    files = sorted(p for sub in ("new", "cur") for p in (maildir / sub).iterdir())
    os.chmod(files[1], 0)  # Dovecot fails the FETCH of UID 2 and drops the connection each time
    settings = mailbox(dovecot, user, batch_size=10)
    runtime = open_test_runtime(sqlite_url, {"desk": settings})
    worker = MailboxWorker("desk", settings, runtime, AccountSlots(2), sink=leave_new)
    try:
        results = []
        for _ in range(8):
            results.append(worker.sync_once())
            if results[-1].ok:
                break
        assert results[-1].ok, [r.errors for r in results]
        assert 2 <= len(results) <= 6
        assert "lost during FETCH BODY.PEEK[] of UIDs 1-5" in str(results[0].errors[0])
        assert stored_count(runtime) == 4
        with runtime.session_factory() as session:
            record = session.scalars(select(QuarantineRecord)).one()
        assert record.reason == QuarantineReason.FETCH_BREAKS_CONNECTION and ";UID=2" in record.source
        assert "given up" in record.error
        assert worker.sync_once().stats.seen == 0
    finally:
        os.chmod(files[1], 0o600)
        worker.close()
        runtime.close()


def _command(script: str) -> str:
    return shlex.join([sys.executable, "-c", script])


def test_xoauth2_with_a_token_command_and_its_alerts(dovecot: Dovecot, sqlite_url: str, tmp_path: Path) -> None:
    user = new_user(dovecot)
    dovecot.append(user, messages("oauth", 1))
    plain = _command("print('secret')")
    expiring = _command("import json; print(json.dumps({'access_token': 'secret', 'expires_in': 60}))")
    failing = _command("import sys; sys.stderr.write('refresh token revoked\\n'); sys.exit(3)")
    runtime = open_test_runtime(sqlite_url, {
        "plain": mailbox(dovecot, user, password=None, oauth2_token_command=plain),
        "expiring": mailbox(dovecot, user, password=None, oauth2_token_command=expiring),
        "failing": mailbox(dovecot, user, password=None, oauth2_token_command=failing),
        "refused": mailbox(dovecot, user, password=None, oauth2_token_command=_command("print('stale')")),
    })
    try:
        result = run_once(runtime, enabled_mailboxes(runtime.settings))
        assert result.stats.stored == 1 and result.stats.duplicates == 1
        assert sorted(result.failures) == ["failing", "refused"]
        reports = {r.name: r for r in mailbox_reports(runtime.session_factory)}
        assert reports["plain"].status == "ok" and reports["plain"].alert is None
        assert reports["expiring"].status == "ok" and "expires in" in (reports["expiring"].alert or "")
        assert reports["failing"].status == "auth_failed"
        assert reports["failing"].alert == ("mailbox failing: token command failed with exit status 3: "
                                            "refresh token revoked")
        assert reports["refused"].status == "auth_failed" and "authentication failed" in (reports["refused"].alert or "")
    finally:
        runtime.close()


def test_failing_mailbox_backs_off_with_growing_jittered_delays(dovecot: Dovecot, sqlite_url: str) -> None:
    user = new_user(dovecot)
    settings = mailbox(dovecot, user, port=free_port())
    runtime = open_test_runtime(sqlite_url, {"desk": settings})
    worker = MailboxWorker("desk", settings, runtime, AccountSlots(2), sink=leave_new)
    delays: list[float] = []
    worker.schedule_in = delays.append
    try:
        for _ in range(4):
            worker.run_job()
        assert [round(d) for d in delays] != [0, 0, 0, 0]
        for n, delay in enumerate(delays):
            assert 2 ** n / 2 <= delay <= 2 ** n
        worker.wake()  # a wake-up while backing off does not hammer the server
        assert len(delays) == 4
    finally:
        worker.close()
        runtime.close()


def test_auth_failures_back_off_longer(dovecot: Dovecot, sqlite_url: str) -> None:
    user = new_user(dovecot)
    settings = mailbox(dovecot, user, password="wrong")
    runtime = open_test_runtime(sqlite_url, {"desk": settings})
    worker = MailboxWorker("desk", settings, runtime, AccountSlots(2), sink=leave_new)
    delays: list[float] = []
    worker.schedule_in = delays.append
    try:
        worker.run_job()
        assert 15 <= delays[0] <= 30
        assert isinstance(worker.sync_once().errors[0], ImapAuthError)
    finally:
        worker.close()
        runtime.close()
