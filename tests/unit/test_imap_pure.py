"""The pure parts of IMAP sync: backoff, batching, error translation, tokens, plans, status, settings."""

from __future__ import annotations

import imaplib
import threading
import shlex
import socket
import ssl
import sys
from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest
from imapclient import exceptions as imap_exc

from pipeline.background_sink import BackgroundSink
from pipeline.backoff import Backoff
from pipeline.config import MailboxSettings, load_settings
from pipeline.daemon import idle_plan
from pipeline.errors import ConfigError, ImapAuthError, ImapError, ImapFolderError, ImapMessageError
from pipeline.mailbox_status import status_lines
from pipeline.rwlock import SharedExclusiveLock
from pipeline.sources.imap import imap_source, translate_error
from pipeline.sources.oauth2 import AccessToken, parse_token_output, run_token_command
from pipeline.store.sync_state import FolderReport, MailboxReport
from pipeline.sync import FetchFailures, plan_batches
from pipeline.handoff import leave_new
from pipeline.worker import AccountSlots, MailboxWorker, SyncResult, account_slots

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)


def box(**values: object) -> MailboxSettings:
    return MailboxSettings(**{"host": "imap.example.org", "user": "desk", **values})  # type: ignore[arg-type]


# -- backoff ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("draw", [0.0, 0.5, 1.0])
def test_backoff_doubles_with_jitter_up_to_the_cap(draw: float) -> None:
    backoff = Backoff(initial=1.0, maximum=8.0, rng=lambda: draw)
    delays = [backoff.next_delay() for _ in range(6)]
    ceilings = [1, 2, 4, 8, 8, 8]
    assert delays == [c / 2 + draw * c / 2 for c in ceilings]
    backoff.reset()
    assert backoff.next_delay() == 0.5 + draw * 0.5


def test_backoff_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        Backoff(initial=0)
    with pytest.raises(ValueError):
        Backoff(initial=5, maximum=1)


# -- batches and failures ---------------------------------------------------------------------------------------

def test_batches_are_bounded_by_count_and_bytes_and_keep_order() -> None:
    sizes = [(1, 10), (2, 10), (3, 10), (5, 10), (8, 10)]
    assert plan_batches(sizes, max_count=2, max_bytes=1000) == [[1, 2], [3, 5], [8]]
    assert plan_batches(sizes, max_count=10, max_bytes=25) == [[1, 2], [3, 5], [8]]
    assert plan_batches([(1, 5), (2, 500), (3, 5)], max_count=10, max_bytes=100) == [[1], [2], [3]]
    assert plan_batches([], max_count=10, max_bytes=100) == []


def test_fetch_failures_single_out_and_then_give_up() -> None:
    failures = FetchFailures(give_up_after=2)
    failures.note("INBOX", 7, [4, 5, 6])
    assert failures.is_suspect("INBOX", 7, 5) and not failures.is_suspect("INBOX", 8, 5)
    assert not failures.given_up("INBOX", 7, 5)
    failures.forget("INBOX", 7, [4])
    failures.note("INBOX", 7, [5])
    assert not failures.given_up("INBOX", 7, 5)
    failures.note("INBOX", 7, [5])
    assert failures.given_up("INBOX", 7, 5) == 2
    failures.forget("INBOX", 7, [5, 6])
    assert not failures.is_suspect("INBOX", 7, 5) and not failures.given_up("INBOX", 7, 5)


def test_imap_source_names_one_message_on_one_server() -> None:
    assert imap_source("desk", "INBOX", 17, 42) == "imap://desk/INBOX;UIDVALIDITY=17/;UID=42"
    assert imap_source("desk", "Cases 2026/Été", 1, 2) == "imap://desk/Cases%202026/%C3%89t%C3%A9;UIDVALIDITY=1/;UID=2"


# -- errors -------------------------------------------------------------------------------------------------------

def translate(exc: BaseException, operation: str = "FETCH", **where: object) -> ImapError:
    return translate_error(exc, mailbox="desk", host="imap.example.org", port=993, timeout=30,
                           operation=operation, user="helpdesk", **where)  # type: ignore[arg-type]


