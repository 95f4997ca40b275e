"""The one place where a process turns settings into live objects: engine and sessions.

``configure_logging`` and ``parse_limits_for`` are re-exported for the commands that open a runtime.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from pipeline.config import Settings
from pipeline.logs import configure_logging
from pipeline.mail.parse import ParseLimits, parse_limits_for
from pipeline.store.db import create_db_engine, ensure_schema, make_session_factory

__all__ = ["Runtime", "configure_logging", "open_runtime", "parse_limits_for"]


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
