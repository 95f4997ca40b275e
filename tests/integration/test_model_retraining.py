"""Retraining from staff corrections on a real database, and the registry commands run as real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from classifiers.corrections import corrections_of, merge_corrections
from pipeline.config import DatabaseSettings, Settings
from pipeline.ingest import Ingestor
from pipeline.rounds.triage import TriageService
from pipeline.runtime import Runtime, open_runtime
from pipeline.sources.files import iter_paths
from pipeline.store.decisions import add_label, current_decision
from pipeline.store.labels import labelled_inquiries
from pipeline.store.models import AuditEvent, Inquiry, Message

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "data" / "samples"
TRIAGE = [str(Path(sys.executable).with_name("triage"))]


def _ingest(runtime: Runtime, model, config) -> list[int]:  # type: ignore[no-untyped-def]
    service = TriageService(runtime.session_factory, model=model, config=config)
    stats = Ingestor(runtime.session_factory, limits=runtime.parse_limits, sink=service).ingest(iter_paths([SAMPLES]))
    return stats.inquiry_ids


def test_labelled_inquiries_give_the_latest_label_per_field_with_text_thread_and_decision(
        runtime: Runtime, triage_model, triage_config) -> None:  # type: ignore[no-untyped-def]
    ids = _ingest(runtime, triage_model, triage_config)
    with runtime.session_factory.begin() as session:
        decision = current_decision(session, ids[0])
        add_label(session, ids[0], "topic", "general", "ann", decision_id=decision.id)
        add_label(session, ids[0], "topic", "fees", "ben", decision_id=decision.id)  # the later one wins
        add_label(session, ids[1], "queue", "legal", "ann")
        add_label(session, ids[1], "entities", [{"kind": "amount", "value": "CHF 1"}], "ann")  # not training data
        add_label(session, ids[2], "entities", [], "ann")
    with runtime.session_factory() as session:
        found = {r.inquiry_id: r for r in labelled_inquiries(session)}
        first = session.get(Inquiry, ids[0])
        message = session.get(Message, first.message_pk)
        assert set(found) == {ids[0], ids[1]}
        assert found[ids[0]].labels == {"topic": "fees"}
        assert found[ids[1]].labels == {"queue": "legal"}
        assert found[ids[0]].thread_id == message.thread_id and found[ids[0]].subject == message.subject
        assert found[ids[0]].text.startswith(first.new_text) and found[ids[0]].topic == decision.topic
        assert found[ids[0]].language == decision.language


def test_corrections_from_the_database_join_the_training_data(runtime: Runtime, triage_model, triage_config) -> None:  # type: ignore[no-untyped-def]
    ids = _ingest(runtime, triage_model, triage_config)
    with runtime.session_factory.begin() as session:
        for inquiry_id in ids[:4]:
            add_label(session, inquiry_id, "topic", "fees", "ann")
        add_label(session, ids[4], "topic", "retired_topic", "ann")
    with runtime.session_factory() as session:
        rows = labelled_inquiries(session)
    corrections = corrections_of(rows)
    merged = merge_corrections([], "h", corrections, triage_config.taxonomy, min_per_topic=0)
    assert merged.used == 4 and merged.unknown_topic == 1
    assert {e.topic for e in merged.examples} == {"fees"}


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")} | env
    return subprocess.run(TRIAGE + args, cwd=cwd, env=environment, capture_output=True, text=True, timeout=600)


def test_train_with_corrections_then_list_promote_compare_and_rollback(
        tmp_path: Path, triage_model, triage_config) -> None:  # type: ignore[no-untyped-def]
    from classifiers.versions import ModelRegistry

    database = f"sqlite:///{tmp_path / 't.db'}"
    runtime = open_runtime(Settings(database=DatabaseSettings(url=database)))
    try:
        ids = _ingest(runtime, triage_model, triage_config)
        with runtime.session_factory.begin() as session:
            add_label(session, ids[0], "topic", "fees", "ann")
            add_label(session, ids[1], "topic", "no_longer_a_topic", "ann")
    finally:
        runtime.close()
    models = tmp_path / "models"
    env = {"TRIAGE_DATABASE_URL": database, "TRIAGE_TRIAGE__MODEL_PATH": str(models / "triage-model.skops"),
           "TRIAGE_TRIAGE__AUTO_TRAIN": "false"}

    trained = _run(["train", "--json", "--by", "ann"], tmp_path, env)
    assert trained.returncode == 0, trained.stderr
    info = json.loads(trained.stdout.splitlines()[-1])
    version = info["version"]
    assert {"version", "macro_f1", "per_topic", "per_language", "seconds", "data_hash", "metrics"} <= set(info)
    assert info["macro_f1"] > 0.5 and info["corrections"] == 1 and info["skipped_unknown_topic"] == 1
    assert "no longer has" in trained.stderr and "\r" not in trained.stderr  # no progress bar off a terminal
    assert info["live"] is None and not (models / "live").exists() and not (models / "triage-model.skops").exists()
    assert (models / version / "model.skops").is_file()

    listed = _run(["models", "list", "--json"], tmp_path, env)
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["version"], r["live"], r["trained_by"]) for r in rows] == [(version, False, "ann")]

    promoted = _run(["models", "promote", version, "--by", "ann"], tmp_path, env)
    assert promoted.returncode == 0 and f"model {version} is live" in promoted.stdout
    assert ModelRegistry(models).live() == version
    classified = _run(["classify", str(SAMPLES / "01-en-renewal.eml"), "--json"], tmp_path, env)
    assert classified.returncode == 0, classified.stderr

    compared = _run(["models", "compare", version, "live", "--json"], tmp_path, env)
    assert compared.returncode == 0, compared.stderr
    report = json.loads(compared.stdout)
    assert report["held_out"] > 100 and report["changes"] == []  # the same model decides the same
    assert report["models"][version]["macro_f1"] == info["macro_f1"]  # the held-out data training used

    again = _run(["models", "rollback"], tmp_path, env)
    assert again.returncode == 1 and "no earlier live model" in again.stderr and "Traceback" not in again.stderr
    refused = _run(["models", "promote", "nothing-here"], tmp_path, env)
    assert refused.returncode == 1 and "no model version nothing-here" in refused.stderr

    runtime = open_runtime(Settings(database=DatabaseSettings(url=database)))
    try:
        with runtime.session_factory() as session:
            events = session.scalars(select(AuditEvent).where(AuditEvent.event == "model_promoted")).all()
            assert [(e.actor, e.details["version"]) for e in events] == [("ann", version)]
    finally:
        runtime.close()


def test_label_next_offers_the_least_confident_then_the_corrected_and_labels_directly(
        tmp_path: Path, triage_model, triage_config) -> None:  # type: ignore[no-untyped-def]
    from pipeline.store.labels import labelled_inquiries

    database = f"sqlite:///{tmp_path / 't.db'}"
    runtime = open_runtime(Settings(database=DatabaseSettings(url=database)))
    try:
        ids = _ingest(runtime, triage_model, triage_config)
    finally:
        runtime.close()
    env = {"TRIAGE_DATABASE_URL": database}
    offered = _run(["label", "--next", "--json", "--limit", str(len(ids))], tmp_path, env)
    assert offered.returncode == 0, offered.stderr
    rows = [json.loads(line) for line in offered.stdout.splitlines()]
    assert len(rows) == len(ids) and not any(r["corrected"] for r in rows)
    confidences = [r["confidence"] for r in rows]
    assert confidences == sorted(confidences)
    first = rows[0]["inquiry_id"]
    done = _run(["label", str(first), "--topic", "fees", "--language", "FR", "--by", "ann"], tmp_path, env)
    assert done.returncode == 0 and "labelled: topic fees, language fr" in done.stdout
    again = [json.loads(line) for line in _run(["label", "--next", "--json", "--limit", str(len(ids))], tmp_path, env).stdout.splitlines()]
    assert [r["inquiry_id"] for r in again][-1] == first and again[-1]["corrected"] and not again[0]["corrected"]
    bad = _run(["label", str(first), "--topic", "no_such"], tmp_path, env)
    assert bad.returncode == 2 and "unknown topic" in bad.stderr
    runtime = open_runtime(Settings(database=DatabaseSettings(url=database)))
    try:
        with runtime.session_factory() as session:
            assert [r.labels for r in labelled_inquiries(session)] == [{"topic": "fees", "language": "fr"}]
    finally:
        runtime.close()
