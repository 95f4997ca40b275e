"""The model registry: versions kept, one live, promotion gated and exclusive, rollback, bad files refused."""

from __future__ import annotations

import fcntl
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from classifiers.model import TriageModel
from classifiers.registry import load_or_train
from classifiers.versions import (
    LIVE_FILE,
    LOCK_FILE,
    MODEL_FILE,
    GateRefused,
    ModelRegistry,
    PromotionConflict,
    gate_verdict,
)
from pipeline.config import TriageSettings
from pipeline.errors import ClassifierError

GOOD = {"macro_f1": 0.9, "hold_recall": 0.8}


def _version(model: TriageModel, name: str, **metrics: Any) -> TriageModel:
    return replace(model, info=replace(model.info, version=name, metrics=dict(GOOD) | metrics))


@pytest.fixture(scope="module")
def stocked(triage_model: TriageModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry folder with versions a (good), b (better), c (worse); copied per test."""
    root = tmp_path_factory.mktemp("stock")
    registry = ModelRegistry(root)
    registry.add(_version(triage_model, "a"), trained_by="ann")
    registry.add(_version(triage_model, "b", macro_f1=0.92), trained_by="ben")
    registry.add(_version(triage_model, "c", macro_f1=0.7, hold_recall=0.85), trained_by="cat")
    return root


@pytest.fixture
def registry(stocked: Path, tmp_path: Path) -> ModelRegistry:
    import shutil

    root = tmp_path / "models"
    shutil.copytree(stocked, root)
    return ModelRegistry(root)


def test_adding_a_version_keeps_it_with_its_description_and_does_not_make_it_live(registry: ModelRegistry) -> None:
    assert registry.live() is None and not (registry.root / LIVE_FILE).exists()
    assert {e.version for e in registry.versions()} == {"a", "b", "c"}
    data = json.loads((registry.root / "b" / "metadata.json").read_text())
    assert data["version"] == "b" and data["trained_by"] == "ben" and data["metrics"]["macro_f1"] == 0.92
    assert data["data_hash"] and data["created_at"]
    assert registry.load("b").version == "b"


def test_promote_moves_the_pointer_and_records_who(registry: ModelRegistry) -> None:
    event = registry.promote("a", actor="ann")
    assert registry.live() == "a" and event["previous"] is None and event["actor"] == "ann"
    registry.promote("b", actor="ben")
    assert registry.live() == "b"
    assert [(e["action"], e["version"], e["actor"]) for e in registry.history()] == [
        ("promote", "a", "ann"), ("promote", "b", "ben")]


def test_a_worse_model_is_refused_unless_forced_or_within_the_margin(registry: ModelRegistry) -> None:
    registry.promote("a", actor="ann")
    with pytest.raises(GateRefused, match="macro_f1 0.7000 is below"):
        registry.promote("c", actor="cat")
    assert registry.live() == "a"
    with pytest.raises(GateRefused):
        registry.promote("c", actor="cat", margin=0.1)
    registry.promote("c", actor="cat", margin=0.25)
    assert registry.live() == "c"
    registry.rollback(actor="ann")
    registry.promote("c", actor="cat", force=True)
    assert registry.live() == "c" and registry.history()[-1]["forced"] is True


def test_gate_compares_macro_f1_and_hold_recall() -> None:
    assert gate_verdict({"macro_f1": 0.9, "hold_recall": 0.79}, GOOD) == [
        "hold_recall 0.7900 is below the live model's 0.8000 (margin 0.0000)"]
    assert gate_verdict({"macro_f1": 0.95, "hold_recall": 0.8}, GOOD) == []
    assert gate_verdict({"macro_f1": 0.95}, GOOD)[0].startswith("hold_recall: the candidate has no figure")
    assert gate_verdict({"macro_f1": 0.1}, {}) == []


def test_rollback_returns_to_the_previous_live_version_step_by_step(registry: ModelRegistry) -> None:
    with pytest.raises(ClassifierError, match="no earlier live model"):
        registry.rollback(actor="ann")
    registry.promote("a", actor="ann")
    with pytest.raises(ClassifierError, match="no earlier live model"):
        registry.rollback(actor="ann")
    registry.promote("b", actor="ben")
    registry.promote("c", actor="cat", force=True)
    assert registry.rollback(actor="ann")["version"] == "b"
    assert registry.rollback(actor="ann")["version"] == "a"
    assert registry.live() == "a"


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 garbage", b"not a zip at all"])
def test_a_corrupted_version_is_never_made_live(registry: ModelRegistry, content: bytes) -> None:
    registry.promote("a", actor="ann")
    (registry.root / "b" / MODEL_FILE).write_bytes(content)
    with pytest.raises(ClassifierError, match="corrupted|not a"):
        registry.promote("b", actor="ben", force=True)
    assert registry.live() == "a" and len(registry.history()) == 1


def test_a_foreign_model_file_is_refused_and_the_live_model_stays(registry: ModelRegistry, tmp_path: Path) -> None:
    import skops.io as sio

    registry.promote("a", actor="ann")
    sio.dump({"format": "someone-else/1", "thing": [1, 2]}, registry.root / "b" / MODEL_FILE)
    with pytest.raises(ClassifierError, match="not a triage-model/1"):
        registry.promote("b", actor="ben", force=True)
    # a file of another version under this version's name is refused too
    (registry.root / "c" / MODEL_FILE).write_bytes((registry.root / "a" / MODEL_FILE).read_bytes())
    with pytest.raises(ClassifierError, match="holds model a"):
        registry.promote("c", actor="cat", force=True)
    assert registry.live() == "a"


def test_unknown_or_unsafe_version_names_are_clear_errors(registry: ModelRegistry) -> None:
    with pytest.raises(ClassifierError, match="no model version zz"):
        registry.promote("zz", actor="ann")
    with pytest.raises(ClassifierError, match="not a model version name"):
        registry.promote("../etc", actor="ann")


def test_a_second_promotion_while_one_holds_the_lock_is_told_so(registry: ModelRegistry) -> None:
    registry.promote("a", actor="ann")
    with open(registry.root / LOCK_FILE, "a+") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        with pytest.raises(PromotionConflict, match="in progress"):
            registry.promote("b", actor="ben")
        with pytest.raises(PromotionConflict, match="in progress"):
            registry.rollback(actor="ben")
    assert registry.live() == "a"
    registry.promote("b", actor="ben")
    assert registry.live() == "b"


def test_a_promotion_based_on_a_stale_look_is_refused(registry: ModelRegistry) -> None:
    registry.promote("a", actor="ann")
    seen = registry.live()
    registry.promote("b", actor="ben", expected_live=seen)  # the first admin wins
    with pytest.raises(PromotionConflict, match="changed to b"):
        registry.promote("c", actor="cat", expected_live=seen, force=True)
    assert registry.live() == "b"


def test_two_processes_promoting_at_once_leave_one_winner(registry: ModelRegistry) -> None:
    import multiprocessing

    context = multiprocessing.get_context("fork")
    results = context.Queue()

    def attempt(version: str) -> None:
        try:
            ModelRegistry(registry.root).promote(version, actor=version, expected_live=None, force=True)
            results.put((version, "ok"))
        except PromotionConflict as exc:
            results.put((version, str(exc)))

    workers = [context.Process(target=attempt, args=(v,)) for v in ("a", "b")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    outcome = dict(results.get(timeout=5) for _ in workers)
    winners = [v for v, r in outcome.items() if r == "ok"]
    assert len(winners) == 1 and registry.live() == winners[0]
    loser = next(r for v, r in outcome.items() if r != "ok")
    assert "in progress" in loser or "changed to" in loser
    assert len(registry.history()) == 1


def test_the_live_version_is_what_triage_loads_and_a_promotion_is_picked_up(registry: ModelRegistry, triage_config) -> None:  # type: ignore[no-untyped-def]
    from pipeline.rounds.triage import shared_triage

    settings = TriageSettings(model_path=registry.root / "triage-model.skops", auto_train=False)
    with pytest.raises(ClassifierError):
        load_or_train(settings, triage_config)  # nothing live, no model file
    registry.promote("a", actor="ann")
    assert load_or_train(settings, triage_config).version == "a"
    assert shared_triage(settings)[1].version == "a"
    registry.promote("b", actor="ben")
    assert shared_triage(settings)[1].version == "b"  # the same process, no restart
    registry.rollback(actor="ann")
    assert shared_triage(settings)[1].version == "a"
