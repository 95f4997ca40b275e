"""Engines, sessions and schema migrations: made once at start-up, never at import time."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from pipeline.config import DatabaseSettings
from pipeline.errors import StorageError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
WRITE_OPTION = "triage_writer"  # execution option: this transaction will write (BEGIN IMMEDIATE on SQLite)
_MIGRATION_LOCK_ID = 7_420_001  # PostgreSQL advisory lock: one node migrates at a time


def describe_db_error(exc: BaseException) -> str:
    """A one-line, human explanation of a database failure."""
    original = getattr(exc, "orig", None) or exc
    message = " ".join(str(original).split())[:300]
    lowered = message.lower()
    if "database is locked" in lowered or "database table is locked" in lowered:
        return f"the database is locked by another process and stayed locked past the busy timeout ({message})"
    if "database or disk is full" in lowered or "no space left" in lowered or "disk full" in lowered:
        return f"the database or its disk is full ({message})"
    if "unable to open database" in lowered:
        return f"cannot open the database file ({message})"
    if "connection refused" in lowered or "could not connect" in lowered or "connection failed" in lowered:
        return f"cannot connect to the database server ({message})"
    return message


def create_db_engine(settings: DatabaseSettings) -> Engine:
    """An engine for the configured URL; SQLite gets WAL, a busy timeout and enforced foreign keys."""
    try:
        url = make_url(settings.url)
    except ArgumentError as exc:
        raise StorageError(f"database.url is not a valid SQLAlchemy URL: {settings.url!r}") from exc
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    kwargs: dict[str, Any] = {"echo": settings.echo, "future": True}
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": settings.busy_timeout_seconds, "check_same_thread": False}
    else:
        kwargs["pool_size"] = settings.pool_size
        kwargs["pool_pre_ping"] = True
    try:
        engine = create_engine(url, **kwargs)
    except (ArgumentError, ImportError) as exc:
        raise StorageError(f"cannot use database URL {url.render_as_string(hide_password=True)}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine, settings.busy_timeout_seconds)
    return engine


def _configure_sqlite(engine: Engine, busy_timeout: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin
        # (the module's own handling breaks SAVEPOINT and BEGIN IMMEDIATE).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Writers take the write lock up front: two deferred transactions that both
        # read and then write would deadlock, and SQLite fails one at once.
        if connection.get_execution_options().get(WRITE_OPTION):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """The one session factory of a process, bound to its engine."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session in one writing transaction: committed at the end, rolled back on any error."""
    session = factory()
    try:
        with session.begin():
            session.connection(execution_options={WRITE_OPTION: True})
            yield session
    except OperationalError as exc:
        raise StorageError(describe_db_error(exc)) from exc
    finally:
        session.close()


def _alembic_config(engine: Engine) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    """The newest migration the code knows."""
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at, or None for an empty database."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade_database(engine: Engine, revision: str = "head") -> str | None:
    """Apply migrations up to ``revision``; return the revision the database ends at."""
    try:
        if engine.dialect.name == "postgresql":
            with engine.connect() as lock_connection:
                lock_connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
                try:
                    command.upgrade(_alembic_config(engine), revision)
                finally:
                    lock_connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _MIGRATION_LOCK_ID})
                    lock_connection.commit()
        else:
            command.upgrade(_alembic_config(engine), revision)
        return current_revision(engine)
    except (DBAPIError, SQLAlchemyError) as exc:
        raise StorageError(f"cannot migrate the database: {describe_db_error(exc)}") from exc


def ensure_schema(engine: Engine) -> None:
    """Bring the database to the newest schema when it is behind (a no-op when current)."""
    try:
        current = current_revision(engine)
    except (DBAPIError, SQLAlchemyError) as exc:
        raise StorageError(describe_db_error(exc)) from exc
    if current != head_revision():
        log.info("migrating database from %s to %s", current or "empty", head_revision())
        upgrade_database(engine)
