"""Scheduled retraining (`[retraining]`): the daemon's job run directly on a tiny corpus and a real database -
off by default, trains and compares, promotes only with auto_promote and a passing gate, never two at once, a
concurrent promotion wins cleanly, failures are one log line; the state on `triage status` and the models page."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from classifiers.corpus import corpus_files, read_corpus
from classifiers.model import TriageModel
from classifiers.versions import MODEL_FILE, ModelRegistry
from pipeline.config import DatabaseSettings, RetrainingSettings, Settings, TriageSettings
from pipeline.daemon import Daemon
from pipeline.leases import LeaseKeeper
from pipeline.rounds.retraining import LEASE_MAILBOX, ScheduledRetraining
from pipeline.runtime import Runtime, open_runtime
from pipeline.store.leases import live_leases
from pipeline.store.models import AuditEvent
from pipeline.store.retraining import RETRAINING_EVENT, retraining_state

ROOT = Path(__file__).resolve().parents[2]
TRIAGE = [str(Path(sys.executable).with_name("triage"))]


def _small_corpus(folder: Path) -> Path:
    """A few examples per topic and language of the real corpus: trains in about a second."""
    examples, _ = read_corpus(corpus_files(ROOT / "data" / "corpus"))
    seen: Counter[tuple[str, str, str]] = Counter()
    rows = []
    for e in examples:
        key = (e.topic, e.language, e.split)
        if e.language in ("en", "fr") and seen[key] < (8 if e.split == "train" else 2):
            seen[key] += 1
            rows.append({"id": e.id, "language": e.language, "topic": e.topic, "subject": e.subject, "body": e.body,
                         "split": e.split, "thread": e.thread, "intents": list(e.intents or []),
                         "standard": e.standard, "queue": e.queue, "hold_reason": e.hold_reason})
    folder.mkdir()
    (folder / "small.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return folder


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Runtime, ModelRegistry]]:
    models = tmp_path / "models"
    settings = Settings(
        database=DatabaseSettings(url=f"sqlite:///{tmp_path / 't.db'}"),
        triage=TriageSettings(model_path=models / "triage-model.skops", corpus=_small_corpus(tmp_path / "corpus"),
                              auto_train=False),
        retraining=RetrainingSettings(schedule="weekly"),
    )
    runtime = open_runtime(settings)
    try:
        yield runtime, ModelRegistry(models)
    finally:
        runtime.close()


def _with(runtime: Runtime, **retraining: Any) -> Runtime:
    return replace(runtime, settings=runtime.settings.model_copy(
        update={"retraining": runtime.settings.retraining.model_copy(update=retraining)}))


def _events(runtime: Runtime, name: str = RETRAINING_EVENT) -> list[AuditEvent]:
    with runtime.session_factory() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.event == name).order_by(AuditEvent.id)))


def _later(days: float) -> datetime:
    return datetime.now(timezone.utc) + timedelta(days=days)


def test_off_by_default_no_job_and_nothing_done(setup: tuple[Runtime, ModelRegistry]) -> None:
    runtime, registry = setup
    assert Settings().retraining.schedule == "off" and not Settings().retraining.auto_promote
    off = _with(runtime, schedule="off")
    assert ScheduledRetraining(off)() is None
    assert registry.versions() == [] and _events(runtime) == []
    daemon = Daemon(off, {}, sink=lambda ids: None)
    daemon.start()
    try:
        assert daemon.scheduler.get_job("retraining") is None
    finally:
        daemon.shutdown()
    daemon = Daemon(runtime, {}, sink=lambda ids: None)  # weekly: one job, first look a minute after start
    daemon.start()
    try:
        job = daemon.scheduler.get_job("retraining")
        assert job is not None and job.next_run_time > datetime.now(timezone.utc)
    finally:
        daemon.shutdown()


def test_trains_compares_and_keeps_the_live_model_without_auto_promote(
        setup: tuple[Runtime, ModelRegistry], triage_model: TriageModel, caplog: pytest.LogCaptureFixture) -> None:
    runtime, registry = setup
    registry.add(triage_model, trained_by="ann")
    registry.promote(triage_model.version, actor="ann")
    caplog.set_level(logging.INFO, logger="pipeline.rounds.retraining")
    outcome = ScheduledRetraining(runtime)()
    assert outcome is not None and outcome.result == "kept", outcome
    assert registry.live() == triage_model.version  # never made live without auto_promote
    candidate = outcome.candidate
    assert candidate is not None and candidate in {e.version for e in registry.versions()}
    assert registry.entry(candidate).trained_by == "scheduled-retraining"
    assert set(outcome.figures) == {candidate, triage_model.version} and outcome.held_out > 10
    [event] = _events(runtime)
    assert event.details["result"] == "kept" and event.details["live"] == triage_model.version
    assert event.details["figures"][candidate]["macro_f1"] is not None
    assert event.details["figures"][triage_model.version]["macro_f1"] is not None
    [line] = [r.getMessage() for r in caplog.records if r.name == "pipeline.rounds.retraining"]
    assert f"model {candidate} trained" in line and f"live {triage_model.version}" in line and "auto_promote is off" in line
    assert [e.details["version"] for e in _events(runtime, "model_trained")] == [candidate]
    # once per period, whichever daemon asks (the database remembers the last run)
    assert ScheduledRetraining(runtime)() is None
    assert ScheduledRetraining(runtime, clock=lambda: _later(8))() is not None
    state = retraining_state(runtime.session_factory, runtime.settings.retraining)
    assert state.result == "kept" and not state.due and state.next_run is not None
    assert state.next_run - state.last_run == timedelta(days=7)  # type: ignore[operator]


def _scrambled_model(tmp_path: Path) -> TriageModel:
    """A model trained on the tiny corpus with its training topics shuffled: clearly worse on the held-out split."""
    from classifiers.config import load_triage_config
    from classifiers.retrain import train_candidate

    folder = _small_corpus(tmp_path / "scrambled")
    rows = [json.loads(line) for line in (folder / "small.jsonl").read_text(encoding="utf-8").splitlines()]
    topics = [r["topic"] for r in rows if r["split"] == "train"]
    shifted = iter(topics[7:] + topics[:7])
    for r in rows:
        if r["split"] == "train":
            r["topic"] = next(shifted)
    (folder / "small.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    settings = TriageSettings(corpus=folder, auto_train=False)
    return train_candidate(settings, load_triage_config(settings)).model


def test_auto_promote_with_a_passing_gate_makes_it_live(setup: tuple[Runtime, ModelRegistry], tmp_path: Path) -> None:
    runtime, registry = setup
    promoting = _with(runtime, auto_promote=True)
    first = ScheduledRetraining(promoting)()  # nothing live and no model file: nothing to be worse than
    assert first is not None and first.result == "promoted" and registry.live() == first.candidate
    same = ScheduledRetraining(promoting, clock=lambda: _later(8))()  # no new data: the live model again
    assert same is not None and same.result == "unchanged" and registry.live() == first.candidate

    worse = _scrambled_model(tmp_path)
    registry.add(worse, trained_by="ann")
    registry.promote(worse.version, actor="ann", force=True)
    better = ScheduledRetraining(promoting, clock=lambda: _later(16))()
    assert better is not None and better.result == "promoted", better.problems
    assert better.live == worse.version and registry.live() == better.candidate == first.candidate
    assert better.figures[first.candidate]["macro_f1"] > better.figures[worse.version]["macro_f1"]  # type: ignore[index]
    promoted = _events(runtime, "model_promoted")
    assert [(e.actor, e.details["version"], e.details["previous"]) for e in promoted] == [
        ("scheduled-retraining", first.candidate, None), ("scheduled-retraining", first.candidate, worse.version)]
    assert [h["version"] for h in registry.history()] == [first.candidate, worse.version, first.candidate]
    assert [e.details["result"] for e in _events(runtime)] == ["promoted", "unchanged", "promoted"]


def test_the_gate_refuses_a_worse_model_even_with_auto_promote(
        setup: tuple[Runtime, ModelRegistry], triage_model: TriageModel, caplog: pytest.LogCaptureFixture) -> None:
    runtime, registry = setup
    registry.add(triage_model, trained_by="ann")  # trained on the whole corpus: the tiny one cannot match it
    registry.promote(triage_model.version, actor="ann")
    caplog.set_level(logging.INFO, logger="pipeline.rounds.retraining")
    outcome = ScheduledRetraining(_with(runtime, auto_promote=True))()
    assert outcome is not None and outcome.result == "refused"
    assert registry.live() == triage_model.version and outcome.problems
    assert any("below the live model's" in p for p in outcome.problems)
    [event] = _events(runtime)
    assert event.details["result"] == "refused" and event.details["problems"] == outcome.problems
    assert _events(runtime, "model_promoted") == []
    assert "not made live: " in caplog.text


def test_a_concurrent_promotion_wins_cleanly(setup: tuple[Runtime, ModelRegistry], triage_model: TriageModel,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import classifiers.retrain as retrain

    runtime, registry = setup
    other = replace(triage_model, info=replace(triage_model.info, version="admins-pick", metrics={}))
    registry.add(other, trained_by="ada")
    real = retrain.held_out

    def admin_promotes_meanwhile(*args: Any, **kwargs: Any) -> Any:
        registry.promote("admins-pick", actor="ada")
        return real(*args, **kwargs)

    monkeypatch.setattr(retrain, "held_out", admin_promotes_meanwhile)
    outcome = ScheduledRetraining(_with(runtime, auto_promote=True))()
    assert outcome is not None and outcome.result == "conflict" and "changed to admins-pick" in outcome.problems[0]
    assert registry.live() == "admins-pick" and [h["version"] for h in registry.history()] == ["admins-pick"]
    assert registry.load("admins-pick").version == "admins-pick"


@pytest.mark.parametrize("fault", ["corrupted live model file", "bad corpus"])
def test_a_failing_run_is_one_log_line_recorded_and_never_raised(
        setup: tuple[Runtime, ModelRegistry], triage_model: TriageModel, caplog: pytest.LogCaptureFixture,
        fault: str) -> None:
    runtime, registry = setup
    registry.add(triage_model, trained_by="ann")
    registry.promote(triage_model.version, actor="ann")
    if fault == "bad corpus":
        (runtime.settings.triage.corpus / "small.jsonl").write_text('{"id": "x", "topic": \n', encoding="utf-8")
    else:
        (registry.folder(triage_model.version) / MODEL_FILE).write_bytes(b"PK\x03\x04 broken")
    caplog.set_level(logging.INFO)
    outcome = ScheduledRetraining(_with(runtime, auto_promote=True))()
    assert outcome is not None and outcome.result == "failed"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is None and "\n" not in errors[0].getMessage()
    assert errors[0].getMessage().startswith("retraining: scheduled run failed: ")
    assert registry.live() == triage_model.version and [e.version for e in registry.versions()] == [triage_model.version]
    [event] = _events(runtime)
    assert event.details["result"] == "failed" and event.details["error"]
    # the daemon's job wrapper goes on too (and counts the failure)
    daemon = Daemon(_with(runtime, auto_promote=True), {}, sink=lambda ids: None)
    daemon.retraining.clock = lambda: _later(8)  # type: ignore[union-attr]
    daemon._run_retraining()
    assert daemon.counters.errors.labels(round="retraining")._value.get() == 1


def test_only_the_daemon_holding_the_lease_runs_it(setup: tuple[Runtime, ModelRegistry]) -> None:
    runtime, registry = setup
    first = LeaseKeeper(runtime.session_factory, seconds=60, holder="host-a:1:aaaa")
    second = LeaseKeeper(runtime.session_factory, seconds=60, holder="host-b:2:bbbb")
    claim, held = first.try_take(LEASE_MAILBOX, str(registry.root))  # daemon A is retraining
    assert claim.granted and held is not None
    assert ScheduledRetraining(runtime, leases=second)() is None
    assert registry.versions() == [] and _events(runtime) == []
    first.give_back(held)
    outcome = ScheduledRetraining(runtime, leases=second)()
    assert outcome is not None and outcome.result == "kept"
    assert ScheduledRetraining(runtime, leases=first)() is None  # done for this period, whoever asks
    assert [r for r in live_leases(runtime.session_factory) if r.mailbox == LEASE_MAILBOX] == []  # given back


def test_status_and_the_models_page_show_the_schedule(setup: tuple[Runtime, ModelRegistry], tmp_path: Path) -> None:
    from tests.e2e.web import Browser, context_for, make_user, serve_in_thread

    runtime, registry = setup
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")} | {
        "TRIAGE_DATABASE_URL": runtime.settings.database.url, "TRIAGE_RETRAINING__SCHEDULE": "daily"}
    before = subprocess.run(TRIAGE + ["status"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert "retraining: daily (every 24 h), auto-promote off; never run; next run due now" in before.stdout, before
    outcome = ScheduledRetraining(_with(runtime, schedule="daily"))()
    assert outcome is not None
    after = subprocess.run(TRIAGE + ["status", "--json"], cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=300)
    [state] = [json.loads(line)["retraining"] for line in after.stdout.splitlines() if '"retraining"' in line]
    assert state["result"] == "kept" and state["last_run"] and state["next_run"] and not state["due"]
    quiet = subprocess.run(TRIAGE + ["status"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                           env=env | {"TRIAGE_RETRAINING__SCHEDULE": "off"})
    assert "retraining" not in quiet.stdout

    make_user(runtime, "ada", role="admin")
    ctx = context_for(runtime, tmp_path)
    with serve_in_thread(ctx) as server:
        browser = Browser(server.url)
        browser.login("ada")
        page = browser.get("/admin/models").text
        browser.close()
    assert "Scheduled retraining" in page and "weekly (every 168 h)" in page and "auto-promote" in page
    assert f"candidate {outcome.candidate}" in page and "Next run: " in page
