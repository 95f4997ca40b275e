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

from classifiers.config import load_triage_config
from classifiers.corpus import corpus_files, read_corpus
from classifiers.model import TriageModel
from classifiers.versions import MODEL_FILE, ModelRegistry
from pipeline.config import DatabaseSettings, DeskSettings, RetrainingSettings, Settings, TriageSettings
from pipeline.daemon import Daemon
from pipeline.leases import LeaseKeeper
from pipeline.desks import DEFAULT_DESK, all_desks
from pipeline.ingest import Ingestor
from pipeline.rounds.retraining import LEASE_MAILBOX, RetrainingOutcome, ScheduledRetraining
from pipeline.runtime import Runtime, open_runtime
from pipeline.sources.files import iter_paths
from pipeline.store.decisions import add_label
from pipeline.store.leases import live_leases
from pipeline.store.models import AuditEvent, Inquiry
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


def _only(outcomes: dict[str, RetrainingOutcome]) -> RetrainingOutcome:
    """The outcome of a one-desk install's run: the default desk's, the only one."""
    assert set(outcomes) == {DEFAULT_DESK}, outcomes
    return outcomes[DEFAULT_DESK]


def test_off_by_default_no_job_and_nothing_done(setup: tuple[Runtime, ModelRegistry]) -> None:
    runtime, registry = setup
    assert Settings().retraining.schedule == "off" and not Settings().retraining.auto_promote
    off = _with(runtime, schedule="off")
    assert ScheduledRetraining(off)() == {}
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
    outcome = _only(ScheduledRetraining(runtime)())
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
    assert ScheduledRetraining(runtime)() == {}
    assert set(ScheduledRetraining(runtime, clock=lambda: _later(8))()) == {DEFAULT_DESK}
    state = retraining_state(runtime.session_factory, runtime.settings.retraining)
    assert state.result == "kept" and not state.due and state.next_run is not None
    assert state.next_run - state.last_run == timedelta(days=7)  # type: ignore[operator]


def _scrambled_model(tmp_path: Path) -> TriageModel:
    """A model trained on the tiny corpus with its training topics shuffled: clearly worse on the held-out split."""
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
    first = _only(ScheduledRetraining(promoting)())  # nothing live and no model file: nothing to be worse than
    assert first is not None and first.result == "promoted" and registry.live() == first.candidate
    same = _only(ScheduledRetraining(promoting, clock=lambda: _later(8))())  # no new data: the live model again
    assert same is not None and same.result == "unchanged" and registry.live() == first.candidate

    worse = _scrambled_model(tmp_path)
    registry.add(worse, trained_by="ann")
    registry.promote(worse.version, actor="ann", force=True)
    better = _only(ScheduledRetraining(promoting, clock=lambda: _later(16))())
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
    outcome = _only(ScheduledRetraining(_with(runtime, auto_promote=True))())
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
    outcome = _only(ScheduledRetraining(_with(runtime, auto_promote=True))())
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
    outcome = _only(ScheduledRetraining(_with(runtime, auto_promote=True))())
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
    assert ScheduledRetraining(runtime, leases=second)() == {}
    assert registry.versions() == [] and _events(runtime) == []
    first.give_back(held)
    outcome = _only(ScheduledRetraining(runtime, leases=second)())
    assert outcome is not None and outcome.result == "kept"
    assert ScheduledRetraining(runtime, leases=first)() == {}  # done for this period, whoever asks
    assert [r for r in live_leases(runtime.session_factory) if r.mailbox == LEASE_MAILBOX] == []  # given back


