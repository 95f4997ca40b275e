"""IMAP sync against a real Dovecot: incremental, exactly once, UIDVALIDITY resync, after-ingest actions."""

from __future__ import annotations

import logging
import threading
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import select

from pipeline import sync as sync_module
from pipeline.daemon import enabled_mailboxes, run_once
from pipeline.runtime import Runtime
from pipeline.sources.imap import ImapConnection
from pipeline.store.models import AuditEvent, FolderSyncState, QuarantineRecord
from pipeline.store.sync_state import mailbox_reports
from pipeline.handoff import leave_new
from pipeline.worker import AccountSlots, MailboxWorker
from tests.support.dovecot import Dovecot
from tests.support.imap import mailbox, messages, new_user, open_test_runtime, sightings, stored_count

pytestmark = pytest.mark.dovecot


def sync_all(runtime: Runtime) -> dict[str, int]:
    result = run_once(runtime, enabled_mailboxes(runtime.settings))
    assert not result.failures, result.failures
    return result.stats.as_json()


def flags(dovecot: Dovecot, user: str, folder: str = "INBOX") -> dict[int, tuple[bytes, ...]]:
    with dovecot.client(user) as client:
        client.select_folder(folder, readonly=True)
        uids = client.search("ALL")
        return {uid: data[b"FLAGS"] for uid, data in client.fetch(uids, ["FLAGS"]).items()}


def test_incremental_sync_across_restarts_stores_each_message_once(dovecot: Dovecot, db_url: str) -> None:
    user = new_user(dovecot)
    dovecot.append(user, messages("inc", 3))
    runtime = open_test_runtime(db_url, {"desk": mailbox(dovecot, user)})
    try:
        assert sync_all(runtime) == {"seen": 3, "stored": 3, "duplicates": 0, "quarantined": 0}
        assert sync_all(runtime) == {"seen": 0, "stored": 0, "duplicates": 0, "quarantined": 0}
        with runtime.session_factory() as session:
            events = session.scalars(select(AuditEvent).where(AuditEvent.event == "stored")
                                     .order_by(AuditEvent.id)).all()
        assert [e.details["uid"] for e in events] == [1, 2, 3]
        for event in events:
            assert event.details["mailbox"] == "desk" and event.details["folder"] == "INBOX"
            assert isinstance(event.details["uidvalidity"], int)
            fetched = datetime.fromisoformat(event.details["fetched_at"])
            assert abs((datetime.now(timezone.utc) - fetched).total_seconds()) < 60
    finally:
        runtime.close()

    # A restarted daemon (new process state, same database) only fetches what is new.
    dovecot.append(user, messages("inc", 2, start=3))
    runtime = open_test_runtime(db_url, {"desk": mailbox(dovecot, user)})
    try:
        assert sync_all(runtime) == {"seen": 2, "stored": 2, "duplicates": 0, "quarantined": 0}
        assert stored_count(runtime) == 5
        found = sightings(runtime, "desk")
        assert [uid for _, _, uid in found] == [1, 2, 3, 4, 5]
        assert len({validity for _, validity, _ in found}) == 1
    finally:
        runtime.close()
    # BODY.PEEK[]: nothing was marked read by fetching.
    assert all(b"\\Seen" not in f for f in flags(dovecot, user).values())


