"""Logging for every process: text or JSON lines on standard error."""

from __future__ import annotations

import json
import logging
import sys

from typing import Any

from pipeline.config import LoggingSettings
from pipeline.sources.base import Origin

# What a log line about one message says of it, as JSON fields (passed as ``extra``; see ``about_message``).
MESSAGE_FIELDS = ("mailbox", "folder", "uidvalidity", "uid", "message_id", "source", "inquiry_id")


def about_message(origin: Origin | None = None, *, source: str | None = None, message_id: str | None = None,
                  inquiry_id: int | None = None) -> dict[str, Any]:
    """The ``extra`` of a log line about one message: where it was seen, its Message-ID, its inquiry."""
    fields: dict[str, Any] = {"source": source, "message_id": message_id, "inquiry_id": inquiry_id}
    if origin is not None:
        fields.update(source=origin.source, mailbox=origin.mailbox, folder=origin.folder,
                      uidvalidity=origin.uidvalidity, uid=origin.uid)
    return {name: value for name, value in fields.items() if value is not None}


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {"level": record.levelname, "logger": record.name, "message": record.getMessage()}
        for name in MESSAGE_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(settings: LoggingSettings, level_override: str | None = None) -> None:
    """Log to standard error at the configured level, as text or JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    if settings.format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level_override or settings.level)
    for noisy in ("alembic", "imapclient", "apscheduler"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
