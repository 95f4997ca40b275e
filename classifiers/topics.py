"""What a message is about: one multilingual scikit-learn model over word and character n-grams.

Word 1-2-grams carry the meaning, character 2-5-grams (within words) carry
typos, inflections and the three languages' shared roots; a linear SVM
separates the topics and temperature scaling turns its margins into calibrated
probabilities: a softmax whose one scale is fitted, by likelihood, on margins
the SVM gave to examples it was not trained on (cross-validation). Unlike a
per-topic sigmoid it never changes which topic comes first, which measured
half a point of macro-F1 better. The words that pushed a text towards its
topic are kept so staff can see why.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax
from joblib import parallel_config
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted

from classifiers.calibration import calibration_holdout
from classifiers.parallel import training_workers
from classifiers.vectorizers import pack_vectorizer, unpack_vectorizer

_DIGITS = re.compile(r"\d")
_TELLING = re.compile(r"[^\W\d_]{4,}")  # a term staff can read: at least one word of 4 letters or more
_MAX_CHARS = 20_000


@dataclass(frozen=True)
class TopicResult:
    """The topics of one text, most probable first, and the words behind the first one."""

    ranked: tuple[tuple[str, float], ...]
    top_terms: tuple[str, ...]
    margins: tuple[float, ...] = ()  # the SVM's margin of each ranked topic: above 0 it says "this topic too"

    @property
    def topic(self) -> str:
        """The most probable topic."""
        return self.ranked[0][0]

    @property
    def confidence(self) -> float:
        """The calibrated probability of the most probable topic."""
        return self.ranked[0][1]


def prepare(text: str) -> str:
    """The text as the model reads it: at most 20,000 characters, every digit a 0."""
    return _DIGITS.sub("0", text[:_MAX_CHARS])


def _as_matrix(margins: np.ndarray) -> np.ndarray:
    """Margins with one column per topic: a binary SVM's single column becomes (-m/2, m/2)."""
    if margins.ndim == 1 or margins.shape[1] == 1:
        column = margins.reshape(-1) / 2.0
        return np.column_stack([-column, column])
    return margins


def _fit_scale(margins: np.ndarray, truth: np.ndarray) -> float:
    """The softmax scale (inverse temperature) under which held-out margins are most likely."""
    rows = np.arange(len(truth))

    def loss(log_scale: float) -> float:
        return float(-log_softmax(np.exp(log_scale) * margins, axis=1)[rows, truth].mean())

    return float(np.exp(minimize_scalar(loss, bounds=(-4.0, 6.0), method="bounded").x))


