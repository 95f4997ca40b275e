"""`triage suggest --json`, `triage classify --json`'s template, `check-config` on templates, `replies deliver`:
run as real processes, as an admin or a script would."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import load_settings
from pipeline.runtime import open_runtime
from pipeline.store.db import unit_of_work
from webapp.services import suggestions as service
from responders.context import ReplyContext
from tests.support.mail import make_message
from tests.support.replies import store_triaged
from tests.support.smtp import smtp_server
from tests.support.samples import sample_count

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "data" / "samples"
TRIAGE = [str(Path(sys.executable).with_name("triage"))]


def run(args: list[str], cwd: Path, model: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    environment.update({"TRIAGE_DATABASE_URL": f"sqlite:///{cwd / 'triage.db'}",
                        "TRIAGE_TRIAGE__MODEL_PATH": str(model), "TRIAGE_TRIAGE__AUTO_TRAIN": "false",
                        "PYTHONPATH": str(ROOT)})
    environment.update(env)
    return subprocess.run(TRIAGE + args, cwd=cwd, env=environment, capture_output=True, text=True, timeout=300)


def lines(result: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def test_suggest_json_contract_on_the_samples(tmp_path: Path, triage_model_path: Path) -> None:
    out = {Path(str(line["file"])).name: line for line in lines(run(["suggest", str(SAMPLES), "--json"], tmp_path,
                                                                     triage_model_path))}
    assert len(out) == sample_count()
    for name, line in out.items():
        assert {"file", "language", "topic", "template", "subject", "body", "reason"} <= set(line), name
        if line["template"] is None:
            assert line["body"] == "" and line["subject"] == "" and line["reason"], name
        else:
            assert line["body"] and line["reason"] is None and str(line["subject"]).startswith("Re: "), name
            assert "[T-" not in str(line["subject"])  # nothing is stored, so there is no case yet
    assert out["02-en-fees.eml"]["template"] == "fees--refund"
    assert str(out["02-en-fees.eml"]["body"]).startswith("Dear Tom Baker,")
    assert out["03-fr-irregularity.eml"]["template"] == "irregularity--reproductions"
    assert str(out["03-fr-irregularity.eml"]["body"]).startswith("Bonjour Claire Dubois,")
    assert out["06-es-priority.eml"]["template"] == "priority_document--das"
    assert out["13-en-renewal-reply.eml"]["template"] == "renewal--grace_period"
    assert "never answered" in str(out["09-en-auto-reply.eml"]["reason"])
    german = out["08-de-general.eml"]  # no German templates: an English draft, labelled, for translation
    assert german["template"] is not None and german["route_to"] == "translation" and german["language"] == "de"
    assert str(german["body"]).startswith("[[to fill: STAFF NOTE: the sender wrote in German (de)")
    assert german["blanks"] and str(german["staff_note"]).startswith("[[to fill: STAFF NOTE")
    assert out["07-en-eservices-complaint.eml"]["template"] is None
    assert not (tmp_path / "triage.db").exists()  # offline: no database


def test_suggest_hostile_message_stays_literal(tmp_path: Path, triage_model_path: Path) -> None:
    raw = make_message("Dear Sir, what is the renewal fee for DM/212 345? Our reference is {{ 7*7 }}.",
                       subject="Renewal {% raw %}{{ config }}{% endraw %}", sender='"Jöhn {{ 7*7 }}" <j@example.org>')
    (tmp_path / "in.eml").write_bytes(raw)
    (line,) = lines(run(["suggest", str(tmp_path / "in.eml"), "--json"], tmp_path, triage_model_path))
    assert line["template"] is not None, line
    assert str(line["body"]).startswith("Dear Jöhn {{ 7*7 }},") and "49" not in str(line["body"])
    assert line["subject"] == "Re: Renewal {% raw %}{{ config }}{% endraw %}"


def test_classify_names_the_intents_a_reply_answers(tmp_path: Path, triage_model_path: Path) -> None:
    out = lines(run(["classify", str(SAMPLES / "02-en-fees.eml"), str(SAMPLES / "08-de-general.eml"), "--json"],
                    tmp_path, triage_model_path))
    assert [line["answer_intents"] for line in out] == [["fees--refund"], []]
    assert [line["template"] for line in out] == ["fees--refund", None]
    assert [line["hold_reason"] for line in out] == [None, "unsupported_language"]


def test_check_config_lists_a_refused_template_and_suggest_routes_around_it(tmp_path: Path,
                                                                            triage_model_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "config" / "templates", templates)
    (templates / "en" / "fees--refund.j2").write_text(
        '{% extends "_layout.j2" %}{% block body %}{{ sender.__class__.__mro__ }}{% endblock %}', encoding="utf-8")
    (templates / "fr" / "fees.j2").write_text("{% if %}", encoding="utf-8")
    env = {"TRIAGE_REPLIES__TEMPLATES": str(templates)}
    checked = run(["check-config"], tmp_path, triage_model_path, **env)
    assert checked.returncode == 1
    assert f"{templates}/en/fees--refund.j2" in checked.stdout and "Python internals" in checked.stdout
    assert f"{templates}/fr/fees.j2" in checked.stdout and "syntax error" in checked.stdout
    assert "2 problem(s) found" in checked.stderr
    (line,) = lines(run(["suggest", str(SAMPLES / "02-en-fees.eml"), "--json"], tmp_path, triage_model_path, **env))
    assert line["template"] is None and "refused at load time" in str(line["reason"])
    assert run(["check-config"], tmp_path, triage_model_path).returncode == 0


@pytest.mark.dovecot
def test_replies_deliver_command(tmp_path: Path, triage_model_path: Path, dovecot) -> None:  # type: ignore[no-untyped-def]
    user = dovecot.fresh_user()
    with smtp_server("implicit") as smtp:
        config = tmp_path / "triage.toml"
        config.write_text(f"""