def test_new_uidvalidity_resyncs_without_storing_twice(dovecot: Dovecot, db_url: str,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    user = new_user(dovecot)
    dovecot.append(user, messages("uv", 3), folder="Desk")
    runtime = open_test_runtime(db_url, {"desk": mailbox(dovecot, user, folders="Desk")})
    try:
        assert sync_all(runtime)["stored"] == 3
        with dovecot.client(user) as client:
            client.delete_folder("Desk")
        dovecot.append(user, messages("uv", 4), folder="Desk")  # the same three and one new
        with caplog.at_level(logging.WARNING, logger="pipeline.sync"):
            assert sync_all(runtime) == {"seen": 4, "stored": 1, "duplicates": 3, "quarantined": 0}
        assert "UIDVALIDITY changed" in caplog.text
        assert stored_count(runtime) == 4
        validities = {validity for _, validity, _ in sightings(runtime, "desk")}
        assert len(validities) == 2
        with runtime.session_factory() as session:
            state = session.scalars(select(FolderSyncState)).one()
        assert state.uidvalidity == max(validities) and state.last_uid == 4
        assert sync_all(runtime)["seen"] == 0
    finally:
        runtime.close()


def test_after_ingest_seen_and_move_never_delete(dovecot: Dovecot, sqlite_url: str) -> None:
    seen_user, move_user = new_user(dovecot), new_user(dovecot)
    dovecot.append(seen_user, messages("seen", 2))
    dovecot.append(move_user, messages("move", 3))
    dovecot.append(move_user, [], folder="Done")
    runtime = open_test_runtime(sqlite_url, {
        "seen": mailbox(dovecot, seen_user, after_ingest="seen"),
        "move": mailbox(dovecot, move_user, after_ingest="move", move_to="Done"),
    })
    try:
        assert sync_all(runtime)["stored"] == 5
    finally:
        runtime.close()
    assert all(b"\\Seen" in f for f in flags(dovecot, seen_user).values())
    assert len(flags(dovecot, seen_user)) == 2
    assert flags(dovecot, move_user) == {}
    assert len(flags(dovecot, move_user, "Done")) == 3


def test_move_to_a_missing_folder_is_an_alert_and_messages_stay(dovecot: Dovecot, sqlite_url: str) -> None:
    user = new_user(dovecot)
    dovecot.append(user, messages("nomove", 2))
    runtime = open_test_runtime(sqlite_url, {"desk": mailbox(dovecot, user, after_ingest="move", move_to="Nowhere")})
    try:
        assert sync_all(runtime)["stored"] == 2
        report = mailbox_reports(runtime.session_factory)[0]
        assert report.status == "ok" and report.alert and "MOVE" in report.alert and "stay where they are" in report.alert
    finally:
        runtime.close()
    assert len(flags(dovecot, user)) == 2


def test_since_limits_only_the_first_sync(dovecot: Dovecot, sqlite_url: str) -> None:
    user = new_user(dovecot)
    old = datetime(2020, 5, 1, 12, 0, tzinfo=timezone.utc)
    dovecot.append(user, messages("old", 2), msg_time=old)
    dovecot.append(user, messages("recent", 2))
    runtime = open_test_runtime(sqlite_url, {"desk": mailbox(dovecot, user, since=date(2024, 1, 1))})
    try:
        assert sync_all(runtime)["stored"] == 2
        # Mail moved in later keeps its old arrival date, and is still new to us.
        dovecot.append(user, messages("late", 1), msg_time=old)
        assert sync_all(runtime)["stored"] == 1
    finally:
        runtime.close()


def test_large_folder_streams_in_bounded_batches(dovecot: Dovecot, sqlite_url: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    user = new_user(dovecot)
    dovecot.append(user, messages("big", 40))
    monkeypatch.setattr(sync_module, "SEARCH_WINDOW", 15)
    fetched: list[int] = []
    real_fetch = ImapConnection.fetch_bodies

    def counting_fetch(self: ImapConnection, folder: str, uids: list[int]) -> dict[int, bytes | None]:
        fetched.append(len(uids))
        return real_fetch(self, folder, uids)

    monkeypatch.setattr(ImapConnection, "fetch_bodies", counting_fetch)
    runtime = open_test_runtime(sqlite_url, {"desk": mailbox(dovecot, user, batch_size=7)})
    try:
        assert sync_all(runtime) == {"seen": 40, "stored": 40, "duplicates": 0, "quarantined": 0}
    finally:
        runtime.close()
    assert sum(fetched) == 40 and max(fetched) <= 7 and len(fetched) >= 6


def test_mail_that_is_not_mail_is_quarantined_and_the_rest_stored(dovecot: Dovecot, sqlite_url: str) -> None:
    user = new_user(dovecot)
    dovecot.append(user, [messages("ok", 1)[0], b"this is not mail at all\r\njust some text\r\n",
                          messages("ok", 1, start=1)[0]])
    runtime = open_test_runtime(sqlite_url, {"desk": mailbox(dovecot, user)})
    try:
        assert sync_all(runtime) == {"seen": 3, "stored": 2, "duplicates": 0, "quarantined": 1}
        with runtime.session_factory() as session:
            record = session.scalars(select(QuarantineRecord)).one()
        assert record.kind == "imap" and ";UID=2" in record.source
        assert sync_all(runtime)["seen"] == 0
    finally:
        runtime.close()


def test_stop_finishes_the_batch_in_hand_and_a_restart_goes_on(dovecot: Dovecot, sqlite_url: str) -> None:
    user = new_user(dovecot)
    dovecot.append(user, messages("stop", 12))
    settings = mailbox(dovecot, user, batch_size=5)
    runtime = open_test_runtime(sqlite_url, {"desk": settings})
    stop = threading.Event()
    worker = MailboxWorker("desk", settings, runtime, AccountSlots(2), stop=stop, sink=leave_new)
    worker.ingestor.sink = lambda ids: stop.set()  # "SIGTERM" right after the first batch is committed
    try:
        result = worker.sync_once()
        # The batches in hand (the one being stored, and the next one if already fetched) are finished.
        assert result.ok and result.stats.stored in (5, 10)
        worker.close()
        rest = 12 - result.stats.stored
        assert sync_all(runtime) == {"seen": rest, "stored": rest, "duplicates": 0, "quarantined": 0}
        assert stored_count(runtime) == 12
    finally:
        worker.close()
        runtime.close()
