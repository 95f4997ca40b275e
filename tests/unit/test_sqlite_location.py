"""Where a SQLite database may be created: a mistyped path is refused, never a new empty database."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from pipeline.config import DatabaseSettings
from pipeline.errors import StorageError
from pipeline.store.sqlite_path import check_sqlite_location


def _settings(path: Path | str) -> DatabaseSettings:
    return DatabaseSettings(url=f"sqlite:///{path}")


def test_an_existing_database_is_used(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "triage.db") as connection:
        connection.execute("CREATE TABLE t (x)")
    (tmp_path / "other.db").write_bytes(b"")
    assert check_sqlite_location(_settings(tmp_path / "triage.db")) is None


def test_a_new_database_in_an_empty_existing_folder_is_made(tmp_path: Path) -> None:
    assert check_sqlite_location(_settings(tmp_path / "triage.db")) == tmp_path / "triage.db"


def test_a_missing_folder_is_refused_and_nothing_is_made(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match=r"its folder .*tirage does not exist.*triage db upgrade"):
        check_sqlite_location(_settings(tmp_path / "tirage" / "triage.db"))
    assert not (tmp_path / "tirage").exists()


def test_a_new_name_beside_an_existing_database_is_taken_for_a_typo(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "triage.db") as connection:
        connection.execute("CREATE TABLE t (x)")
    with pytest.raises(StorageError, match=r"there is no database at .*triag\.db, but .* holds triage\.db"):
        check_sqlite_location(_settings(tmp_path / "triag.db"))
    assert not (tmp_path / "triag.db").exists()


def test_db_upgrade_creates_where_it_is_told(tmp_path: Path) -> None:
    target = tmp_path / "new" / "place" / "triage.db"
    assert check_sqlite_location(_settings(target), create=True) == target
    assert target.parent.is_dir()


def test_the_built_in_default_makes_its_folder_on_first_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    default = DatabaseSettings()
    assert check_sqlite_location(default) == Path("var/triage.db")
    assert (tmp_path / "var").is_dir()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///"])
def test_a_url_without_a_file_is_refused(url: str) -> None:
    with pytest.raises(StorageError, match="keeps nothing"):
        check_sqlite_location(DatabaseSettings(url=url))


def test_in_memory_said_outright_and_other_databases_are_left_alone() -> None:
    assert check_sqlite_location(DatabaseSettings(url="sqlite:///:memory:")) is None
    assert check_sqlite_location(DatabaseSettings(url="postgresql+psycopg://u@h/db")) is None


def test_a_folder_is_not_a_database(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="is a folder"):
        check_sqlite_location(_settings(tmp_path))
    assert os.listdir(tmp_path) == []
