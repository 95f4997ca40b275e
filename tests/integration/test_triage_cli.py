"""The triage command-line contract (classify, eval, train, retriage, check-config), run as real processes."""

from __future__ import annotations

import json
import mailbox
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.mail import make_message
from tests.support.samples import sample_count

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "data" / "samples"
TRIAGE = [str(Path(sys.executable).with_name("triage"))]
CONTRACT = {"file", "message_id", "language", "topic", "confidence", "standard", "queue", "reason", "entities", "intents",
            "answer_intents", "hold_reason"}
KINDS = {"registration", "patent", "application", "amount", "date", "reference"}


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    environment.update(env)
    return subprocess.run(TRIAGE + args, cwd=cwd, env=environment, capture_output=True, text=True, timeout=300)


@pytest.fixture
def model_env(triage_model_path: Path) -> dict[str, str]:
    return {"TRIAGE_TRIAGE__MODEL_PATH": str(triage_model_path), "TRIAGE_TRIAGE__AUTO_TRAIN": "false"}


def _lines(result: subprocess.CompletedProcess[str]) -> list[dict]:  # type: ignore[type-arg]
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def test_classify_json_contract_touches_no_database(tmp_path: Path, model_env: dict[str, str]) -> None:
    out = _lines(run(["classify", str(SAMPLES), "--json"], tmp_path, **model_env))
    assert len(out) == sample_count()
    for line in out:
        assert CONTRACT <= set(line)
        assert isinstance(line["standard"], bool) and (line["template"] is None or line["template"] in line["answer_intents"])
        assert line["answer_intents"] if line["standard"] else (line["answer_intents"] == [] and line["hold_reason"])
        assert 0.0 <= line["confidence"] <= 1.0
        assert all({"kind", "value"} <= set(e) and e["kind"] in KINDS for e in line["entities"])
    by_file = {Path(line["file"]).name: line for line in out}
    renewal = by_file["01-en-renewal.eml"]
    assert (renewal["language"], renewal["topic"], renewal["queue"], renewal["standard"]) == ("en", "renewal", "customer_service", True)
    assert {"kind": "registration", "value": "DM/212345"} in [{"kind": e["kind"], "value": e["value"]} for e in renewal["entities"]]
    assert by_file["08-de-general.eml"]["queue"] == "translation"
    assert by_file["01-en-renewal.eml"]["message_id"].endswith("@mail.example.net")
    assert not list(tmp_path.rglob("*.db")) and not (tmp_path / "var").exists()


def test_classify_reads_mbox_and_gives_a_decision_to_what_is_not_mail(tmp_path: Path, model_env: dict[str, str]) -> None:
    box = mailbox.mbox(str(tmp_path / "in.mbox"))
    for n, text in enumerate(["Please renew DM/212 345 before 15 March 2026.", "No puedo entrar en el portal.", ""]):
        box.add(make_message(text, message_id=f"<c{n}@x>"))
    box.flush()
    box.close()
    (tmp_path / "junk.eml").write_bytes(b"\x00\x01 not mail at all")
    out = _lines(run(["classify", str(tmp_path / "in.mbox"), str(tmp_path / "junk.eml"), "--json"], tmp_path, **model_env))
    assert len(out) == 4
    assert [line["message_id"] for line in out[:3]] == ["c0@x", "c1@x", "c2@x"]
    assert out[1]["language"] == "es" and out[2]["language"] == "und" and out[2]["standard"] is False
    assert out[3]["language"] == "und" and out[3]["rule_id"] == "unparseable" and out[3]["standard"] is False


def test_classify_missing_path_is_an_error(tmp_path: Path, model_env: dict[str, str]) -> None:
    result = run(["classify", str(tmp_path / "nope")], tmp_path, **model_env)
    assert result.returncode == 1 and "no such file" in result.stderr


def test_eval_prints_every_figure(tmp_path: Path, model_env: dict[str, str]) -> None:
    result = run(["eval"], tmp_path, **model_env)
    assert result.returncode == 0, result.stderr
    for part in ("macro-F1", "language accuracy", "precision", "recall", "confusion matrix", "== language en",
                 "== language fr", "== language es", "topic confidence bands: high", "language confidence bands"):
        assert part in result.stdout


