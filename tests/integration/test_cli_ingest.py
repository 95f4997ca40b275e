"""The `triage ingest` command-line contract, run as a real process."""

from __future__ import annotations

import json
import mailbox
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.mail import make_message
from tests.support.samples import sample_count

ROOT = Path(__file__).resolve().parents[2]
TRIAGE = [str(Path(sys.executable).with_name("triage"))]


def run(args: list[str], tmp_path: Path, db_url: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    environment["TRIAGE_DATABASE_URL"] = db_url or f"sqlite:///{tmp_path / 'triage.db'}"
    environment.update(env)
    return subprocess.run(TRIAGE + args, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120)


def last_json(result: subprocess.CompletedProcess[str]) -> dict[str, int]:
    assert result.stdout.strip(), result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(summary) == {"seen", "stored", "duplicates", "quarantined"}
    assert summary["seen"] == summary["stored"] + summary["duplicates"] + summary["quarantined"]
    return summary


def test_ingest_samples_twice_json_contract(tmp_path: Path, triage_model_path: Path) -> None:
    samples = ROOT / "data" / "samples"
    count = sample_count()
    model = {"TRIAGE_TRIAGE__MODEL_PATH": str(triage_model_path)}  # the session's model: no training on first use
    first = run(["ingest", str(samples), "--json"], tmp_path, **model)
    assert first.returncode == 0, first.stderr
    assert last_json(first) == {"seen": count, "stored": count, "duplicates": 0, "quarantined": 0}
    second = run(["ingest", str(samples), "--json"], tmp_path, **model)
    assert last_json(second) == {"seen": count, "stored": 0, "duplicates": count, "quarantined": 0}
    listing = run(["inquiries", "list", "--json", "--limit", "100"], tmp_path)
    assert len(listing.stdout.strip().splitlines()) == count


def test_ingest_mbox_maildir_and_folder_are_one_set_of_messages(tmp_path: Path) -> None:
    raws = [make_message(f"Question {n}\nFrom the desk's point of view.", message_id=f"<m{n}@x>") for n in range(5)]
    box = mailbox.mbox(str(tmp_path / "export.mbox"))
    for raw in raws:
        box.add(raw)
    box.flush()
    box.close()
    maildir = mailbox.Maildir(str(tmp_path / "Maildir"))
    for raw in raws:
        maildir.add(raw)
    folder = tmp_path / "eml"
    folder.mkdir()
    for n, raw in enumerate(raws):
        (folder / f"{n}.eml").write_bytes(raw)
    result = run(["ingest", str(tmp_path / "export.mbox"), str(tmp_path / "Maildir"), str(folder), "--json"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert last_json(result) == {"seen": 15, "stored": 5, "duplicates": 10, "quarantined": 0}


@pytest.mark.postgres
def test_ingest_into_postgresql(tmp_path: Path, pg_url: str) -> None:
    result = run(["ingest", str(ROOT / "data" / "samples"), "--json"], tmp_path, db_url=pg_url)
    assert result.returncode == 0, result.stderr
    assert last_json(result)["stored"] == sample_count()


def test_not_mail_is_quarantined_and_listed(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "photo.eml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    (tmp_path / "in" / "ok.eml").write_bytes(make_message())
    result = run(["ingest", str(tmp_path / "in"), "--json"], tmp_path)
    assert result.returncode == 0
    assert last_json(result) == {"seen": 2, "stored": 1, "duplicates": 0, "quarantined": 1}
    listing = run(["quarantine", "list"], tmp_path)
    assert "not an email message" in listing.stdout and "photo.eml" in listing.stdout
    assert listing.stdout.split()[1] == "unreadable_bytes"  # the code, beside the message


def test_missing_path_is_one_clear_line_and_nothing_written(tmp_path: Path) -> None:
    result = run(["ingest", str(tmp_path / "nope"), "--json"], tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == f"triage: error: {tmp_path / 'nope'}: no such file or directory"
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "triage.db").exists()


def test_a_missing_path_among_others_is_reported_and_the_rest_stored(tmp_path: Path) -> None:
    (tmp_path / "a.eml").write_bytes(make_message("First", message_id="<a@x>"))
    (tmp_path / "b.eml").write_bytes(make_message("Second", message_id="<b@x>"))
    args = ["ingest", str(tmp_path / "a.eml"), str(tmp_path / "typo.eml"), str(tmp_path / "b.eml")]
    result = run([*args, "--json"], tmp_path)
    assert result.returncode == 1
    assert f"triage: error: {tmp_path / 'typo.eml'}: no such file or directory" in result.stderr
    assert "Traceback" not in result.stderr
    assert last_json(result) == {"seen": 2, "stored": 2, "duplicates": 0, "quarantined": 0}
    again = run(args, tmp_path)
    assert again.returncode == 1
    assert again.stdout.strip().splitlines()[-1] == "seen 2: stored 0, duplicates 2, quarantined 0; 1 unreadable"


def test_unreadable_file_in_a_folder_is_reported_and_the_rest_stored(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "ok.eml").write_bytes(make_message())
    (folder / "gone.eml").symlink_to(tmp_path / "deleted-meanwhile.eml")  # listed, but cannot be read
    result = run(["ingest", str(folder), "--json"], tmp_path)
    assert result.returncode == 1
    assert "gone.eml: cannot read" in result.stderr and "Traceback" not in result.stderr
    assert last_json(result) == {"seen": 1, "stored": 1, "duplicates": 0, "quarantined": 0}


def test_locked_database_is_a_clear_error_and_nothing_half_written(tmp_path: Path) -> None:
    db = tmp_path / "triage.db"
    assert run(["db", "upgrade"], tmp_path).returncode == 0
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        result = run(["ingest", str(ROOT / "data" / "samples"), "--json"], tmp_path,
                     TRIAGE_DATABASE__BUSY_TIMEOUT_SECONDS="0.5")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.returncode == 1
    assert "triage: error:" in result.stderr and "locked" in result.stderr
    assert "Traceback" not in result.stderr
    with sqlite3.connect(db) as check:
        assert check.execute("SELECT count(*) FROM messages").fetchone() == (0,)
        assert check.execute("SELECT count(*) FROM raw_blobs").fetchone() == (0,)


def test_full_database_is_a_clear_error_and_nothing_half_written(tmp_path: Path) -> None:
    db = tmp_path / "triage.db"
    assert run(["db", "upgrade"], tmp_path).returncode == 0
    with sqlite3.connect(db) as conn:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    big = [make_message("x" * 200_000 + f" {n}", message_id=f"<big{n}@x>") for n in range(3)]
    (tmp_path / "in").mkdir()
    for n, raw in enumerate(big):
        (tmp_path / "in" / f"{n}.eml").write_bytes(raw)
    # Cap the file a few pages above its size: the batch cannot fit.
    script = (
        "import sqlite3,sys\n"
        "from sqlalchemy import event\n"
        "import pipeline.store.db as d\n"
        "orig = d._configure_sqlite\n"
        "def capped(engine, t):\n"
        "    orig(engine, t)\n"
        "    @event.listens_for(engine, 'connect')\n"
        f"    def cap(c, r): c.execute('PRAGMA max_page_count = {pages + 20}')\n"
        "d._configure_sqlite = capped\n"
        "from pipeline.cli import run\n"
        "sys.argv = ['triage', 'ingest', sys.argv[1], '--json']\n"
        "run()\n"
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    environment["TRIAGE_DATABASE_URL"] = f"sqlite:///{db}"
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "in")], cwd=tmp_path, env=environment,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    assert "full" in result.stderr and "Traceback" not in result.stderr
    with sqlite3.connect(db) as check:
        assert check.execute("SELECT count(*) FROM messages").fetchone() == (0,)


def test_a_mistyped_database_path_is_refused_not_created(tmp_path: Path) -> None:
    (tmp_path / "a.eml").write_bytes(make_message())
    no_folder = run(["ingest", str(tmp_path / "a.eml")], tmp_path, f"sqlite:///{tmp_path / 'vra' / 'triage.db'}")
    assert no_folder.returncode == 1 and "Traceback" not in no_folder.stderr
    assert f"its folder {tmp_path / 'vra'} does not exist" in no_folder.stderr
    assert "triage db upgrade" in no_folder.stderr and not (tmp_path / "vra").exists()

    first = run(["ingest", str(tmp_path / "a.eml")], tmp_path)
    assert first.returncode == 0 and f"creating a new empty database at {tmp_path / 'triage.db'}" in first.stderr
    typo = run(["inquiries", "list"], tmp_path, f"sqlite:///{tmp_path / 'traige.db'}")
    assert typo.returncode == 1 and "holds triage.db" in typo.stderr
    assert not (tmp_path / "traige.db").exists()

    created = run(["db", "upgrade"], tmp_path, f"sqlite:///{tmp_path / 'vra' / 'triage.db'}")
    assert created.returncode == 0 and (tmp_path / "vra" / "triage.db").is_file()


def test_db_upgrade_and_check_config(tmp_path: Path) -> None:
    upgraded = run(["db", "upgrade"], tmp_path)
    assert upgraded.returncode == 0 and "database at revision" in upgraded.stdout
    good = run(["check-config"], tmp_path)
    assert good.returncode == 0, good.stdout + good.stderr
    bad_config = tmp_path / "bad.toml"
    bad_config.write_text('[ingest]\nbatch_size = "many"\n[database]\nurl = "nonsense"\n')
    bad = run(["--config", str(bad_config), "check-config"], tmp_path)
    assert bad.returncode != 0
    assert "ingest.batch_size" in bad.stdout
    env_bad = run(["check-config"], tmp_path, TRIAGE_INGEST__PROGRESS="sometimes")
    assert env_bad.returncode != 0 and "ingest.progress" in env_bad.stdout


def test_secrets_never_printed(tmp_path: Path) -> None:
    result = run(["check-config"], tmp_path, TRIAGE_MAILBOXES__DESK__HOST="imap.example.org",
                 TRIAGE_MAILBOXES__DESK__USER="desk", TRIAGE_MAILBOXES__DESK__PASSWORD="hunter2-secret",
                 TRIAGE_MAILBOXES__DESK__PORT="not-a-port")
    assert result.returncode != 0
    assert "hunter2-secret" not in result.stdout + result.stderr
    assert "mailboxes.desk.port" in result.stdout
