"""The estimators follow scikit-learn's contract; model files round-trip, refuse corruption and say what to do."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from scipy.special import softmax
from sklearn.exceptions import NotFittedError
from sklearn.svm import LinearSVC

from classifiers.language import CharLanguageModel
from classifiers.model import TriageModel
from classifiers.registry import load_model, load_or_train, save_model
from classifiers.topics import TopicClassifier, _fit_scale
from pipeline.config import TriageSettings
from pipeline.errors import ClassifierError

class Foreign:
    """A type no model file of ours holds."""

    def __init__(self) -> None:
        self.payload = "os.system('...')"


TOY = [
    ("renew my design registration before it expires", "renewal"),
    ("renewal fee and grace period for the registration", "renewal"),
    ("when must we renew, the deadline is close", "renewal"),
    ("please renew DM/212 345 for five more years", "renewal"),
    ("renouvellement de l'enregistrement avant expiration", "renewal"),
    ("renovación del registro y plazo de gracia", "renewal"),
    ("refund of the fee we paid twice", "fees"),
    ("invoice and payment by credit card", "fees"),
    ("current account balance and receipts", "fees"),
    ("we paid CHF 300 too much, refund please", "fees"),
    ("remboursement de la taxe payée deux fois", "fees"),
    ("reembolso de la tasa pagada dos veces", "fees"),
    ("cannot log in to the portal", "eservices"),
    ("upload of images fails in the e-filing interface", "eservices"),
    ("password reset link does not work on the website", "eservices"),
    ("error 500 on the online form", "eservices"),
    ("impossible de se connecter au portail", "eservices"),
    ("no puedo entrar en el portal", "eservices"),
]


@pytest.mark.parametrize("estimator", [TopicClassifier(calibration_folds=3), CharLanguageModel()])
def test_estimators_store_parameters_only_and_clone(estimator) -> None:  # type: ignore[no-untyped-def]
    params = estimator.get_params()
    twin = clone(estimator)
    assert twin.get_params() == params
    assert not [k for k in vars(estimator) if k.endswith("_")]
    with pytest.raises(TypeError):
        type(estimator)(0.5)  # keyword-only


def test_unfitted_estimators_say_so() -> None:
    with pytest.raises(NotFittedError):
        TopicClassifier().predict_proba(["x"])
    with pytest.raises(NotFittedError):
        CharLanguageModel().predict_proba(["x"])


def test_fit_returns_self_and_learns_underscored_attributes() -> None:
    texts, topics = zip(*TOY)
    model = TopicClassifier(calibration_folds=3, min_df=1)
    assert model.fit(list(texts), list(topics)) is model
    assert set(model.classes_) == {"renewal", "fees", "eservices"}
    assert {"words_", "chars_", "coef_", "intercept_", "scale_", "terms_"} <= set(vars(model))


def test_probabilities_keep_the_svms_ranking() -> None:
    texts, topics = list(zip(*TOY))
    model = TopicClassifier(calibration_folds=3, min_df=1).fit(list(texts), list(topics))
    features = model.transform(list(texts))
    svm = LinearSVC(C=model.C, class_weight="balanced", random_state=0).fit(features, list(topics))
    probe = ["renewal deadline question", "refund", "portal error", "¿y la factura?", ""]
    np.testing.assert_array_equal(model.predict(probe), svm.predict(model.transform(probe)))
    np.testing.assert_allclose(model.predict_proba(probe).sum(axis=1), 1.0)


def test_the_fitted_temperature_is_the_most_likely_one() -> None:
    rng = np.random.default_rng(0)
    margins = rng.normal(size=(4000, 5))
    truth = np.array([rng.choice(5, p=softmax(2.5 * row)) for row in margins])
    assert _fit_scale(margins, truth) == pytest.approx(2.5, rel=0.1)


def test_rows_are_probabilities_and_terms_explain(triage_model) -> None:  # type: ignore[no-untyped-def]
    texts = ["Please refund the renewal fee we paid twice", "", "xyz"]
    probabilities = triage_model.topics.predict_proba(texts)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
    first = triage_model.topics.classify(texts)[0]
    assert first.top_terms and all(any(c.isalpha() for c in term) for term in first.top_terms)


def test_too_few_examples_of_a_topic_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="fewer than 5 examples"):
        TopicClassifier().fit(["a b", "c d", "e f"], ["x", "x", "y"])


def test_model_file_round_trip_keeps_predictions_and_the_live_model(triage_model: TriageModel, tmp_path: Path) -> None:
    probe = ["Where is my certificate?", "Le portail ne marche pas", "Necesito la factura"]
    before_topics = triage_model.topics.predict_proba(probe)
    before_language = triage_model.language.predict_proba(probe)
    path = tmp_path / "m.skops"
    save_model(triage_model, path)
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.topics.predict_proba(probe), before_topics)
    np.testing.assert_array_equal(loaded.language.predict_proba(probe), before_language)
    np.testing.assert_array_equal(triage_model.topics.predict_proba(probe), before_topics)  # saving changed nothing
    assert loaded.info == triage_model.info
    assert loaded.info.data_hash and loaded.info.metrics["macro_f1"] > 0
    assert {"scikit-learn", "numpy", "skops", "langdetect"} <= set(loaded.info.libraries)


def test_missing_model_says_to_run_triage_train(tmp_path: Path) -> None:
    with pytest.raises(ClassifierError, match="triage train"):
        load_model(tmp_path / "nothing.skops")


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x03\x04 truncated"])
def test_corrupted_model_is_a_classifier_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.skops"
    path.write_bytes(content)
    with pytest.raises(ClassifierError, match="triage train"):
        load_model(path)


def test_a_file_with_foreign_types_is_refused(tmp_path: Path) -> None:
    import skops.io as sio

    path = tmp_path / "foreign.skops"
    sio.dump({"format": "triage-model/1", "evil": Foreign()}, path)
    with pytest.raises(ClassifierError, match="does not load"):
        load_model(path)


def test_truncated_model_file_is_refused(triage_model_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "half.skops"
    path.write_bytes(triage_model_path.read_bytes()[:5000])
    with pytest.raises(ClassifierError):
        load_model(path)


def test_missing_model_is_trained_on_first_use_unless_disabled(triage_config, triage_model, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import classifiers.registry as registry

    monkeypatch.setattr(registry, "build_model", lambda settings, config: replace(triage_model))
    path = tmp_path / "models" / "auto.skops"
    model = load_or_train(TriageSettings(model_path=path), triage_config)
    assert path.is_file() and model.version == triage_model.version
    with pytest.raises(ClassifierError, match="triage train"):
        load_or_train(TriageSettings(model_path=tmp_path / "other.skops", auto_train=False), triage_config)


def test_a_model_older_than_the_corpus_is_retrained_when_auto_train_is_on(triage_config, triage_model, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import classifiers.registry as registry

    path = tmp_path / "old.skops"
    save_model(replace(triage_model, info=replace(triage_model.info, data_hash="0" * 64, version="old")), path)
    built: list[str] = []

    def build(settings, config):  # type: ignore[no-untyped-def]
        built.append("yes")
        return triage_model

    monkeypatch.setattr(registry, "build_model", build)
    assert load_or_train(TriageSettings(model_path=path, auto_train=False), triage_config).version == "old"
    assert load_or_train(TriageSettings(model_path=path), triage_config).version == triage_model.version
    assert built == ["yes"] and load_model(path).version == triage_model.version


def test_a_model_from_another_scikit_learn_is_retrained(triage_config, triage_model, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import classifiers.registry as registry

    path = tmp_path / "other.skops"
    libraries = {**triage_model.info.libraries, "scikit-learn": "0.0.1"}
    save_model(replace(triage_model, info=replace(triage_model.info, libraries=libraries, version="other")), path)
    monkeypatch.setattr(registry, "build_model", lambda settings, config: triage_model)
    assert load_or_train(TriageSettings(model_path=path, auto_train=False), triage_config).version == "other"
    assert load_or_train(TriageSettings(model_path=path), triage_config).version == triage_model.version