def test_imap_error_says_where_in_one_line() -> None:
    error = ImapError("something\n  broke", mailbox="desk", folder="INBOX", uid=7)
    assert str(error) == "mailbox desk, folder INBOX, UID 7: something broke"
    assert str(ImapError("plain")) == "plain"


def test_library_and_network_errors_become_clear_project_errors() -> None:
    auth = translate(imap_exc.LoginError("b'[AUTHENTICATIONFAILED] Authentication failed.'"), "login")
    assert isinstance(auth, ImapAuthError)
    assert str(auth) == ("mailbox desk: authentication failed for user 'helpdesk' at imap.example.org:993: "
                         "[AUTHENTICATIONFAILED] Authentication failed.")
    cert = ssl.SSLCertVerificationError(1, "certificate verify failed")
    cert.verify_message = "self-signed certificate"
    assert "does not verify (self-signed certificate)" in str(translate(cert, "connect"))
    assert str(translate(socket.timeout("timed out"), "FETCH BODY.PEEK[] of UIDs 1-5", folder="INBOX")) == (
        "mailbox desk, folder INBOX: no answer from imap.example.org:993 within 30 s during FETCH BODY.PEEK[] "
        "of UIDs 1-5")
    assert str(translate(ConnectionRefusedError(111, "Connection refused"))) == (
        "mailbox desk: connection refused by imap.example.org:993")
    assert "cannot resolve host" in str(translate(socket.gaierror(-2, "Name or service not known")))
    lost = translate(imaplib.IMAP4.abort("socket error: EOF"), "NOOP")
    assert type(lost) is ImapError and "lost during NOOP" in str(lost)
    missing = translate(imaplib.IMAP4.error("select failed: Mailbox doesn't exist: Gone (0.001 + 0.000 secs)."),
                        "SELECT", folder="Gone")
    assert isinstance(missing, ImapFolderError)
    assert str(missing) == "mailbox desk, folder Gone: the folder does not exist on the server (any more)"
    refused = translate(imaplib.IMAP4.error("MOVE failed: [TRYCREATE] Mailbox doesn't exist: Done (0.001 + 0.000 "
                                            "secs)."), "MOVE to Done", folder="INBOX")
    assert isinstance(refused, ImapMessageError) and "secs" not in str(refused)


# -- tokens -------------------------------------------------------------------------------------------------------

def test_token_output_bare_or_json_with_expiry() -> None:
    assert parse_token_output("abc.def\n", NOW) == AccessToken("abc.def")
    token = parse_token_output('{"access_token": "xyz", "expires_in": 3600}', NOW)
    assert token.value == "xyz" and token.expires_at == NOW + timedelta(hours=1)
    assert parse_token_output('{"access_token": "x", "expires_at": 1800000000}', NOW).expires_at == \
        datetime.fromtimestamp(1800000000, timezone.utc)
    assert parse_token_output('{"access_token": "x", "expires_on": "2026-11-23T10:00:00Z"}', NOW).expires_at == \
        NOW + timedelta(hours=1)
    assert "xyz" not in repr(token)
    for bad in ("", "   \n", '{"token_type": "Bearer"}', "{not json"):
        with pytest.raises(ImapAuthError):
            parse_token_output(bad, NOW)


def test_token_expiry_warnings() -> None:
    assert AccessToken("t").expiry_warning(NOW) is None
    assert AccessToken("t", NOW + timedelta(hours=1)).expiry_warning(NOW) is None
    assert "expires in 60 s" in (AccessToken("t", NOW + timedelta(seconds=60)).expiry_warning(NOW) or "")
    assert "expired at" in (AccessToken("t", NOW - timedelta(seconds=1)).expiry_warning(NOW) or "")