def test_eval_on_a_file_as_json(tmp_path: Path, model_env: dict[str, str]) -> None:
    data = tmp_path / "mine.jsonl"
    rows = [
        {"id": "1", "language": "en", "topic": "eservices", "subject": "Login", "body": "I cannot log in to the portal."},
        {"id": "2", "language": "fr", "topic": "fees", "subject": "Facture", "body": "Merci de m'envoyer la facture du paiement."},
    ]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    report = json.loads(run(["eval", "--data", str(data), "--json"], tmp_path, **model_env).stdout)
    assert report["overall"]["count"] == 2 and report["overall"]["language_accuracy"] == 1.0
    assert set(report["per_language"]) == {"en", "fr"}
    assert {"matrix", "labels"} <= set(report["overall"]["confusion"])


def test_train_saves_a_new_version_without_making_it_live(tmp_path: Path) -> None:
    target = tmp_path / "models" / "new.skops"
    result = run(["train", "--json"], tmp_path, TRIAGE_TRIAGE__MODEL_PATH=str(target))
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout.splitlines()[-1])
    assert info["path"] == str(target.parent / info["version"]) and Path(info["path"], "model.skops").is_file()
    assert not target.exists() and not (target.parent / "live").exists() and info["live"] is None
    assert not (tmp_path / "var").exists()  # no database to read corrections from: none is created
    assert info["data_hash"] and info["version"] and info["metrics"]["macro_f1"] > 0.5
    assert {"scikit-learn", "skops", "langdetect"} <= set(info["libraries"])


def test_missing_or_corrupted_model_is_a_clear_error(tmp_path: Path) -> None:
    missing = run(["classify", str(SAMPLES)], tmp_path, TRIAGE_TRIAGE__MODEL_PATH=str(tmp_path / "none.skops"),
                  TRIAGE_TRIAGE__AUTO_TRAIN="false")
    assert missing.returncode == 1 and "triage train" in missing.stderr and "Traceback" not in missing.stderr
    (tmp_path / "bad.skops").write_bytes(b"PK\x03\x04 garbage")
    corrupted = run(["classify", str(SAMPLES)], tmp_path, TRIAGE_TRIAGE__MODEL_PATH=str(tmp_path / "bad.skops"))
    assert corrupted.returncode == 1 and "corrupted" in corrupted.stderr and "Traceback" not in corrupted.stderr


def test_ingest_triages_and_retriage_redoes_it(tmp_path: Path, model_env: dict[str, str]) -> None:
    env = {**model_env, "TRIAGE_DATABASE_URL": f"sqlite:///{tmp_path / 't.db'}"}
    ingested = run(["ingest", str(SAMPLES), "--json"], tmp_path, **env)
    assert ingested.returncode == 0, ingested.stderr
    listing = run(["inquiries", "list", "--json", "--limit", "100"], tmp_path, **env)
    assert {json.loads(line)["state"] for line in listing.stdout.splitlines()} == {"triaged", "routed"}
    again = run(["retriage", "--since", "2000-01-01", "--json"], tmp_path, **env)
    counts = json.loads(again.stdout.splitlines()[-1])
    assert counts["triaged"] == sample_count() and counts["failed"] == 0
    assert run(["retriage"], tmp_path, **env).returncode == 2
    assert run(["retriage", "--since", "yesterday"], tmp_path, **env).returncode == 2


def test_check_config_rejects_an_unknown_topic_with_its_line(tmp_path: Path) -> None:
    rules = (ROOT / "config" / "routing.toml").read_text(encoding="utf-8")
    rules = rules.replace('signals = ["multi_topic"]', 'signals = ["multi_topic"]\ntopic = ["fees", "renewals"]')
    (tmp_path / "routing.toml").write_text(rules, encoding="utf-8")
    config = tmp_path / "triage.toml"
    config.write_text(f'[triage]\nrouting = "{tmp_path / "routing.toml"}"\n', encoding="utf-8")
    result = run(["--config", str(config), "check-config"], tmp_path)
    line = next(n for n, text in enumerate(rules.splitlines(), 1) if "renewals" in text)
    assert result.returncode == 1
    assert f"routing.toml:{line}: rule 'several-topics': unknown topic 'renewals'" in result.stdout
