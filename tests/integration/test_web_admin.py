"""Admin pages: users, queues and their response-time targets, reply templates (checked and previewed
like `triage check-config`), routing rules read-only; and the `triage user` commands as real processes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.config import RepliesSettings
from pipeline.runtime import Runtime
from tests.e2e.web import (  # noqa: F401  (fixtures)
    Browser,
    context_for,
    make_user,
    serve_in_thread,
    sqlite_runtime,
)

ROOT = Path(__file__).resolve().parents[2]
TRIAGE = str(Path(sys.executable).with_name("triage"))


@pytest.fixture
def admin(sqlite_runtime: Runtime, tmp_path: Path) -> Iterator[tuple[Browser, Path]]:
    """An admin logged in to an app whose templates and SLA file are copies in tmp_path."""
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "config" / "templates", templates)
    sla = tmp_path / "sla.toml"
    shutil.copy(ROOT / "config" / "sla.toml", sla)
    make_user(sqlite_runtime, "ada", role="admin", name="Ada Admin")
    make_user(sqlite_runtime, "sam", queues=["customer_service"])
    ctx = context_for(sqlite_runtime, tmp_path, sla=sla, replies=RepliesSettings(templates=templates))
    with serve_in_thread(ctx) as server:
        browser = Browser(server.url)
        browser.login("ada")
        yield browser, tmp_path
        browser.close()


def test_users_add_assign_role_disable(admin: tuple[Browser, Path]) -> None:
    browser, _ = admin
    added = browser.post("/admin/users", {"op": "add", "username": "lea", "display_name": "Léa",
                                          "password": "a long enough pw", "role": "staff",
                                          "queues": ["finance", "legal"]}, token_from="/admin/users")
    assert added.status_code == 303
    page = browser.get("/admin/users").text
    assert "lea" in page and "finance, legal" in page
    cases: list[tuple[dict[str, Any], str]] = [({"username": "lea", "password": "a long enough pw"}, "exists already"),
                     ({"username": "x y", "password": "a long enough pw"}, "user name"),
                     ({"username": "leo", "password": "short"}, "at least 10"),
                     ({"username": "leo", "password": "a long enough pw", "queues": ["nope"]}, "unknown queue")]
    for bad, why in cases:
        refused = browser.post("/admin/users", {"op": "add", "role": "staff", **bad}, token_from="/admin/users")
        assert refused.status_code in (400, 409) and why in refused.text, why
    assert browser.post("/admin/users", {"op": "queues", "username": "lea", "queues": ["it"]}).status_code == 303
    assert browser.post("/admin/users", {"op": "role", "username": "lea", "role": "admin"}).status_code == 303
    assert browser.post("/admin/users", {"op": "disable", "username": "ada"}).status_code == 400
    assert browser.post("/admin/users", {"op": "disable", "username": "lea"}).status_code == 303
    page = browser.get("/admin/users").text
    assert "· disabled" in page


def test_queues_and_targets_are_validated_and_saved(admin: tuple[Browser, Path]) -> None:
    browser, tmp_path = admin
    page = browser.get("/admin/queues").text
    assert 'name="hours_customer_service" value="24"' in page and "sam" in page
    bad = browser.post("/admin/queues", {"hours_customer_service": "-3", "default_hours": "48", "warn_share": "0.75"},
                       token_from="/admin/queues")
    assert bad.status_code == 400 and "more than 0" in bad.text
    nan = browser.post("/admin/queues", {"hours_legal": "nan", "default_hours": "48", "warn_share": "0.75"},
                       token_from="/admin/queues")
    assert nan.status_code == 400
    ok = browser.post("/admin/queues", {"hours_customer_service": "8", "hours_legal": "", "default_hours": "36",
                                        "warn_share": "0.5"}, token_from="/admin/queues")
    assert ok.status_code == 303
    text = (tmp_path / "sla.toml").read_text()
    assert "customer_service = 8" in text and "legal" not in text.split("[queues]")[1]
    assert text.startswith("# Response-time targets")
    queues = {q["id"]: q for q in browser.get("/api/queues").json()}
    assert queues["customer_service"]["target_hours"] == 8 and queues["legal"]["target_hours"] == 36


def test_templates_are_checked_previewed_and_saved_only_when_valid(admin: tuple[Browser, Path]) -> None:
    browser, tmp_path = admin
    listing = browser.get("/admin/templates").text
    assert "fees--refund.j2" in listing and "in use" in listing
    path = "/admin/templates/en/fees.j2"
    original = (tmp_path / "templates" / "en" / "fees.j2").read_text()
    assert "{% extends" in browser.get(path).text.replace("&#34;", '"')
    for broken, why in [("{% extends \"_layout.j2\" %}{% block body %}{{ unknown_thing }}{% endblock %}",
                         "unknown_thing"),
                        ("{% block body %}{{ ''.__class__.__mro__ }}{% endblock %}", "template refused"),
                        ("{% if %}", "template refused")]:
        refused = browser.post(path, {"text": broken, "do": "save"}, token_from=path)
        assert refused.status_code == 422 and why in refused.text, why
        assert (tmp_path / "templates" / "en" / "fees.j2").read_text() == original
    edited = original.replace("{% block body %}", "{% block body %}\nEDITED LINE for {{ refs.main }}.", 1)
    preview = browser.post(path, {"text": edited, "do": "preview"}, token_from=path)
    assert preview.status_code == 200 and "The checks pass." in preview.text
    assert "EDITED LINE for DM/212345." in preview.text
    assert (tmp_path / "templates" / "en" / "fees.j2").read_text() == original
    assert browser.post(path, {"text": edited, "do": "save"}, token_from=path).status_code == 303
    assert "EDITED LINE" in (tmp_path / "templates" / "en" / "fees.j2").read_text()
    for evil in ("/admin/templates/en/..%2F..%2Fsla.toml", "/admin/templates/../sla.toml",
                 "/admin/templates/en/catalogue.toml", "/admin/templates/xx/fees.j2"):
        assert browser.get(evil).status_code in (400, 404), evil


def test_routing_rules_read_only(admin: tuple[Browser, Path]) -> None:
    browser, _ = admin
    page = browser.get("/admin/routing").text
    assert "<code>other-language</code>" in page and "translation" in page and "(read-only)" in page
    assert browser.post("/admin/routing", {}).status_code == 405


def test_user_commands(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    env["TRIAGE_DATABASE_URL"] = f"sqlite:///{tmp_path / 'triage.db'}"

    def triage(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([TRIAGE, *args], env=env, cwd=tmp_path, input=stdin, capture_output=True, text=True,
                              timeout=120)

    added = triage("user", "add", "sam", "--queue", "customer_service", "--queue", "finance", "--name", "Sam S",
                   "--password-stdin", stdin="a long password\n")
    assert added.returncode == 0, added.stderr
    assert "user sam added (staff; queues: customer_service, finance)" in added.stdout
    assert triage("user", "add", "sam", "--password-stdin", stdin="a long password\n").returncode == 1
    short = triage("user", "add", "leo", "--password-stdin", stdin="short\n")
    assert short.returncode == 1 and "at least 10 characters" in short.stderr
    unknown = triage("user", "add", "leo", "--queue", "nope", "--password-stdin", stdin="a long password\n")
    assert unknown.returncode == 1 and "unknown queue 'nope'" in unknown.stderr
    assert triage("user", "assign", "sam", "legal", "--add").stdout.strip() == "sam: customer_service, finance, legal"
    assert triage("user", "assign", "sam", "finance", "--remove").stdout.strip() == "sam: customer_service, legal"
    assert triage("user", "passwd", "sam", "--password-stdin", stdin="another long one\n").returncode == 0
    assert triage("user", "disable", "sam").returncode == 0
    listing = triage("user", "list", "--json")
    assert '"username": "sam"' in listing.stdout and '"active": false' in listing.stdout
    assert "password" not in listing.stdout and "argon2" not in listing.stdout
    assert triage("user", "passwd", "nobody", "--password-stdin", stdin="another long one\n").returncode == 1


def test_check_config_reports_the_sla_file_and_a_short_secret(tmp_path: Path) -> None:
    sla = tmp_path / "sla.toml"
    sla.write_text("default_hours = 48\nwarn_share = 2\n[queues]\nnope = 3\nlegal = -1\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    env.update(TRIAGE_WEB__SLA=str(sla), TRIAGE_WEB__SECRET_KEY="too short")
    result = subprocess.run([TRIAGE, "check-config"], env=env, cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1
    assert "queues.nope: unknown queue" in result.stdout
    assert "queues.legal: must be more than 0" in result.stdout
    assert "warn_share: must be a number above 0 and at most 1" in result.stdout
    assert "web.secret_key: must have at least 32 characters" in result.stdout
    assert "too short" not in result.stdout + result.stderr
