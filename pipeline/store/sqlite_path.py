"""Where a SQLite database may be created, so that a mistyped path is refused instead of becoming a new empty database."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from pipeline.config import DatabaseSettings
from pipeline.errors import StorageError

_SQLITE_MAGIC = b"SQLite format 3\x00"
_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")


def sqlite_file_of(url_text: str) -> Path | None:
    """The file of a SQLite database URL; None for other databases, URI file names and ``:memory:``."""
    try:
        url = make_url(url_text)
    except ArgumentError:
        return None
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser()


def _sqlite_databases_in(folder: Path) -> list[str]:
    found = []
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return []
    for entry in entries:
        if entry.suffix.lower() in _SQLITE_SUFFIXES and entry.is_file():
            try:
                with entry.open("rb") as handle:
                    if handle.read(16) == _SQLITE_MAGIC:
                        found.append(entry.name)
            except OSError:
                continue
    return found


def check_sqlite_location(settings: DatabaseSettings, *, create: bool = False) -> Path | None:
    """Refuse a SQLite database path that looks mistyped; return the file when a new database will be made there.

    The rule: an existing file is used. ``create`` (``triage db upgrade``) makes a new database
    anywhere, folders included. Otherwise a new database is made only in a folder that exists and
    holds no other SQLite database (a new name beside one is taken for a typo), except at the
    built-in default location, whose folder is made on first use. A URL without a file
    (``sqlite://``) would keep nothing and is refused unless it says ``:memory:`` outright.
    Raises ``StorageError`` saying what to do.
    """
    try:
        url = make_url(settings.url)
    except ArgumentError:
        return None  # create_db_engine says what is wrong with it
    if url.get_backend_name() != "sqlite":
        return None
    shown = url.render_as_string(hide_password=True)
    if not url.database:
        raise StorageError(f"database.url {shown} names no file: an in-memory database keeps nothing after the "
                           "command; give a file (sqlite:///var/triage.db) or say sqlite:///:memory:")
    path = sqlite_file_of(settings.url)
    if path is None:
        return None
    if path.is_dir():
        raise StorageError(f"database.url {shown}: {path} is a folder, not a database file")
    if path.exists():
        return None
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path
    to_create = "or run `triage db upgrade` to create a new database there"
    if settings.url == DatabaseSettings().url:
        path.parent.mkdir(parents=True, exist_ok=True)
    elif not path.parent.is_dir():
        raise StorageError(f"there is no database at {path}: its folder {path.parent} does not exist "
                           f"(database.url {shown}); check the path, {to_create}")
    others = [name for name in _sqlite_databases_in(path.parent) if name != path.name]
    if others:
        raise StorageError(f"there is no database at {path}, but {path.parent} holds {', '.join(others[:3])} "
                           f"(database.url {shown}); check the path, {to_create}")
    return path