def test_token_command_runs_without_a_shell_and_fails_clearly() -> None:
    python = shlex.quote(sys.executable)
    assert run_token_command(f"{python} -c 'print(\"tok\")'", timeout=10).value == "tok"
    with pytest.raises(ImapAuthError, match="exit status 4: nope"):
        run_token_command(f"{python} -c 'import sys; sys.stderr.write(\"nope\"); sys.exit(4)'", timeout=10)
    with pytest.raises(ImapAuthError, match="not found"):
        run_token_command("/nonexistent/token-helper", timeout=10)
    with pytest.raises(ImapAuthError, match="within 0.2 s"):
        run_token_command(f"{python} -c 'import time; time.sleep(5)'", timeout=0.2)


# -- plans --------------------------------------------------------------------------------------------------------

def test_idle_plan_leaves_one_connection_per_mailbox_for_sync() -> None:
    assert idle_plan({"a": box(folders=("INBOX", "Cases"))}) == {"a": ["INBOX"]}
    assert idle_plan({"a": box(folders=("INBOX", "Cases"), max_connections=3)}) == {"a": ["INBOX", "Cases"]}
    assert idle_plan({"a": box(max_connections=1)}) == {"a": []}
    assert idle_plan({"a": box(idle=False)}) == {"a": []}
    shared = {"a": box(folders=("INBOX", "X")), "b": box(folders=("Cases",), max_connections=4)}
    assert idle_plan(shared) == {"a": [], "b": []}  # the account's limit is the smallest: 2, both for sync
    shared = {"a": box(folders=("INBOX", "X"), max_connections=4), "b": box(folders=("Cases",), max_connections=4)}
    assert idle_plan(shared) == {"a": ["INBOX"], "b": ["Cases"]}


def test_mailboxes_of_one_account_share_its_connections() -> None:
    slots = account_slots({"a": box(), "b": box(user="DESK", max_connections=5), "c": box(user="other")})
    assert slots["a"] is slots["b"] and slots["a"].limit == 2 and slots["c"] is not slots["a"]


# -- the scheduled job ----------------------------------------------------------------------------------------------

class ScriptedWorker(MailboxWorker):
    """The job control of a real MailboxWorker; only the sync itself is scripted (no server, no database)."""

    def __init__(self, outcomes: list[bool]) -> None:
        runtime = SimpleNamespace(session_factory=None, parse_limits=None)
        super().__init__("desk", box(), runtime, AccountSlots(1), sink=leave_new)  # type: ignore[arg-type]
        self.outcomes = outcomes
        self.runs = 0
        self.scheduled: list[float] = []
        self.schedule_in = self.scheduled.append
        self.backoff = Backoff(rng=lambda: 1.0)

    def sync_once(self) -> SyncResult:
        self.runs += 1
        if self.runs == 1:
            self.wake()  # new mail announced during the first run
        if self.outcomes.pop(0):
            return SyncResult("desk")
        return SyncResult("desk", errors=[ImapError("down", mailbox="desk")])


def test_a_wake_up_during_a_run_runs_once_more_and_failures_reschedule() -> None:
    worker = ScriptedWorker([True, True])
    worker.run_job()
    assert worker.runs == 2 and worker.scheduled == []

    worker = ScriptedWorker([True, False])
    worker.run_job()
    assert worker.runs == 2 and worker.scheduled == [1.0]
    worker.wake()  # backing off: not now
    assert worker.scheduled == [1.0]

    worker = ScriptedWorker([True])
    worker.wake()  # idle: run now
    assert worker.scheduled == [0.0]


# -- status -------------------------------------------------------------------------------------------------------

def test_status_lines_show_health_lag_errors_and_alerts() -> None:
    folder = FolderReport("INBOX", 17, 42, NOW, NOW - timedelta(seconds=30), None)
    reports = [
        MailboxReport("desk", "imap.example.org", "desk", "ok", NOW - timedelta(seconds=5), NOW - timedelta(seconds=5),
                      None, None, (folder,)),
        MailboxReport("sales", "imap.example.org", "sales", "auth_failed", NOW, NOW - timedelta(hours=3),
                      "mailbox sales: authentication failed", "mailbox sales: authentication failed", ()),
        MailboxReport("old", "h", "u", "ok", None, None, None, None, ()),
    ]
    text = "\n".join(status_lines(reports, ["desk", "sales", "new"], NOW))
    assert "desk: ok  desk@imap.example.org" in text and "(lag 5 s)" in text
    assert "folder INBOX: UIDVALIDITY 17, last UID 42" in text
    assert "sales: auth_failed" in text and "ALERT         mailbox sales: authentication failed" in text
    assert "(3.0 h ago)" in text
    assert "new: never synced" in text and "old: ok  u@h  (no longer configured)" in text


