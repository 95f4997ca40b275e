"""JSON log lines about one message carry its mailbox, folder, UID and Message-ID as fields."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from pipeline.config import LoggingSettings
from pipeline.ingest import Ingestor
from pipeline.logs import configure_logging
from pipeline.runtime import Runtime
from pipeline.sources.base import Origin, SourceItem
from tests.support.mail import make_message


@pytest.fixture
def json_lines(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """Everything logged while the test runs, as the daemon writes it with ``logging.format = "json"``."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    configure_logging(LoggingSettings(level="DEBUG", format="json"))
    try:
        yield stream
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


def imap_item(raw: bytes, uid: int) -> SourceItem:
    origin = Origin(kind="imap", source=f"imap://desk/INBOX;UIDVALIDITY=7/;UID={uid}", mailbox="desk",
                    folder="INBOX", uidvalidity=7, uid=uid)
    return SourceItem(origin, raw)


def test_stored_and_quarantined_messages_are_logged_with_their_place_and_id(runtime: Runtime,
                                                                             json_lines: io.StringIO) -> None:
    good = make_message(message_id="<logged.1@example.com>")
    Ingestor(runtime.session_factory).ingest([imap_item(good, 41), imap_item(b"\x89PNG\r\n\x1a\n\x00binary", 42)])
    lines = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    about = {line.get("uid"): line for line in lines if "uid" in line}
    stored, quarantined = about[41], about[42]
    assert stored["level"] == "DEBUG" and "stored" in stored["message"]
    assert (stored["mailbox"], stored["folder"], stored["uidvalidity"]) == ("desk", "INBOX", 7)
    assert stored["message_id"] == "logged.1@example.com" and isinstance(stored["inquiry_id"], int)
    assert quarantined["level"] == "WARNING" and "unreadable_bytes" in quarantined["message"]
    assert (quarantined["mailbox"], quarantined["folder"]) == ("desk", "INBOX")
    assert "message_id" not in quarantined  # nothing could be parsed: no Message-ID to tell


def test_log_lines_about_no_message_have_no_message_fields(json_lines: io.StringIO) -> None:
    logging.getLogger("triage.test").warning("a round ended")
    line = json.loads(json_lines.getvalue().splitlines()[-1])
    assert line == {"level": "WARNING", "logger": "triage.test", "message": "a round ended"}
