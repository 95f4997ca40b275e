"""The daemon runs the reply round on its own schedule, and a failing round never stops it."""

from __future__ import annotations

import threading
from pathlib import Path

from pipeline.config import DatabaseSettings, RepliesSettings, Settings
from pipeline.daemon import Daemon
from pipeline.handoff import leave_new
from pipeline.runtime import open_runtime


def test_reply_rounds_run_and_survive_failures(tmp_path: Path) -> None:
    settings = Settings(database=DatabaseSettings(url=f"sqlite:///{tmp_path / 't.db'}"),
                        replies=RepliesSettings(interval_seconds=1))
    runtime = open_runtime(settings)
    calls: list[int] = []
    twice = threading.Event()

    def flaky_round() -> None:
        calls.append(1)
        if len(calls) >= 2:
            twice.set()
        if len(calls) == 1:
            raise RuntimeError("SMTP server down")

    daemon = Daemon(runtime, {}, sink=leave_new, reply_round=flaky_round)
    daemon.start()
    try:
        assert twice.wait(10), "the reply round did not run again after a failure"
    finally:
        daemon.shutdown()
        runtime.close()