class TopicClassifier(ClassifierMixin, BaseEstimator):
    """Calibrated linear topic classifier over word and character n-grams of any of the office's languages."""

    def __init__(
        self,
        *,
        word_ngrams: tuple[int, int] = (1, 2),
        char_ngrams: tuple[int, int] | None = (2, 5),
        min_df: int = 2,
        C: float = 0.5,
        calibration_folds: int = 5,
        calibration_holdout: float | None = None,
        tol: float = 1e-4,
        random_state: int = 0,
    ) -> None:
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams  # None: words only (enough, and far faster, with many examples)
        self.min_df = min_df
        self.C = C
        self.calibration_folds = calibration_folds
        self.calibration_holdout = calibration_holdout  # a share: one fit on the rest, calibrated on it (no folds)
        self.tol = tol  # the SVM's stopping tolerance (looser is faster; its margins move little)
        self.random_state = random_state

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """The word and character n-gram features of texts (shared with the signal classifiers)."""
        check_is_fitted(self, "words_")
        prepared = [prepare(t) for t in texts]
        if self.chars_ is None:
            return sp.csr_matrix(self.words_.transform(prepared))
        return sp.hstack([self.words_.transform(prepared), self.chars_.transform(prepared)], format="csr")

    def fit(self, texts: Sequence[str], topics: Sequence[str]) -> "TopicClassifier":
        """Learn the topics from labelled texts."""
        self.fit_transform(texts, topics)
        return self

    def fit_transform(self, texts: Sequence[str], topics: Sequence[str]) -> sp.csr_matrix:
        """Learn the topics from labelled texts; the texts' features (as ``transform`` makes them)."""
        if len(texts) != len(topics):
            raise ValueError(f"{len(texts)} texts but {len(topics)} topics")
        counts: dict[str, int] = {}
        for topic in topics:
            counts[topic] = counts.get(topic, 0) + 1
        if len(counts) < 2:
            raise ValueError("at least two topics are needed")
        too_few = sorted(t for t, n in counts.items() if n < self.calibration_folds)
        if too_few:
            raise ValueError(
                f"topics {', '.join(too_few)} have fewer than {self.calibration_folds} examples; "
                "add examples or lower calibration_folds"
            )
        prepared = [prepare(t) for t in texts]
        self.words_ = TfidfVectorizer(
            analyzer="word", ngram_range=tuple(self.word_ngrams), min_df=self.min_df, sublinear_tf=True,
            strip_accents="unicode", lowercase=True, dtype=np.float32,
        )
        parts = [self.words_.fit_transform(prepared)]
        self.chars_ = None
        if self.char_ngrams is not None:
            self.chars_ = TfidfVectorizer(
                analyzer="char_wb", ngram_range=tuple(self.char_ngrams), min_df=self.min_df, sublinear_tf=True,
                strip_accents="unicode", lowercase=True, dtype=np.float32,
            )
            parts.append(self.chars_.fit_transform(prepared))
        features = sp.hstack(parts, format="csr")
        labels = np.asarray(list(topics))
        svm = LinearSVC(C=self.C, class_weight="balanced", tol=self.tol, random_state=self.random_state)
        if self.calibration_holdout:
            fit, held = calibration_holdout(len(labels), self.calibration_holdout, self.random_state, labels)
            fitted = svm.fit(features[fit], labels[fit])
            held_out, truth = fitted.decision_function(features[held]), labels[held]
        else:
            folds = StratifiedKFold(self.calibration_folds, shuffle=True, random_state=self.random_state)
            with parallel_config(backend="threading", n_jobs=training_workers()):  # liblinear releases the GIL
                held_out = cross_val_predict(svm, features, labels, cv=folds, method="decision_function")
            fitted, truth = svm.fit(features, labels), labels
        self.classes_ = fitted.classes_
        self.coef_ = np.asarray(fitted.coef_, dtype=np.float32)
        self.intercept_ = np.asarray(fitted.intercept_, dtype=np.float64)
        self.scale_ = _fit_scale(_as_matrix(held_out), np.searchsorted(self.classes_, truth))
        self.terms_ = [str(t) for t in self.words_.get_feature_names_out()]
        return features

    def margins(self, features: sp.csr_matrix) -> np.ndarray:
        """The SVM's margin for each topic (one column per topic, also with two topics)."""
        check_is_fitted(self, "coef_")
        return _as_matrix(np.asarray(features @ self.coef_.T) + self.intercept_)

    def _probabilities(self, features: sp.csr_matrix) -> np.ndarray:
        return softmax(self.scale_ * self.margins(features), axis=1)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated probability of each topic in ``classes_`` for each text."""
        check_is_fitted(self, "coef_")
        return self._probabilities(self.transform(texts))

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """The most probable topic of each text."""
        return self.classes_[np.argmax(self.predict_proba(texts), axis=1)]

    def classify(self, texts: Sequence[str], *, top_terms: int = 5, ranked: int = 3) -> list[TopicResult]:
        """Ranked topics and the words that drove the first one, for each text."""
        return self.classify_features(self.transform(texts), top_terms=top_terms, ranked=ranked)

    def classify_features(self, features: sp.csr_matrix, *, top_terms: int = 5, ranked: int = 3) -> list[TopicResult]:
        """``classify`` on features already computed by ``transform``."""
        check_is_fitted(self, "coef_")
        margins = self.margins(features)
        probabilities = softmax(self.scale_ * margins, axis=1)
        terms = self.terms_
        multiclass = self.coef_.shape[0] > 1
        results = []
        for row, probs in enumerate(probabilities):
            order = np.argsort(-probs)[:ranked]
            best = int(order[0])
            start, end = features.indptr[row], features.indptr[row + 1]
            indices, values = features.indices[start:end], features.data[start:end]
            sign = 1.0 if multiclass or best == 1 else -1.0
            contributions = sign * values * self.coef_[best if multiclass else 0, indices]
            picked: list[str] = []
            for position in np.argsort(-contributions):
                if contributions[position] <= 0 or len(picked) >= top_terms:
                    break
                if indices[position] < len(terms) and _TELLING.search(terms[indices[position]]):
                    picked.append(terms[indices[position]])
            results.append(TopicResult(
                tuple((str(self.classes_[i]), float(probs[i])) for i in order),
                tuple(picked),
                tuple(float(margins[row, i]) for i in order),
            ))
        return results

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())  # a copy: object.__getstate__ returns the live __dict__
        for name in ("words_", "chars_"):
            if isinstance(state.get(name), TfidfVectorizer):
                state[name] = pack_vectorizer(state[name])
        if isinstance(state.get("terms_"), list):
            state["terms_"] = "\n".join(state["terms_"])
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        state.setdefault("calibration_holdout", None)  # saved before these parameters existed
        state.setdefault("tol", 1e-4)
        for name in ("words_", "chars_"):
            if isinstance(state.get(name), dict):
                state[name] = unpack_vectorizer(state[name])
        if isinstance(state.get("terms_"), str):
            state["terms_"] = state["terms_"].split("\n")
        super().__setstate__(state)