def test_status_and_the_models_page_show_the_schedule(setup: tuple[Runtime, ModelRegistry], tmp_path: Path) -> None:
    from tests.e2e.web import Browser, context_for, make_user, serve_in_thread

    runtime, registry = setup
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")} | {
        "TRIAGE_DATABASE_URL": runtime.settings.database.url, "TRIAGE_RETRAINING__SCHEDULE": "daily"}
    before = subprocess.run(TRIAGE + ["status"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert "retraining: daily (every 24 h), auto-promote off; never run; next run due now" in before.stdout, before
    outcome = _only(ScheduledRetraining(_with(runtime, schedule="daily"))())
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


# Several desks: each desk's model retrained on its own, in one run, each with its own corrections, registry and
# due date. The renewal desk's corpus (data/corpus/renewals, ~200 examples) trains in a few seconds.

RENEWALS = "renewals"


def _desk_settings(tmp_path: Path, **renewals: Any) -> Settings:
    """The small registry corpus plus the renewal desk (its own registry folder unless ``model_path`` says else)."""
    models = tmp_path / "models"
    desk = {"name": "Renewals", "folder": ROOT / "config" / "desks" / "renewals",
            "corpus": ROOT / "data" / "corpus" / "renewals", "languages": ("en", "fr", "es", "de"),
            "model_path": tmp_path / "renewal-models" / "triage-model.skops"} | renewals
    return Settings(
        database=DatabaseSettings(url=f"sqlite:///{tmp_path / 't.db'}"),
        triage=TriageSettings(model_path=models / "triage-model.skops", corpus=_small_corpus(tmp_path / "corpus"),
                              auto_train=False),
        desks={RENEWALS: DeskSettings(**{k: v for k, v in desk.items() if v is not None})},
        retraining=RetrainingSettings(schedule="weekly"),
    )


@pytest.fixture
def desks(tmp_path: Path) -> Iterator[tuple[Runtime, ModelRegistry, ModelRegistry]]:
    runtime = open_runtime(_desk_settings(tmp_path))
    try:
        yield runtime, ModelRegistry(tmp_path / "models"), ModelRegistry(tmp_path / "renewal-models")
    finally:
        runtime.close()


def _labelled(runtime: Runtime, labels: list[tuple[str | None, str, str]]) -> list[int]:
    """Stored inquiries (not triaged) filed to a desk (None: before desks) with a topic and language label each."""
    samples = [ROOT / "data" / "samples" / name for name in ("renewals/r01-en-owner-update.eml", "02-en-fees.eml",
                                                               "01-en-renewal.eml")]
    ids = Ingestor(runtime.session_factory, limits=runtime.parse_limits,
                   sink=lambda ids: None).ingest(iter_paths(samples[:len(labels)])).inquiry_ids
    assert len(ids) == len(labels)
    with runtime.session_factory.begin() as session:
        for inquiry_id, (desk, topic, language) in zip(ids, labels):
            session.get(Inquiry, inquiry_id).desk = desk  # type: ignore[union-attr]
            add_label(session, inquiry_id, "topic", topic, "ann")
            add_label(session, inquiry_id, "language", language, "ann")
    return ids


def _training_spy(monkeypatch: pytest.MonkeyPatch) -> dict[Path, list[int]]:
    """Which corrected inquiries each training (by its corpus folder) was given."""
    import classifiers.retrain as retrain

    seen: dict[Path, list[int]] = {}
    real = retrain.train_candidate

    def spy(settings: TriageSettings, config: Any, corrections: Any = (), **kwargs: Any) -> Any:
        seen[settings.corpus] = sorted(c.inquiry_id for c in corrections)
        return real(settings, config, corrections, **kwargs)

    monkeypatch.setattr(retrain, "train_candidate", spy)
    return seen


def test_every_desk_is_retrained_into_its_own_registry_with_its_own_corrections(
        desks: tuple[Runtime, ModelRegistry, ModelRegistry], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    runtime, registry, renewals = desks
    renewal_id, registry_id, older_id = _labelled(runtime, [(RENEWALS, "records", "en"), (DEFAULT_DESK, "fees", "en"),
                                                            (None, "fees", "en")])
    seen = _training_spy(monkeypatch)
    caplog.set_level(logging.INFO, logger="pipeline.rounds.retraining")
    outcomes = ScheduledRetraining(_with(runtime, auto_promote=True))()
    assert list(outcomes) == [DEFAULT_DESK, RENEWALS]  # the default desk first
    mine, theirs = outcomes[DEFAULT_DESK], outcomes[RENEWALS]
    assert (mine.result, theirs.result) == ("promoted", "promoted"), outcomes
    assert (mine.desk, theirs.desk) == (DEFAULT_DESK, RENEWALS) and mine.candidate != theirs.candidate
    # each desk's version in its own registry, live there only
    assert [e.version for e in registry.versions()] == [mine.candidate] and registry.live() == mine.candidate
    assert [e.version for e in renewals.versions()] == [theirs.candidate] and renewals.live() == theirs.candidate
    assert renewals.entry(theirs.candidate).extra["desk"] == RENEWALS  # type: ignore[arg-type]
    renewal_topics = load_triage_config(all_desks(runtime.settings)[RENEWALS].triage).taxonomy.topic_ids
    assert set(renewals.load(theirs.candidate).info.topics) == set(renewal_topics)  # the renewal desk's taxonomy
    # a renewal-desk correction reaches the renewal desk's training only; one without a desk is the default desk's
    assert seen == {runtime.settings.triage.corpus: sorted([registry_id, older_id]),
                    ROOT / "data" / "corpus" / "renewals": [renewal_id]}
    assert (mine.corrections, theirs.corrections) == (2, 1)
    assert theirs.held_out > 10 and set(theirs.figures) == {theirs.candidate}
    # one event, one log line per desk, each naming its desk
    assert [(e.details["desk"], e.details["result"]) for e in _events(runtime)] == [
        (DEFAULT_DESK, "promoted"), (RENEWALS, "promoted")]
    assert [(e.details["desk"], e.details["version"]) for e in _events(runtime, "model_trained")] == [
        (DEFAULT_DESK, mine.candidate), (RENEWALS, theirs.candidate)]
    assert [(e.details["desk"], e.details["version"]) for e in _events(runtime, "model_promoted")] == [
        (DEFAULT_DESK, mine.candidate), (RENEWALS, theirs.candidate)]
    lines = [r.getMessage() for r in caplog.records if r.name == "pipeline.rounds.retraining"]
    assert [line.split(":")[1].strip() for line in lines] == [f"desk {DEFAULT_DESK}", f"desk {RENEWALS}"], lines
    assert f"model {theirs.candidate} trained with 1 correction(s)" in lines[1]
    state = retraining_state(runtime.session_factory, runtime.settings.retraining, desk=RENEWALS)
    assert state.result == "promoted" and state.details["candidate"] == theirs.candidate and not state.due


def test_a_corrupted_live_model_fails_only_its_desk(
        desks: tuple[Runtime, ModelRegistry, ModelRegistry], triage_model: TriageModel,
        caplog: pytest.LogCaptureFixture) -> None:
    runtime, registry, renewals = desks
    renewals.add(triage_model, trained_by="ann")
    renewals.promote(triage_model.version, actor="ann")
    (renewals.folder(triage_model.version) / MODEL_FILE).write_bytes(b"PK\x03\x04 broken")
    caplog.set_level(logging.INFO)
    outcomes = ScheduledRetraining(_with(runtime, auto_promote=True))()
    assert {desk: o.result for desk, o in outcomes.items()} == {DEFAULT_DESK: "promoted", RENEWALS: "failed"}
    assert registry.live() == outcomes[DEFAULT_DESK].candidate
    assert renewals.live() == triage_model.version
    assert [e.version for e in renewals.versions()] == [triage_model.version]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].startswith(f"retraining: scheduled run failed: desk {RENEWALS}: "), errors
    assert [(e.details["desk"], e.details["result"]) for e in _events(runtime)] == [
        (DEFAULT_DESK, "promoted"), (RENEWALS, "failed")]
    assert "corrupted" in _events(runtime)[1].details["error"]
    # the daemon's job wrapper counts the failing desk once, and the other desk ran all the same
    daemon = Daemon(_with(runtime, auto_promote=True), {}, sink=lambda ids: None)
    daemon.retraining.clock = lambda: _later(8)  # type: ignore[union-attr]
    daemon._run_retraining()
    assert daemon.counters.errors.labels(round="retraining")._value.get() == 1
    assert [(e.details["desk"], e.details["result"]) for e in _events(runtime)][2:] == [
        (DEFAULT_DESK, "unchanged"), (RENEWALS, "failed")]


def test_each_desk_is_due_on_its_own(desks: tuple[Runtime, ModelRegistry, ModelRegistry]) -> None:
    from pipeline.store import repository as repo
    from pipeline.store.db import unit_of_work

    runtime, registry, renewals = desks
    with unit_of_work(runtime.session_factory) as session:  # a run recorded before desks were retrained each
        repo.record_event(session, RETRAINING_EVENT, actor="scheduled-retraining", details={"result": "kept"})
    assert retraining_state(runtime.session_factory, runtime.settings.retraining).result == "kept"
    assert retraining_state(runtime.session_factory, runtime.settings.retraining, desk=RENEWALS).due
    first = ScheduledRetraining(runtime)()
    assert set(first) == {RENEWALS} and first[RENEWALS].result == "kept"  # the default desk ran recently
    assert registry.versions() == [] and len(renewals.versions()) == 1
    assert ScheduledRetraining(runtime)() == {}  # both ran within the period
    legacy, renewal = _events(runtime)
    assert legacy.at < renewal.at
    a_week_after_the_legacy_run = legacy.at + timedelta(days=7)
    second = ScheduledRetraining(runtime, clock=lambda: a_week_after_the_legacy_run)()
    assert set(second) == {DEFAULT_DESK} and second[DEFAULT_DESK].result == "kept"  # the renewal desk is not due
    assert len(registry.versions()) == 1 and len(renewals.versions()) == 1
    assert [e.details.get("desk") for e in _events(runtime)] == [None, RENEWALS, DEFAULT_DESK]


def test_a_desk_sharing_a_registry_folder_is_refused_and_one_sharing_the_model_trains_with_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the renewal model put beside the default one (check-config names it): one folder, one live pointer
    settings = _desk_settings(tmp_path, model_path=tmp_path / "models" / "triage-model-renewals.skops")
    settings = settings.model_copy(update={"desks": settings.desks | {"designs": DeskSettings(name="Designs")}})
    runtime = open_runtime(settings)
    try:
        registry = ModelRegistry(tmp_path / "models")
        renewal_id, design_id = _labelled(runtime, [(RENEWALS, "records", "en"), ("designs", "fees", "en")])
        seen = _training_spy(monkeypatch)
        outcomes = ScheduledRetraining(_with(runtime, auto_promote=True))()
        assert {desk: o.result for desk, o in outcomes.items()} == {DEFAULT_DESK: "promoted", RENEWALS: "failed"}
        assert "[desks.renewals] model_path" in (outcomes[RENEWALS].error or "")
        assert [e.version for e in registry.versions()] == [outcomes[DEFAULT_DESK].candidate]
        assert seen == {settings.triage.corpus: [design_id]}  # the designs desk triages with the default model
        assert [(e.details["desk"], e.details["result"]) for e in _events(runtime)] == [
            (DEFAULT_DESK, "promoted"), (RENEWALS, "failed")]
    finally:
        runtime.close()