[mailboxes.desk]
host = "{dovecot.host}"
port = {dovecot.port}
tls = "starttls"
ca_file = "{dovecot.ca_file}"
user = "{user}"
[mailboxes.desk.delivery]
mode = "smtp"
from_address = "helpdesk@registry.example.org"
[mailboxes.desk.delivery.smtp]
host = "{smtp.host}"
port = {smtp.port}
tls = "implicit"
ca_file = "{smtp.ca_file}"
user = "desk@registry.example.org"
""", encoding="utf-8")
        env = {"TRIAGE_CONFIG": str(config), "TRIAGE_MAILBOXES__DESK__PASSWORD": dovecot.users[user],
               "TRIAGE_MAILBOXES__DESK__DELIVERY__SMTP__PASSWORD": "smtp-secret"}
        assert run(["check-config"], tmp_path, triage_model_path, **env).returncode == 0
        assert lines(run(["replies", "deliver", "--json"], tmp_path, triage_model_path, **env)) == [{"deliveries": 0}]
        # A stored, triaged inquiry: the worker round suggests its reply; staff approve it (the review app).
        loaded = load_settings(config, {**env, "TRIAGE_DATABASE_URL": f"sqlite:///{tmp_path / 'triage.db'}"})
        runtime = open_runtime(loaded.settings)
        try:
            inquiry_id = store_triaged(runtime, (SAMPLES / "01-en-renewal.eml").read_bytes(), topic="renewal",
                                       text_for_entities="DM/212 345")
            assert lines(run(["replies", "run", "--json"], tmp_path, triage_model_path, **env)) == [
                {"suggested": 1, "to_staff": 0, "acknowledged": 0, "deliveries": 0}]
            with unit_of_work(runtime.session_factory) as session:
                info = service.current_suggestion(session, inquiry_id)
                assert info is not None and info.template_id == "renewal"
                service.approve(session, info.id, "alice", ReplyContext.load(loaded.settings))
        finally:
            runtime.close()
        assert lines(run(["replies", "deliver", "--json"], tmp_path, triage_model_path, **env)) == [
            {"deliveries": 1, "sent": 1}]
        assert lines(run(["replies", "recover", "--json"], tmp_path, triage_model_path, **env)) == [{"deliveries": 0}]
        (received,) = smtp.received
    message = received.message()
    assert str(message["Subject"]) == f"Re: Renewal of DM/212 345 [T-{inquiry_id}]"
    assert message["In-Reply-To"] == "<179542476089.8286.16004026534330725868@mail.example.net>"
    assert message.get_body(("plain",)).get_content().startswith("Dear Anna Schmidt,")
