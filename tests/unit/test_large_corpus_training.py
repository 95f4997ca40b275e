"""A large training set is learned with the large-corpus parameters: words only, one calibration hold-out, a sample
of each language for the language model; the model says so, saves, loads and classifies like any other."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

import classifiers.training as training
from classifiers.calibration import calibration_holdout
from classifiers.corpus import corpus_files, read_corpus
from classifiers.registry import load_model, save_model
from classifiers.topics import TopicClassifier

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_corpus_is_learned_with_the_default_parameters_and_a_large_one_with_the_lean_ones() -> None:
    examples, _ = read_corpus(corpus_files(ROOT / "data" / "corpus"))
    assert training.parameters_for(len(examples)) is training.DEFAULT_PARAMETERS
    lean = training.parameters_for(training.LARGE_CORPUS_FROM)
    assert lean is training.LARGE_CORPUS_PARAMETERS
    assert lean["topics"]["char_ngrams"] is None and lean["intents"]["char_ngrams"] is None
    assert all(lean[part]["calibration_holdout"] for part in ("topics", "intents", "holdback"))


def test_a_language_sample_keeps_at_most_so_many_of_each_language_in_corpus_order() -> None:
    examples, _ = read_corpus(corpus_files(ROOT / "data" / "corpus"))
    sample = training.sample_per_language(examples, 40)
    counts: dict[str, int] = {}
    for example in sample:
        counts[example.language] = counts.get(example.language, 0) + 1
    every = {e.language for e in examples}
    assert set(counts) == every and max(counts.values()) == 40
    rare = {lang for lang in every if sum(e.language == lang for e in examples) < 40}
    assert all(counts[lang] == sum(e.language == lang for e in examples) for lang in rare)
    order = {id(e): i for i, e in enumerate(examples)}
    assert [order[id(e)] for e in sample] == sorted(order[id(e)] for e in sample)
    assert training.sample_per_language(examples, 40) == sample  # the same sample each time
    assert training.sample_per_language(examples, None) == list(examples)


@pytest.mark.parametrize("share", [0.0, 1.0, -0.2])
def test_a_calibration_holdout_outside_zero_to_one_is_refused(share: float) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        calibration_holdout(10, share, 0)


def test_a_stratified_calibration_holdout_keeps_every_label_on_both_sides() -> None:
    labels = ["a"] * 50 + ["b"] * 10
    fit, held = calibration_holdout(len(labels), 0.2, 0, labels)
    assert len(held) == 12 and sorted([*fit, *held]) == list(range(60))
    assert {labels[i] for i in held} == {"a", "b"} and {labels[i] for i in fit} == {"a", "b"}


def test_a_words_only_topic_model_calibrated_on_a_holdout_round_trips(tmp_path: Path) -> None:
    texts = ["renew my design registration", "the renewal fee and deadline", "renouvellement du dessin",
             "refund the fee we paid twice", "invoice and payment receipt", "remboursement de la taxe"] * 6
    topics = ["renewal", "renewal", "renewal", "fees", "fees", "fees"] * 6
    model = TopicClassifier(char_ngrams=None, calibration_holdout=0.25, min_df=1)
    features = model.fit_transform(texts, topics)
    assert model.chars_ is None and features.shape[1] == len(model.words_.vocabulary_)
    assert (features != model.transform(texts)).nnz == 0
    assert list(model.predict(["please renew the registration"])) == ["renewal"]


def test_a_large_corpus_model_learns_saves_loads_and_says_how_it_was_trained(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, triage_config) -> None:  # type: ignore[no-untyped-def]
    examples, data_hash = read_corpus(corpus_files(ROOT / "data" / "corpus"))
    monkeypatch.setattr(training, "LARGE_CORPUS_FROM", 100)
    monkeypatch.setitem(training.LARGE_CORPUS_PARAMETERS, "language",
                        {**training.LARGE_CORPUS_PARAMETERS["language"], "examples_per_language": 300})
    model = training.train_model(examples, data_hash, triage_config.taxonomy,
                                 trained_at=datetime(2026, 12, 6, tzinfo=timezone.utc))
    assert model.topics.chars_ is None and model.intents is not None and model.intents.chars_ is None
    assert model.info.parameters["topics"]["calibration_holdout"] == 0.2
    assert model.info.parameters["language"]["examples_per_language"] == 300
    path = tmp_path / "large.skops"
    save_model(model, path)
    loaded = load_model(path)
    probe = ["Please renew design DM/212 345 before it expires; what is the fee?",
             "Merci de corriger l'adresse du titulaire dans le registre."]
    np.testing.assert_array_equal(loaded.topics.predict_proba(probe), model.topics.predict_proba(probe))
    assert loaded.topics.predict(probe[:1])[0] == "renewal"
    assert loaded.language.predict(probe).tolist() == ["en", "fr"]
    assert loaded.intents is not None and loaded.intents.predict(probe[:1])[0]


def test_examples_held_for_a_reason_only_a_rule_gives_do_not_teach_the_hold_back_model() -> None:
    from classifiers.taxonomy import load_taxonomy

    examples, _ = read_corpus(corpus_files(ROOT / "data" / "corpus" / "renewals"))
    conflicts = [e for e in examples if e.hold_reason == "conflicting_instructions"]
    assert conflicts and all(training.rule_held(e) for e in conflicts)
    assert not any(training.rule_held(e) for e in examples if e.hold_reason in (None, "complaint"))
    taxonomy = load_taxonomy(ROOT / "config" / "desks" / "renewals" / "taxonomy.toml")
    _, holdback = training.train_intents([e for e in examples if e.split == "train"], taxonomy)
    assert "complaint" in holdback.reasons_ and "conflicting_instructions" not in holdback.reasons_
