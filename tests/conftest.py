"""Fixtures: settings, databases (SQLite and a real PostgreSQL), the real-mail corpus."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.config import DatabaseSettings, Settings
from pipeline.runtime import Runtime, open_runtime
from tests.support.postgres import create_database, drop_database, postgres_server
from tests.support.dovecot import Dovecot, dovecot_server

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
REAL_MAIL = SHARED / "corpus" / "real-mail"
SAMPLES = ROOT / "data" / "samples"


@pytest.fixture(scope="session")
def pg_admin_dsn() -> Iterator[str]:
    """A running PostgreSQL server (started for the session when none listens)."""
    with postgres_server() as dsn:
        yield dsn


@pytest.fixture
def pg_url(pg_admin_dsn: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped after the test."""
    url = create_database(pg_admin_dsn)
    try:
        yield url
    finally:
        drop_database(pg_admin_dsn, url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite database file."""
    return f"sqlite:///{tmp_path / 'triage.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each storage test runs on SQLite and again on a real PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'triage.db'}"
    else:
        yield request.getfixturevalue("pg_url")


@pytest.fixture
def runtime(db_url: str) -> Iterator[Runtime]:
    """A migrated database on each backend, with its session factory."""
    rt = open_runtime(Settings(database=DatabaseSettings(url=db_url)))
    try:
        yield rt
    finally:
        rt.close()


@pytest.fixture(scope="session")
def real_mail_files() -> list[Path]:
    """The 246 real-world messages beside the project."""
    files = sorted(REAL_MAIL.glob("*.eml"))
    assert len(files) == 246, f"expected 246 messages in {REAL_MAIL}, found {len(files)}"
    return files


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """A real Dovecot on 127.0.0.1 for the session (plain+STARTTLS and implicit-TLS ports, test CA)."""
    with dovecot_server() as server:
        yield server


# --- triage: the default configuration and one model trained once per session ---------


@pytest.fixture(scope="session")
def triage_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained from the corpus once per session, outside the working tree's var/."""
    from classifiers.config import load_triage_config
    from classifiers.registry import build_model, save_model
    from pipeline.config import TriageSettings

    path = tmp_path_factory.mktemp("model") / "triage-model.skops"
    settings = TriageSettings(model_path=path, auto_train=False)
    save_model(build_model(settings, load_triage_config(settings)), path)
    return path


@pytest.fixture(scope="session")
def triage_config():  # type: ignore[no-untyped-def]
    """The default taxonomy and routing rules of config/."""
    from classifiers.config import load_triage_config
    from pipeline.config import TriageSettings

    return load_triage_config(TriageSettings())


@pytest.fixture(scope="session")
def triage_model(triage_model_path: Path):  # type: ignore[no-untyped-def]
    """The session's trained model, loaded from its file."""
    from classifiers.registry import load_model

    return load_model(triage_model_path)
