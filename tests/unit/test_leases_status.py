"""Pure parts of leases and status: which holders are stale, the either-event, the status exit code."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

from pipeline.leases import AnyEvent, new_holder_id, stale_local_holders
from pipeline.mailbox_status import is_healthy, status_exit_code, status_json
from pipeline.store.sync_state import MailboxReport


def report(name: str, status: str = "ok", alert: str | None = None) -> MailboxReport:
    return MailboxReport(name, "imap.example.org", "desk", status, None, None, None, alert, ())


def test_status_fails_on_an_error_or_an_alert_of_a_configured_mailbox_only() -> None:
    assert is_healthy(report("a")) and is_healthy(report("a", "unknown"))
    assert not is_healthy(report("a", "error")) and not is_healthy(report("a", "auth_failed"))
    assert not is_healthy(report("a", "ok", alert="token expires in 5 min"))
    assert status_exit_code([report("a"), report("b", "unknown")], ["a", "b"]) == 0
    assert status_exit_code([report("a"), report("b", "error")], ["a", "b"]) == 1
    assert status_exit_code([report("a"), report("b", alert="login refused")], ["a", "b"]) == 1
    assert status_exit_code([report("a"), report("gone", "error")], ["a"]) == 0  # no longer configured
    assert status_exit_code([], ["a"]) == 0  # configured, never synced yet


def test_status_json_keeps_its_keys_and_adds_ok_last() -> None:
    from datetime import datetime, timezone

    (entry,) = status_json([report("a", "error")], datetime.now(timezone.utc))
    assert list(entry) == ["name", "host", "user", "status", "alert", "last_sync_at", "last_success_at",
                           "lag_seconds", "last_error", "folders", "ok"]
    assert entry["ok"] is False


def test_holder_ids_name_host_and_process_and_differ_each_time() -> None:
    first, second = new_holder_id(), new_holder_id()
    host, pid, _ = first.split(":")
    assert pid == str(os.getpid()) and host and first != second


def test_stale_holders_are_those_of_this_host_whose_process_is_gone() -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(gone.stdout)
    own = "host:1:me"
    holders = {own, f"host:{dead_pid}:old", f"host:{os.getppid()}:alive", f"host:{os.getpid()}:earlier-self",
               "host:notapid:x", "malformed"}
    assert stale_local_holders(holders, own) == {f"host:{dead_pid}:old", f"host:{os.getpid()}:earlier-self"}


def test_any_event_is_set_when_one_of_its_events_is() -> None:
    stop, lost = threading.Event(), threading.Event()
    either = AnyEvent(stop, lost)
    assert not either.is_set()
    lost.set()
    assert either.is_set()
    lost.clear()
    either.set()
    assert either.is_set()
