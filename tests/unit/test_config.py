"""Settings from TOML and the environment, and the problems check-config reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import load_settings
from pipeline.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "triage.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    loaded = load_settings(env={})
    assert loaded.path is None
    assert loaded.settings.database.url == "sqlite:///var/triage.db"
    assert loaded.settings.ingest.batch_size == 200


def test_shipped_default_file_is_valid() -> None:
    root = Path(__file__).resolve().parents[2]
    loaded = load_settings(root / "config" / "triage.toml", env={})
    assert loaded.settings.database.url.startswith("sqlite:///")


def test_file_values_and_environment_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, '[database]\nurl = "sqlite:///a.db"\n[ingest]\nbatch_size = 50\n')
    env = {"TRIAGE_DATABASE_URL": "sqlite:///b.db", "TRIAGE_INGEST__BATCH_SIZE": "75"}
    settings = load_settings(path, env=env).settings
    assert settings.database.url == "sqlite:///b.db"
    assert settings.ingest.batch_size == 75


def test_config_path_from_environment(tmp_path: Path) -> None:
    path = write(tmp_path, '[logging]\nlevel = "debug"\n')
    assert load_settings(env={"TRIAGE_CONFIG": str(path)}).settings.logging.level == "DEBUG"


def test_mailbox_entirely_from_environment() -> None:
    env = {
        "TRIAGE_MAILBOXES__DESK__HOST": "127.0.0.1",
        "TRIAGE_MAILBOXES__DESK__PORT": "10143",
        "TRIAGE_MAILBOXES__DESK__USER": "desk",
        "TRIAGE_MAILBOXES__DESK__PASSWORD": "s3cret",
        "TRIAGE_MAILBOXES__DESK__TLS": "none",
        "TRIAGE_MAILBOXES__DESK__FOLDERS": "INBOX, Archive",
    }
    mailbox = load_settings(None, env=env).settings.mailboxes["desk"]
    assert (mailbox.host, mailbox.port, mailbox.user, mailbox.tls) == ("127.0.0.1", 10143, "desk", "none")
    assert mailbox.folders == ("INBOX", "Archive")
    assert mailbox.resolve_password() == "s3cret"
    assert "s3cret" not in repr(mailbox)


def test_every_problem_is_reported_with_its_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[ingest]\nbatch_size = 0\nprogress = "sometimes"\nunknown_key = 1\n'
        '[mailboxes.desk]\nhost = "imap.example.org"\nuser = "u"\ntls = "none"\npassword = "oops"\n',
    )
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    keys = {key for key, _ in info.value.problems}
    assert {"ingest.batch_size", "ingest.progress", "ingest.unknown_key", "mailboxes.desk.password", "mailboxes.desk"} <= keys
    messages = " ".join(message for _, message in info.value.problems)
    assert "loopback" in messages and "TRIAGE_MAILBOXES__DESK__PASSWORD" in messages


def test_broken_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path, "[database\nurl = 1"), env={})
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "missing.toml", env={})


def test_password_file_is_read(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("from-file\n")
    env = {
        "TRIAGE_MAILBOXES__DESK__HOST": "localhost",
        "TRIAGE_MAILBOXES__DESK__USER": "desk",
        "TRIAGE_MAILBOXES__DESK__PASSWORD_FILE": str(secret),
    }
    assert load_settings(env=env).settings.mailboxes["desk"].resolve_password() == "from-file"


def test_one_pass_finds_problems_that_hide_behind_others(tmp_path: Path) -> None:
    from pipeline.config import inspect_settings

    path = write(
        tmp_path,
        '# comment\n[database]\nbusy_timeout_seconds = "soon"\n\n[ingest]\nbatch_size = 0\nprogres = "auto"\n\n'
        '[mailboxes.desk]\nhost = "imap.example.org"\nuser = "u"\nport = 99999\nafter_ingest = "move"\n',
    )
    inspection = inspect_settings(path, env={"TRIAGE_LOGGING__LEVEL": "loud"})
    keys = [key for key, _ in inspection.problems]
    # The mailbox's own check (move needs move_to) runs only once its port is valid: one pass lists both.
    assert keys == ["database.busy_timeout_seconds", "ingest.batch_size", "ingest.progres", "logging.level",
                    "mailboxes.desk.port", "mailboxes.desk"]
    assert [inspection.where(key) for key in keys] == [
        f"{path}:3", f"{path}:6", f"{path}:7", "environment", f"{path}:12", f"{path}:9"]
    assert inspection.loaded is not None  # the rest, with the faulty values at their defaults, can be checked
    assert inspection.loaded.settings.ingest.batch_size == 200 and "desk" not in inspection.loaded.settings.mailboxes
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={"TRIAGE_LOGGING__LEVEL": "loud"})
    assert [key for key, _ in info.value.problems] == keys


def test_a_toml_syntax_error_names_its_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, '[ingest]\nbatch_size = 5\n[database\nurl = "x"\n'), env={})
    ((where, message),) = info.value.problems
    assert where == f"{tmp_path / 'triage.toml'}:3" and "not valid TOML" in message
