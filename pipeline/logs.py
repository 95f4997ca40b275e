"""Logging for every process: text or JSON lines on standard error."""

from __future__ import annotations

import json
import logging
import sys

from pipeline.config import LoggingSettings


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"level": record.levelname, "logger": record.name, "message": record.getMessage()}
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
