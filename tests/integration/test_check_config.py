"""`triage check-config` lists every problem in one run, each with its file and line, as a real process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TRIAGE = str(Path(sys.executable).with_name("triage"))


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    environment.update(env)
    return subprocess.run([TRIAGE, *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=120)


def _line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_every_problem_of_every_file_in_one_run(tmp_path: Path) -> None:
    rules = (ROOT / "config" / "routing.toml").read_text(encoding="utf-8")
    rules = rules.replace('queue = "translation"', 'queue = "translatoin"', 1)
    (tmp_path / "routing.toml").write_text(rules, encoding="utf-8")
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "config" / "templates", templates)
    (templates / "fr" / "fees.j2").write_text("{% if %}", encoding="utf-8")
    config = (
        "# several mistakes at once\n"
        "[database]\n"
        'busy_timeout_seconds = "soon"\n'
        "\n"
        "[ingest]\n"
        "batch_size = 0\n"
        'progres = "auto"\n'
        "\n"
        "[triage]\n"
        f'routing = "{tmp_path / "routing.toml"}"\n'
        "\n"
        "[replies]\n"
        f'templates = "{templates}"\n'
        "auto_cap = -1\n"
        "\n"
        "[mailboxes.desk]\n"
        'host = "imap.example.org"\n'
        'user = "desk@example.org"\n'
        "port = 99999\n"
        'after_ingest = "move"\n'
    )
    path = tmp_path / "triage.toml"
    path.write_text(config, encoding="utf-8")
    result = _run(["--config", str(path), "check-config"], tmp_path, TRIAGE_WEB__PAGE_SIZE="1")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    out = result.stdout
    assert f"{path}:3: database.busy_timeout_seconds:" in out
    assert f"{path}:6: ingest.batch_size:" in out
    assert f"{path}:7: ingest.progres: Extra inputs are not permitted" in out
    assert f"{path}:14: replies.auto_cap:" in out
    assert f"{path}:19: mailboxes.desk.port:" in out
    assert f"{path}:16: mailboxes.desk: after_ingest = 'move' needs move_to" in out
    assert "environment: web.page_size:" in out
    assert f"routing.toml:{_line_of(rules, 'translatoin')}: " in out and "unknown queue 'translatoin'" in out
    assert f"{templates}/fr/fees.j2" in out and "syntax error" in out
    assert "9 problem(s) found" in result.stderr


def test_a_toml_syntax_error_has_its_line(tmp_path: Path) -> None:
    path = tmp_path / "triage.toml"
    path.write_text('[ingest]\nbatch_size = 5\n[database\nurl = "x"\n', encoding="utf-8")
    result = _run(["--config", str(path), "check-config"], tmp_path)
    assert result.returncode == 1
    assert result.stdout.startswith(f"{path}:3: not valid TOML")