# -- settings -------------------------------------------------------------------------------------------------------

def test_since_is_a_date_from_toml_or_environment(tmp_path: Path) -> None:
    path = tmp_path / "triage.toml"
    path.write_text('[mailboxes.desk]\nhost = "h"\nuser = "u"\nsince = 2024-01-31\n', encoding="utf-8")
    assert load_settings(path, env={}).settings.mailboxes["desk"].since == date(2024, 1, 31)
    env = {"TRIAGE_MAILBOXES__DESK__SINCE": "2023-06-01"}
    assert load_settings(path, env=env).settings.mailboxes["desk"].since == date(2023, 6, 1)
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={"TRIAGE_MAILBOXES__DESK__SINCE": "last year"})
    assert [key for key, _ in info.value.problems] == ["mailboxes.desk.since"]


def test_environment_names_match_file_mailboxes_whatever_their_case(tmp_path: Path) -> None:
    path = tmp_path / "triage.toml"
    path.write_text('[mailboxes.Desk]\nhost = "h"\nuser = "u"\n', encoding="utf-8")
    settings = load_settings(path, env={"TRIAGE_MAILBOXES__DESK__PASSWORD": "pw",
                                        "TRIAGE_MAILBOXES__DESK__FOLDERS": "INBOX,Cases"}).settings
    assert list(settings.mailboxes) == ["Desk"]
    assert settings.mailboxes["Desk"].resolve_password() == "pw"
    assert settings.mailboxes["Desk"].folders == ("INBOX", "Cases")


def test_move_to_must_be_outside_the_watched_folders() -> None:
    with pytest.raises(ValueError, match="move_to must not be one of the watched folders"):
        box(folders=("INBOX", "Done"), after_ingest="move", move_to="Done")
    assert box(after_ingest="move", move_to="Done").move_to == "Done"


# -- triage off the sync thread -------------------------------------------------------------------------------------

def test_background_sink_hands_ids_over_in_order_and_survives_a_failing_sink(
        caplog: pytest.LogCaptureFixture) -> None:
    seen: list[list[int]] = []

    def inner(ids: Sequence[int]) -> None:
        if 13 in ids:
            raise RuntimeError("model broken")
        seen.append(list(ids))

    sink = BackgroundSink(inner)
    for ids in ([1, 2], [], [13], [3]):
        sink(ids)
    assert sink.close(timeout=5)
    assert seen == [[1, 2], [3]]
    assert "they stay new" in caplog.text


def test_background_sink_close_gives_up_after_its_timeout() -> None:
    release = threading.Event()
    sink = BackgroundSink(lambda ids: release.wait(5))
    sink([1])
    assert not sink.close(timeout=0.1)
    release.set()


def test_shared_exclusive_lock_lets_exclusive_run_only_in_the_gaps() -> None:
    lock = SharedExclusiveLock()
    events: list[str] = []
    inside = threading.Event()
    leave = threading.Event()

    def sync() -> None:
        with lock.shared():
            events.append("sync in")
            inside.set()
            leave.wait(5)
            events.append("sync out")

    thread = threading.Thread(target=sync)
    thread.start()
    inside.wait(5)
    with lock.shared():  # more shared holders are welcome meanwhile
        events.append("second sync")
    sink = BackgroundSink(lambda ids: events.append(f"triage {list(ids)}"), guard=lock, chunk=2)
    sink([1, 2, 3])
    time_limit = threading.Timer(0.2, leave.set)
    time_limit.start()
    assert sink.close(timeout=5)
    thread.join(5)
    assert events == ["sync in", "second sync", "sync out", "triage [1, 2]", "triage [3]"]
