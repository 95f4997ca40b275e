"""The IMAP sync over the in-memory twin of the server: batching, exactly once, resyncs, faults, threads.

The server is ``MemoryImapServer``; the store is a real SQLite database in
``tmp_path``; the sync runs through ``MailboxWorker`` as in the daemon. The
same behaviours are checked against a real Dovecot in tests/integration.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from pipeline import sync as sync_module
from pipeline.config import DatabaseSettings, MailboxSettings, Settings
from pipeline.errors import ImapAuthError, ImapError, ImapFolderError
from pipeline.handoff import leave_new
from pipeline.idle import IdleWatcher
from pipeline.runtime import Runtime, open_runtime
from pipeline.sources.memory_imap import MemoryImapServer
from pipeline.store.models import AuditEvent, FolderSyncState, Message, QuarantineRecord, Sighting, Thread
from pipeline.store.sync_state import mailbox_reports
from pipeline.sync import GIVE_UP_AFTER
from pipeline.worker import AccountSlots, MailboxWorker, SyncResult
from tests.support.mail import make_message

USER, PASSWORD, HOST = "desk@example.org", "secret", "imap.example.org"


def mailbox(**overrides: Any) -> MailboxSettings:
    values: dict[str, Any] = {"host": HOST, "user": USER, "password": PASSWORD, "timeout_seconds": 5,
                              "poll_interval_seconds": 300}
    values.update(overrides)
    return MailboxSettings(**values)


def messages(prefix: str, count: int, *, start: int = 0) -> list[bytes]:
    return [make_message(f"Question {n} from {prefix}.", subject=f"{prefix} {n}",
                         message_id=f"<{prefix}-{n}@example.com>") for n in range(start, start + count)]


class Desk:
    """One mailbox on a twin server, synced into a SQLite store by a worker."""

    def __init__(self, tmp_path: Path, server: MemoryImapServer, **settings: Any) -> None:
        self.db_url = f"sqlite:///{tmp_path / 'triage.db'}"
        self.server = server
        self.settings = mailbox(**settings)
        self.runtime = self.open_runtime()
        self.stop = threading.Event()
        self.worker = self.new_worker()

    def open_runtime(self) -> Runtime:
        return open_runtime(Settings(database=DatabaseSettings(url=self.db_url), mailboxes={"desk": self.settings}))

    def new_worker(self, name: str = "desk", server: MemoryImapServer | None = None,
                   settings: MailboxSettings | None = None) -> MailboxWorker:
        return MailboxWorker(name, settings or self.settings, self.runtime, AccountSlots(2), stop=self.stop,
                             sink=leave_new, connect=(server or self.server).connect)

    def sync(self) -> SyncResult:
        return self.worker.sync_once()

    def sync_ok(self) -> dict[str, int]:
        result = self.sync()
        assert result.ok, result.errors
        return result.stats.as_json()

    def restart(self) -> None:
        """A new process: new runtime, worker and connections; the same database."""
        self.worker.close()
        self.runtime.close()
        self.runtime = self.open_runtime()
        self.stop = threading.Event()
        self.worker = self.new_worker()

    def close(self) -> None:
        self.worker.close()
        self.runtime.close()

    def stored(self) -> int:
        with self.runtime.session_factory() as session:
            return int(session.scalar(select(func.count()).select_from(Message)) or 0)

    def sightings(self, name: str = "desk") -> list[tuple[str | None, int | None, int | None]]:
        with self.runtime.session_factory() as session:
            rows = session.execute(select(Sighting.folder, Sighting.uidvalidity, Sighting.uid)
                                   .where(Sighting.mailbox == name).order_by(Sighting.id)).all()
        return [(row[0], row[1], row[2]) for row in rows]

    def progress(self, folder: str = "INBOX") -> tuple[int | None, int]:
        with self.runtime.session_factory() as session:
            state = session.scalars(select(FolderSyncState).where(FolderSyncState.folder == folder)).one()
        return state.uidvalidity, int(state.last_uid or 0)

    def fetched(self) -> list[list[int]]:
        return [uids for _, uids in self.server.fetches]


@pytest.fixture
def server() -> MemoryImapServer:
    return MemoryImapServer(user=USER, password=PASSWORD)


@pytest.fixture
def make_desk(tmp_path: Path, server: MemoryImapServer) -> Iterator[Any]:
    desks: list[Desk] = []

    def make(**settings: Any) -> Desk:
        desk = Desk(tmp_path, server, **settings)
        desks.append(desk)
        return desk

    yield make
    for desk in desks:
        desk.close()
    assert not server.open_connections, "a connection was left open"


# -- incremental, exactly once ---------------------------------------------------------------------------


def test_incremental_sync_fetches_only_new_uids_and_stores_each_once(make_desk: Any,
                                                                     server: MemoryImapServer) -> None:
    server.append_many("INBOX", messages("inc", 3))
    desk = make_desk()
    assert desk.sync_ok() == {"seen": 3, "stored": 3, "duplicates": 0, "quarantined": 0}
    assert desk.sync_ok() == {"seen": 0, "stored": 0, "duplicates": 0, "quarantined": 0}
    assert desk.fetched() == [[1, 2, 3]]

    server.append_many("INBOX", messages("inc", 2, start=3))
    assert desk.sync_ok() == {"seen": 2, "stored": 2, "duplicates": 0, "quarantined": 0}
    assert desk.fetched() == [[1, 2, 3], [4, 5]]
    uidvalidity = server.folders["INBOX"].uidvalidity
    assert desk.sightings() == [("INBOX", uidvalidity, uid) for uid in range(1, 6)]
    assert desk.progress() == (uidvalidity, 5)
    with desk.runtime.session_factory() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.event == "stored").order_by(AuditEvent.id)).all()
    assert [e.details["uid"] for e in events] == [1, 2, 3, 4, 5]
    assert all(e.details["mailbox"] == "desk" and e.details["uidvalidity"] == uidvalidity for e in events)
    # Fetching marks nothing read.
    assert all("\\Seen" not in flags for flags in server.flags("INBOX").values())


def test_expunged_messages_leave_gaps_that_are_skipped(make_desk: Any, server: MemoryImapServer) -> None:
    server.append_many("INBOX", messages("gap", 5))
    server.expunge("INBOX", [2, 4])
    desk = make_desk()
    assert desk.sync_ok()["stored"] == 3
    assert desk.progress()[1] == 5
    server.expunge("INBOX", [5])
    server.append("INBOX", messages("gap", 1, start=5)[0])
    assert desk.sync_ok() == {"seen": 1, "stored": 1, "duplicates": 0, "quarantined": 0}
    assert desk.fetched() == [[1, 3, 5], [6]]


def test_an_empty_folder_records_its_progress_and_fetches_nothing(make_desk: Any, server: MemoryImapServer) -> None:
    desk = make_desk()
    assert desk.sync_ok()["seen"] == 0
    server.append("INBOX", messages("later", 1)[0])
    assert desk.sync_ok()["stored"] == 1
    assert desk.fetched() == [[1]]


@pytest.mark.parametrize("count", [4, 5, 6])
def test_batches_hold_at_most_batch_size_messages(make_desk: Any, server: MemoryImapServer, count: int) -> None:
    server.append_many("INBOX", messages("batch", count))
    desk = make_desk(batch_size=5)
    assert desk.sync_ok() == {"seen": count, "stored": count, "duplicates": 0, "quarantined": 0}
    expected = {4: [[1, 2, 3, 4]], 5: [[1, 2, 3, 4, 5]], 6: [[1, 2, 3, 4, 5], [6]]}[count]
    assert desk.fetched() == expected
    assert desk.progress()[1] == count


@pytest.mark.parametrize("count", [4, 5, 6])
def test_search_windows_split_the_folder_and_save_progress_after_each(
        make_desk: Any, server: MemoryImapServer, monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    monkeypatch.setattr(sync_module, "SEARCH_WINDOW", 5)
    server.append_many("INBOX", messages("window", count))
    desk = make_desk(batch_size=10)
    assert desk.sync_ok()["stored"] == count
    expected = {4: [[1, 2, 3, 4]], 5: [[1, 2, 3, 4, 5]], 6: [[1, 2, 3, 4, 5], [6]]}[count]
    assert desk.fetched() == expected
    assert desk.progress()[1] == count


def test_batches_are_bounded_by_bytes_and_a_large_message_is_fetched_alone(
        make_desk: Any, server: MemoryImapServer, monkeypatch: pytest.MonkeyPatch) -> None:
    small = messages("small", 4)
    large = make_message("x" * 4000, subject="large", message_id="<large@example.com>")
    monkeypatch.setattr(sync_module, "MAX_BATCH_BYTES", 2 * len(small[0]) + 10)
    server.append_many("INBOX", [small[0], small[1], large, small[2], small[3]])
    desk = make_desk(batch_size=100)
    assert desk.sync_ok()["stored"] == 5
    assert desk.fetched() == [[1, 2], [3], [4, 5]]


def test_a_large_folder_streams_in_bounded_batches(make_desk: Any, server: MemoryImapServer,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sync_module, "SEARCH_WINDOW", 15)
    server.append_many("INBOX", messages("big", 40))
    desk = make_desk(batch_size=7)
    assert desk.sync_ok() == {"seen": 40, "stored": 40, "duplicates": 0, "quarantined": 0}
    sizes = [len(uids) for uids in desk.fetched()]
    assert sizes == [7, 7, 1, 7, 7, 1, 7, 3]  # windows of 15 UIDs, each in batches of at most 7
    assert sorted(uid for uids in desk.fetched() for uid in uids) == list(range(1, 41))


def test_exactly_once_across_a_restart_with_the_same_store(make_desk: Any, server: MemoryImapServer) -> None:
    server.append_many("INBOX", messages("restart", 3))
    desk = make_desk()
    assert desk.sync_ok()["stored"] == 3
    desk.restart()
    server.append_many("INBOX", messages("restart", 2, start=3))
    assert desk.sync_ok() == {"seen": 2, "stored": 2, "duplicates": 0, "quarantined": 0}
    assert desk.fetched() == [[1, 2, 3], [4, 5]]
    assert desk.stored() == 5 and [uid for _, _, uid in desk.sightings()] == [1, 2, 3, 4, 5]


def test_stop_finishes_the_batches_in_hand_and_a_restart_goes_on(make_desk: Any, server: MemoryImapServer) -> None:
    server.append_many("INBOX", messages("stop", 12))
    desk = make_desk(batch_size=5)
    desk.worker.ingestor.sink = lambda ids: desk.stop.set()  # "SIGTERM" right after the first batch is committed
    first = desk.sync()
    assert first.ok and first.stats.stored in (5, 10)
    assert desk.progress()[1] == first.stats.stored
    desk.restart()
    rest = 12 - first.stats.stored
    assert desk.sync_ok() == {"seen": rest, "stored": rest, "duplicates": 0, "quarantined": 0}
    assert desk.stored() == 12 and [uid for _, _, uid in desk.sightings()] == list(range(1, 13))


# -- UIDVALIDITY ----------------------------------------------------------------------------------------


def test_new_uidvalidity_starts_over_without_storing_twice(make_desk: Any, server: MemoryImapServer,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    server.append_many("INBOX", messages("uv", 3))
    desk = make_desk()
    assert desk.sync_ok()["stored"] == 3
    old = server.folders["INBOX"].uidvalidity
    new = server.renumber("INBOX")
    server.append("INBOX", messages("uv", 1, start=3)[0])
    with caplog.at_level(logging.WARNING, logger="pipeline.sync"):
        assert desk.sync_ok() == {"seen": 4, "stored": 1, "duplicates": 3, "quarantined": 0}
    assert f"UIDVALIDITY changed from {old} to {new}" in caplog.text
    assert desk.stored() == 4
    assert desk.progress() == (new, 4)
    assert {validity for _, validity, _ in desk.sightings()} == {old, new}
    assert desk.sync_ok()["seen"] == 0


def test_a_folder_deleted_and_recreated_resyncs_with_duplicates_recognised(
        make_desk: Any, server: MemoryImapServer) -> None:
    server.append_many("Desk", messages("recreated", 3))
    desk = make_desk(folders="Desk")
    assert desk.sync_ok()["stored"] == 3
    server.delete_folder("Desk")
    server.append_many("Desk", messages("recreated", 4))  # the same three and one new
    assert desk.sync_ok() == {"seen": 4, "stored": 1, "duplicates": 3, "quarantined": 0}
    assert desk.progress("Desk") == (server.folders["Desk"].uidvalidity, 4)


# -- faults ---------------------------------------------------------------------------------------------


def test_a_message_that_breaks_the_connection_is_retried_alone_then_quarantined(
        make_desk: Any, server: MemoryImapServer) -> None:
    server.append_many("INBOX", messages("poison", 5))
    server.break_on_fetch("INBOX", 2)
    desk = make_desk(batch_size=10)
    results = []
    for _ in range(8):
        results.append(desk.sync())
        if results[-1].ok:
            break
    assert results[-1].ok, [r.errors for r in results]
    assert len(results) == GIVE_UP_AFTER + 2
    (error,) = results[0].errors
    assert str(error) == (f"mailbox desk, folder INBOX: connection to {HOST}:993 lost during "
                          "FETCH BODY.PEEK[] of UIDs 1-5: socket error: EOF")
    for result in results[1:-1]:
        assert [str(e) for e in result.errors] == [f"mailbox desk, folder INBOX, UID 2: connection to {HOST}:993 "
                                                   "lost during FETCH BODY.PEEK[] of UIDs 2: socket error: EOF"]
    # After the batch broke, its messages were fetched one at a time; UID 2 alone until given up.
    assert desk.fetched()[0] == [1, 2, 3, 4, 5]
    assert all(len(uids) == 1 for uids in desk.fetched()[1:])
    assert desk.fetched().count([2]) == GIVE_UP_AFTER
    assert desk.stored() == 4
    with desk.runtime.session_factory() as session:
        record = session.scalars(select(QuarantineRecord)).one()
    assert record.reason == "fetch_breaks_connection" and record.source.endswith(";UID=2")
    assert "broke the connection 3 times; given up" in (record.error or "")
    assert desk.sync_ok()["seen"] == 0
    assert desk.progress()[1] == 5


def test_a_message_the_server_refuses_is_quarantined_and_the_batch_goes_on(
        make_desk: Any, server: MemoryImapServer) -> None:
    server.append_many("INBOX", messages("refused", 4))
    server.refuse_fetch("INBOX", 3)
    desk = make_desk()
    assert desk.sync_ok() == {"seen": 4, "stored": 3, "duplicates": 0, "quarantined": 1}
    assert desk.fetched() == [[1, 2, 3, 4], [1], [2], [3], [4]]
    with desk.runtime.session_factory() as session:
        record = session.scalars(select(QuarantineRecord)).one()
    assert record.source.endswith(";UID=3") and "refused by the server" in (record.error or "")
    assert desk.worker._connection is not None  # the connection was never broken


def test_a_message_sent_without_body_is_quarantined(make_desk: Any, server: MemoryImapServer) -> None:
    server.append_many("INBOX", messages("bodiless", 2))
    server.send_no_body("INBOX", 1)
    desk = make_desk()
    assert desk.sync_ok() == {"seen": 2, "stored": 1, "duplicates": 0, "quarantined": 1}
    with desk.runtime.session_factory() as session:
        record = session.scalars(select(QuarantineRecord)).one()
    assert "the server sent no body" in (record.error or "")


def test_a_connection_dropped_mid_folder_loses_nothing_and_duplicates_nothing(
        make_desk: Any, server: MemoryImapServer) -> None:
    server.append_many("INBOX", messages("drop", 12))
    server.drop_after_fetches(2)
    desk = make_desk(batch_size=3)
    first = desk.sync()
    assert first.stats.stored == 6 and desk.progress()[1] == 6
    (error,) = first.errors
    assert "lost during FETCH BODY.PEEK[] of UIDs 7-9" in str(error)
    assert desk.worker._connection is None  # the broken connection was dropped
    second = desk.sync()
    assert second.ok, second.errors
    assert second.stats.as_json() == {"seen": 6, "stored": 6, "duplicates": 0, "quarantined": 0}
    # The batch that broke is fetched one message at a time, the rest in batches again.
    assert desk.fetched()[3:] == [[7], [8], [9], [10, 11, 12]]
    assert [uid for _, _, uid in desk.sightings()] == list(range(1, 13))
    assert server.logins == 2


def test_a_server_that_stalls_times_out_and_the_next_sync_goes_on(make_desk: Any, server: MemoryImapServer) -> None:
    server.append_many("INBOX", messages("hang", 10))
    server.stall_after_fetches(1)
    desk = make_desk(batch_size=3, timeout_seconds=1)
    first = desk.sync()
    assert first.stats.stored == 3
    assert [str(e) for e in first.errors] == [f"mailbox desk, folder INBOX: no answer from {HOST}:993 within 1 s "
                                              "during FETCH BODY.PEEK[] of UIDs 4-6"]
    still = desk.sync()
    assert [str(e) for e in still.errors] == [f"mailbox desk: no answer from {HOST}:993 within 1 s during connect"]
    server.resume()
    second = desk.sync()
    assert second.ok and second.stats.as_json() == {"seen": 7, "stored": 7, "duplicates": 0, "quarantined": 0}
    assert desk.stored() == 10


def test_a_missing_folder_fails_alone_while_the_others_sync(make_desk: Any, server: MemoryImapServer) -> None:
    server.append_many("Archive", messages("arch", 2))
    server.append_many("INBOX", messages("inbox", 1))
    desk = make_desk(folders="Archive,Cases,INBOX")
    result = desk.sync()
    assert result.stats.stored == 3
    assert [type(e) for e in result.errors] == [ImapFolderError]
    assert [str(e) for e in result.errors] == ["mailbox desk, folder Cases: the folder does not exist on the "
                                               "server (any more)"]
    report = mailbox_reports(desk.runtime.session_factory)[0]
    assert report.status == "error"
    assert {f.folder: f.last_error is not None for f in report.folders} == {
        "Archive": False, "Cases": True, "INBOX": False}

    server.delete_folder("Archive")
    server.append_many("Cases", messages("cases", 1))
    server.append("INBOX", messages("inbox", 1, start=1)[0])
    result = desk.sync()
    assert result.stats.stored == 2
    assert [str(e) for e in result.errors] == ["mailbox desk, folder Archive: the folder does not exist on the "
                                               "server (any more)"]
    server.append_many("Archive", messages("arch", 3))  # recreated: a new UIDVALIDITY
    assert desk.sync_ok() == {"seen": 3, "stored": 1, "duplicates": 2, "quarantined": 0}
    assert mailbox_reports(desk.runtime.session_factory)[0].status == "ok"


def test_a_refused_login_is_an_auth_alert_and_the_other_mailbox_goes_on(
        make_desk: Any, server: MemoryImapServer, caplog: pytest.LogCaptureFixture) -> None:
    other = MemoryImapServer(user="sales@example.org", password="other-secret")
    other.append_many("INBOX", messages("other", 2))
    server.append_many("INBOX", messages("desk", 2))
    server.refuse_logins()
    desk = make_desk()
    sales = desk.new_worker("sales", other, mailbox(user="sales@example.org", password="other-secret"))
    try:
        result = desk.sync()
        assert not result.ok and result.auth_failed
        (error,) = result.errors
        assert isinstance(error, ImapAuthError)
        assert str(error) == (f"mailbox desk: authentication failed for user '{USER}' at {HOST}:993: "
                              "[AUTHENTICATIONFAILED] Authentication failed.")
        assert sales.sync_once().stats.stored == 2
        reports = {r.name: r for r in mailbox_reports(desk.runtime.session_factory)}
        assert reports["desk"].status == "auth_failed" and "authentication failed" in (reports["desk"].alert or "")
        assert PASSWORD not in (reports["desk"].alert or "")
        assert reports["sales"].status == "ok" and reports["sales"].alert is None
        assert desk.fetched() == [] and not server.open_connections

        # Authentication failures back off longer, and log an ALERT.
        delays: list[float] = []
        desk.worker.schedule_in = delays.append
        with caplog.at_level(logging.ERROR):
            desk.worker.run_job()
        assert 15 <= delays[0] <= 30
        assert any(r.getMessage().startswith("ALERT: mailbox desk: authentication failed") for r in caplog.records)

        # Fixed credentials clear the alert.
        server.refuse_logins(False)
        assert desk.sync_ok()["stored"] == 2
        report = next(r for r in mailbox_reports(desk.runtime.session_factory) if r.name == "desk")
        assert report.status == "ok" and report.alert is None and report.last_error is None
    finally:
        sales.close()


def test_wrong_password_and_server_down_are_one_line_errors(make_desk: Any, server: MemoryImapServer) -> None:
    desk = make_desk()
    wrong = desk.new_worker("wrong", settings=mailbox(password="guess"))
    try:
        (error,) = wrong.sync_once().errors
        assert isinstance(error, ImapAuthError) and "guess" not in str(error)
    finally:
        wrong.close()
    server.set_down()
    result = desk.sync()
    assert [str(e) for e in result.errors] == [f"mailbox desk: connection refused by {HOST}:993"]
    assert not result.auth_failed and isinstance(result.errors[0], ImapError)


# -- threads --------------------------------------------------------------------------------------------


def test_replies_join_the_thread_of_their_root_across_batches_and_folders(
        make_desk: Any, server: MemoryImapServer) -> None:
    root = make_message("What is the renewal fee?", subject="Renewal", message_id="<root@example.com>")
    reply = make_message("And for two classes?", subject="Re: Renewal", message_id="<reply-1@example.com>",
                         headers={"In-Reply-To": "<root@example.com>", "References": "<root@example.com>"})
    other = make_message("Another question", subject="Opposition", message_id="<other@example.com>")
    server.append_many("INBOX", [root, other])
    server.create_folder("Cases")
    desk = make_desk(folders="INBOX,Cases", batch_size=1)
    assert desk.sync_ok()["stored"] == 2
    server.append("Cases", reply)
    later = make_message("Any news?", subject="Re: Renewal", message_id="<reply-2@example.com>",
                         headers={"In-Reply-To": "<reply-1@example.com>",
                                  "References": "<root@example.com> <reply-1@example.com>"})
    server.append("INBOX", later)
    assert desk.sync_ok()["stored"] == 2
    with desk.runtime.session_factory() as session:
        threads = {t.id: t.thread_key for t in session.scalars(select(Thread))}
        by_message = {m.message_id: threads[m.thread_id] for m in session.scalars(select(Message))}
    assert by_message == {"root@example.com": "mid:root@example.com", "reply-1@example.com": "mid:root@example.com",
                          "reply-2@example.com": "mid:root@example.com", "other@example.com": "mid:other@example.com"}


# -- after ingest, since --------------------------------------------------------------------------------


def test_after_ingest_seen_and_move_never_delete(make_desk: Any, server: MemoryImapServer) -> None:
    server.append_many("INBOX", messages("seen", 2))
    desk = make_desk(after_ingest="seen")
    assert desk.sync_ok()["stored"] == 2
    assert all("\\Seen" in flags for flags in server.flags("INBOX").values())

    moving = MemoryImapServer(user=USER, password=PASSWORD, folders=("INBOX", "Done"))
    moving.append_many("INBOX", messages("move", 3))
    mover = desk.new_worker("move", moving, mailbox(after_ingest="move", move_to="Done"))
    try:
        result = mover.sync_once()
        assert result.ok and result.stats.stored == 3
    finally:
        mover.close()
    assert moving.uids("INBOX") == [] and moving.uids("Done") == [1, 2, 3]


def test_move_to_a_missing_folder_or_without_move_is_an_alert_and_messages_stay(make_desk: Any,
                                                                               server: MemoryImapServer) -> None:
    server.append_many("INBOX", messages("nomove", 2))
    desk = make_desk(after_ingest="move", move_to="Nowhere")
    assert desk.sync_ok()["stored"] == 2
    report = mailbox_reports(desk.runtime.session_factory)[0]
    assert report.status == "ok" and "MOVE to Nowhere refused" in (report.alert or "")
    assert "stay where they are" in (report.alert or "")
    assert server.uids("INBOX") == [1, 2]

    plain = MemoryImapServer(user=USER, password=PASSWORD, folders=("INBOX", "Done"), capabilities=("IMAP4REV1",))
    plain.append_many("INBOX", messages("plain", 1))
    worker = desk.new_worker("plain", plain, mailbox(after_ingest="move", move_to="Done"))
    try:
        assert worker.sync_once().ok
    finally:
        worker.close()
    report = next(r for r in mailbox_reports(desk.runtime.session_factory) if r.name == "plain")
    assert "does not support MOVE" in (report.alert or "")
    assert plain.uids("INBOX") == [1]


def test_since_limits_only_the_first_sync(make_desk: Any, server: MemoryImapServer) -> None:
    old = datetime(2020, 5, 1, 12, 0, tzinfo=timezone.utc)
    server.append_many("INBOX", messages("old", 2), internaldate=old)
    server.append_many("INBOX", messages("recent", 2))
    desk = make_desk(since=date(2024, 1, 1))
    assert desk.sync_ok()["stored"] == 2
    # Mail moved in later keeps its old arrival date, and is still new to us.
    server.append("INBOX", messages("late", 1)[0], internaldate=old)
    assert desk.sync_ok()["stored"] == 1


# -- IDLE -----------------------------------------------------------------------------------------------


def test_idle_watcher_wakes_the_sync_on_new_mail_and_after_a_reconnect(server: MemoryImapServer) -> None:
    woken = threading.Semaphore(0)
    stop = threading.Event()
    watcher = IdleWatcher("desk", mailbox(), "INBOX", AccountSlots(2), woken.release, stop,
                          connect=server.connect)
    watcher.start()
    try:
        assert watcher.idling.wait(10)
        server.append("INBOX", messages("push", 1)[0])
        assert woken.acquire(timeout=10), "new mail was not announced"
        server.disconnect_all()  # the server restarts: the watcher reconnects and wakes the job once
        assert woken.acquire(timeout=10), "no catch-up wake-up after the reconnect"
        assert watcher.idling.wait(10)
        assert server.logins == 2
    finally:
        stop.set()
        watcher.join(10)
    assert not server.open_connections
