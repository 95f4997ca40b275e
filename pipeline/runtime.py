"""The one place where a process turns settings into live objects: logging, engine, sessions."""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from pipeline.config import IngestSettings, LoggingSettings, Settings
from pipeline.mail.parse import ParseLimits
from pipeline.store.db import create_db_engine, ensure_schema, make_session_factory


@dataclass
class Runtime:
    """Live objects for one process; ``close()`` releases them."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]

    def close(self) -> None:
        """Dispose of the engine's connections."""
        self.engine.dispose()

    @property
    def parse_limits(self) -> ParseLimits:
        """Parsing limits from the ingest settings."""
        return parse_limits_for(self.settings.ingest)


def parse_limits_for(ingest: IngestSettings) -> ParseLimits:
    """Parsing limits from the ingest settings (also for commands that open no database)."""
    return ParseLimits(
        max_message_bytes=ingest.max_message_bytes,
        max_attachment_bytes=ingest.max_attachment_bytes,
        max_text_chars=ingest.max_text_chars,
    )


def open_runtime(settings: Settings, *, migrate: bool = True) -> Runtime:
    """Connect to the configured database, migrating an empty or older one to the newest schema."""
    engine = create_db_engine(settings.database)
    try:
        if migrate:
            ensure_schema(engine)
    except Exception:
        engine.dispose()
        raise
    return Runtime(settings=settings, engine=engine, session_factory=make_session_factory(engine))


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
