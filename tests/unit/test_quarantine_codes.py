"""Quarantine reason codes, the migration's mapping of the old text reasons, and database errors translated."""

from __future__ import annotations

import importlib.util
import sqlite3
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy.exc import (
    DataError,
    IntegrityError,
    InterfaceError,
    InternalError,
    OperationalError,
    ProgrammingError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from pipeline.errors import (
    DatabaseUnavailableError,
    ParseError,
    StorageConflictError,
    StorageError,
    StorageRefusedError,
)
from pipeline.mail import ParseLimits, parse_message
from pipeline.quarantine import QuarantineReason
from pipeline.store.db import MIGRATIONS_DIR, translate_db_error
from tests.support.mail import make_message


def _migration() -> ModuleType:
    path = MIGRATIONS_DIR / "versions" / "0005_quarantine_reason_codes.py"
    spec = importlib.util.spec_from_file_location("migration_0005", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_code_has_its_own_description() -> None:
    descriptions = [code.description for code in QuarantineReason]
    assert all(text.strip() and text.endswith(".") for text in descriptions)
    assert len(set(descriptions)) == len(descriptions)
    assert all(code.value == code.value.lower() and " " not in code.value for code in QuarantineReason)


def test_migration_only_writes_codes_the_code_knows() -> None:
    assert _migration().CODES <= {code.value for code in QuarantineReason}


@pytest.mark.parametrize(
    "reason, error, code",
    [
        ("empty message", "empty message: the file holds no bytes", "empty"),
        ("not an email message", "not an email message: binary data, no header block", "unreadable_bytes"),
        ("not an email message", "not an email message: binary data (NUL bytes) in the header block",
         "unreadable_bytes"),
        ("not an email message", "not an email message: the first line is not a header (Name: value)", "not_email"),
        ("message too large", "message too large: 5120 bytes, the limit is 2048", "too_large"),
        ("message nested too deeply to parse", "message nested too deeply to parse", "too_deeply_nested"),
        ("cannot parse message", "cannot parse message: HeaderParseError: bad", "unparseable_mime"),
        ("storage refused", "storage refused: DataError: value too long", "storage_failed"),
        ("imap fetch failed", "mailbox desk, folder INBOX, UID 2: cannot fetch the message: fetching this message "
         "broke the connection 3 times; given up; quarantined without bytes", "fetch_breaks_connection"),
        ("imap fetch failed", "mailbox desk, folder INBOX, UID 2: cannot fetch the message: the server sent no body "
         "for the message; quarantined without bytes", "fetch_no_body"),
        ("imap fetch failed", "mailbox desk, folder INBOX, UID 2: cannot fetch the message: NO [SERVERBUG] "
         "Internal error; quarantined without bytes", "fetch_refused"),
        ("  Not an  Email message ", "", "not_email"),
        ("something nobody wrote", "whatever", "unknown"),
        ("", "", "unknown"),
        ("too_large", "message too large: 1 bytes", "too_large"),  # already a code: kept
    ],
)
def test_migration_maps_old_text_reasons_to_codes(reason: str, error: str, code: str) -> None:
    assert _migration().code_for(reason, error) == code


@pytest.mark.parametrize("raw, limits", [
    (b"", None),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", None),
    (b"\x00\x00\x00\x00From: a\x00\x00\n\n", None),
    (b"Just some text without headers.\n", None),
    (b"X-Random: 1\n\nno known header\n", None),
    (make_message("x" * 5000), ParseLimits(max_message_bytes=2048)),
])
def test_old_reason_of_each_parse_error_maps_to_the_code_it_now_carries(raw: bytes, limits: ParseLimits | None) -> None:
    with pytest.raises(ParseError) as raised:
        parse_message(raw, limits)
    old_reason = str(raised.value).split(":", 1)[0]  # how reasons were stored before codes
    assert _migration().code_for(old_reason, str(raised.value)) == raised.value.code


def _wrapped(cls: type, orig: Exception) -> Exception:
    return cls("INSERT INTO messages ...", {}, orig)


class _PgError(Exception):
    """A driver error that carries a SQLSTATE, as psycopg's do."""

    def __init__(self, message: str, sqlstate: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    "exc, kind, words",
    [
        (_wrapped(IntegrityError, sqlite3.IntegrityError("UNIQUE constraint failed: messages.fingerprint")),
         StorageConflictError, "conflicts with stored data"),
        (_wrapped(OperationalError, _PgError("could not serialize access", "40001")), StorageConflictError,
         "could not serialize"),
        (_wrapped(OperationalError, _PgError("deadlock detected", "40P01")), StorageConflictError, "deadlock"),
        (_wrapped(DataError, sqlite3.DataError("string or blob too big")), StorageRefusedError, "refused a value"),
        (_wrapped(OperationalError, sqlite3.OperationalError("database is locked")), DatabaseUnavailableError,
         "locked by another process"),
        (_wrapped(OperationalError, sqlite3.OperationalError("database or disk is full")), DatabaseUnavailableError,
         "full"),
        (_wrapped(OperationalError, _PgError("connection failed: Connection refused", "08001")),
         DatabaseUnavailableError, "cannot connect to the database server"),
        (_wrapped(InterfaceError, sqlite3.InterfaceError("connection closed")), DatabaseUnavailableError,
         "connection closed"),
        (PoolTimeoutError("QueuePool limit of size 5 overflow 10 reached"), DatabaseUnavailableError, "QueuePool"),
        (_wrapped(ProgrammingError, sqlite3.ProgrammingError("no such table: messages")), StorageError,
         "failed the operation: no such table"),
        (_wrapped(InternalError, _PgError("audit_log is append-only", "P0001")), StorageError, "append-only"),
    ],
)
def test_database_errors_are_translated_into_the_storage_errors(exc: Exception, kind: type, words: str) -> None:
    translated = translate_db_error(exc)
    assert type(translated) is kind
    assert words in str(translated) and "\n" not in str(translated)
    assert translated.code is QuarantineReason.STORAGE_FAILED and not isinstance(translated, ParseError)


def test_a_storage_error_passes_through_translation_unchanged() -> None:
    error = StorageConflictError("already one of ours")
    assert translate_db_error(error) is error


def test_reading_a_database_that_cannot_be_opened_is_a_clear_storage_error(tmp_path: Path) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.orm import sessionmaker

    from pipeline.store.db import read_session

    engine = create_engine(f"sqlite:///{tmp_path / 'missing-directory' / 'triage.db'}")
    try:
        with pytest.raises(DatabaseUnavailableError, match="cannot open the database file"):
            with read_session(sessionmaker(bind=engine)) as session:
                session.execute(text("SELECT 1"))
    finally:
        engine.dispose()
