"""What a sender asks for, as reply intents: calibrated one-vs-rest linear models over negation-marked n-grams.

An intent is one thing one reply template answers (its id is the template's
id). A message may ask several things, so every intent has its own linear SVM
(word 1-2-grams and character 2-5-grams), and Platt scaling, fitted on margins
of examples the SVM was not trained on (cross-validation), turns each margin
into a probability. Words in the scope of a negation ("no deferment was
requested", "sans irrégularité", "no se solicitó aplazamiento") are read as
other words (``NEG_deferment``), so a negated request does not look like the
request. The surest intent above the threshold, and any other surer still than a
further-answer threshold, are put in the order the sender asked
them: the first part of the message (subject, sentence, numbered item) where
each one is strongest.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from joblib import Parallel, delayed
import scipy.sparse as sp
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted

from classifiers.calibration import calibration_holdout
from classifiers.parallel import training_workers
from classifiers.textnorm import fold
from classifiers.vectorizers import pack_vectorizer, unpack_vectorizer

# The intents of the reply contract: each is the id of the reply template that answers it.
INTENTS = (
    "application", "application--status",
    "renewal", "renewal--grace_period", "renewal--lapsed", "renewal--annuity", "renewal--partial", "renewal--status",
    "renewal--term",
    "irregularity", "irregularity--reproductions", "irregularity--fees", "irregularity--remedy_sent",
    "correction",
    "publication", "publication--deferment", "publication--status", "publication--search",
    "fees", "fees--refund", "fees--missing_payment", "fees--receipt", "fees--payment_status", "fees--suspicious_invoice",
    "priority_document", "priority_document--das", "priority_document--certified_copy",
    "decision", "decision--grant", "decision--invalidation", "decision--copy",
    "recording_change", "recording_change--name_address", "recording_change--representative",
    "recording_change--licence", "recording_change--limitation",
    "eservices", "eservices--account", "eservices--upload",
    "general", "general--designations",
)
_MAX_CHARS = 20_000
_DIGITS = re.compile(r"\d")
_TOKEN = re.compile(r"[^\W\d_]+'|[^\W\d_]+|\d+|[.;:!?\n]|,")  # elisions apart: n'avons, d'ajournement, didn't
# A negation cue opens a scope that ends with the clause (punctuation or a contrasting conjunction) or after a few words.
_CUES = frozenset({
    "no", "not", "without", "never", "nor", "none", "neither", "nobody", "nothing", "cannot",
    "ne", "n", "pas", "sans", "aucun", "aucune", "jamais", "ni", "rien", "personne",
    "sin", "nunca", "ningun", "ninguna", "ninguno", "tampoco", "nada", "nadie",
})
_CLITIC_CUES = ("n'",)  # didn'(t), don'(t); n'(a), n'(avons)
_SCOPE_ENDS = frozenset({".", ";", ":", "!", "?", "\n", ",", "but", "however", "mais", "pero", "sino", "cependant", "sinon", "though"})
_SCOPE_WORDS = 6
_SEGMENT = re.compile(r"(?<=[^\W\d_][.?!;])\s+|(?<=[?!])\s+|\n+|(?=\(\w\)\s)|(?=\b\d\s?[.)]\s)")
_MIN_SEGMENT_LETTERS = 8
_SHADOW_MARGIN = 0.2  # a specific intent this much less likely than its topic's general one does not replace it
# A further answer must be surer than the first: on the held-out split a second intent between the threshold and
# this was more often an unasked paragraph than a missed question (exact sets 0.699 -> 0.715, unasked answers 53 -> 36).
_FURTHER_INTENT_THRESHOLD = 0.8


def _is_cue(token: str, following: str | None) -> bool:
    if token in _CUES:
        # "no. 5", "n° 12": the number, not a negation
        return not (token in ("no", "n") and following is not None and (following.isdigit() or following == "."))
    return any(token.endswith(c) for c in _CLITIC_CUES)


def mark_negation(text: str) -> str:
    """The text as folded tokens, those in the scope of a negation prefixed ``NEG_`` (``no deferment`` -> ``no NEG_deferment``)."""
    folded = fold(_DIGITS.sub("0", text[:_MAX_CHARS]))
    tokens = _TOKEN.findall(folded)
    out: list[str] = []
    left = 0
    for index, token in enumerate(tokens):
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if token in _SCOPE_ENDS:
            left = 0
            if token != ",":
                out.append("\n" if token == "\n" else ".")
            continue
        if _is_cue(token, following):
            out.append(token)
            left = _SCOPE_WORDS
            continue
        if left > 0 and token[0].isalpha():
            out.append("NEG_" + token)
            left -= 1
        else:
            out.append(token)
    return " ".join(out)


def segments(text: str) -> list[str]:
    """The parts of a text a sender asks things in, in order: lines, sentences, numbered or lettered items."""
    parts = [p.strip() for p in _SEGMENT.split(text) if p and p.strip()]
    return [p for p in parts if sum(c.isalpha() for c in p) >= _MIN_SEGMENT_LETTERS]


@dataclass(frozen=True)
class IntentResult:
    """The intents of one text: every intent with its probability (best first), and those asked, in asked order."""

    ranked: tuple[tuple[str, float], ...]
    asked: tuple[str, ...]

    @property
    def top(self) -> tuple[str, float]:
        """The most probable intent and its probability."""
        return self.ranked[0]


def _platt(margins: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Slope and intercept mapping held-out margins to probabilities (Platt scaling)."""
    if truth.all() or not truth.any():
        return 1.0, 0.0
    model = LogisticRegression(C=100.0, max_iter=1000).fit(margins.reshape(-1, 1), truth)
    return float(model.coef_[0, 0]), float(model.intercept_[0])


class IntentClassifier(ClassifierMixin, BaseEstimator):
    """Calibrated multi-label intent classifier over negation-marked word and character n-grams."""

    def __init__(
        self,
        *,
        word_ngrams: tuple[int, int] = (1, 2),
        char_ngrams: tuple[int, int] | None = (2, 5),
        min_df: int = 2,
        C: float = 0.5,
        calibration_folds: int = 4,
        calibration_holdout: float | None = None,
        tol: float = 1e-4,
        threshold: float = 0.5,
        max_intents: int = 4,
        random_state: int = 0,
    ) -> None:
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams  # None: words only (enough, and far faster, with many examples)
        self.min_df = min_df
        self.C = C
        self.calibration_folds = calibration_folds
        self.calibration_holdout = calibration_holdout  # a share: one fit on the rest, calibrated on it (no folds)
        self.tol = tol  # the SVM's stopping tolerance (looser is faster; its margins move little)
        self.threshold = threshold
        self.max_intents = max_intents
        self.random_state = random_state

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """The negation-marked word and character n-gram features of texts."""
        check_is_fitted(self, "words_")
        marked = [mark_negation(t) for t in texts]
        if self.chars_ is None:
            return sp.csr_matrix(self.words_.transform(marked))
        return sp.hstack([self.words_.transform(marked), self.chars_.transform(marked)], format="csr")

    def fit(self, texts: Sequence[str], intents: Sequence[Sequence[str]]) -> "IntentClassifier":
        """Learn the intents from texts and the intents each one asks (one or more)."""
        self.fit_transform(texts, intents)
        return self

    def fit_transform(self, texts: Sequence[str], intents: Sequence[Sequence[str]]) -> sp.csr_matrix:
        """Learn the intents from texts and the intents each one asks; the texts' features (as ``transform``)."""
        if len(texts) != len(intents):
            raise ValueError(f"{len(texts)} texts but {len(intents)} intent lists")
        classes = sorted({i for labels in intents for i in labels})
        if len(classes) < 2:
            raise ValueError("at least two intents are needed")
        marked = [mark_negation(t) for t in texts]
        self.words_ = TfidfVectorizer(
            analyzer="word", token_pattern=r"\S+", ngram_range=tuple(self.word_ngrams), min_df=self.min_df,
            sublinear_tf=True, lowercase=False, dtype=np.float32,
        )
        parts = [self.words_.fit_transform(marked)]
        self.chars_ = None
        if self.char_ngrams is not None:
            self.chars_ = TfidfVectorizer(
                analyzer="char_wb", ngram_range=tuple(self.char_ngrams), min_df=self.min_df, sublinear_tf=True,
                lowercase=False, dtype=np.float32,
            )
            parts.append(self.chars_.fit_transform(marked))
        features = sp.hstack(parts, format="csr")
        truth = np.zeros((len(texts), len(classes)), dtype=bool)
        position = {c: i for i, c in enumerate(classes)}
        for row, labels in enumerate(intents):
            for label in labels:
                truth[row, position[label]] = True
        if self.calibration_holdout:
            fit, held = calibration_holdout(len(texts), self.calibration_holdout, self.random_state)
            splits, refit = [(fit, held)], False
        else:
            splits = list(KFold(self.calibration_folds, shuffle=True, random_state=self.random_state).split(features))
            refit = True
        # liblinear releases the GIL: the intents are fitted side by side in threads, on one copy of the features
        # (its shuffling shares one random state between threads, so fits agree to the solver's tolerance only).
        fitted = Parallel(n_jobs=training_workers(), prefer="threads")(
            delayed(self._fit_intent)(features, truth[:, column], splits, refit) for column in range(len(classes)))
        coefs, intercepts, slopes, offsets = zip(*fitted)
        self.classes_ = np.asarray(classes)
        self.coef_ = np.asarray(coefs, dtype=np.float32)
        self.intercept_ = np.asarray(intercepts, dtype=np.float64)
        self.slope_ = np.asarray(slopes, dtype=np.float64)
        self.offset_ = np.asarray(offsets, dtype=np.float64)
        return features

    def _fit_intent(self, features: sp.csr_matrix, answers: np.ndarray,
                    splits: Sequence[tuple[np.ndarray, np.ndarray]], refit: bool = True,
                    ) -> tuple[np.ndarray, float, float, float]:
        """One intent's SVM (coefficients, intercept) and its Platt slope and offset from held-out margins.

        Without ``refit`` the SVM of the (single) split is kept rather than fitted again on every row.
        """
        svm = LinearSVC(C=self.C, class_weight="balanced", tol=self.tol, random_state=self.random_state)
        margins: list[np.ndarray] = []
        truth: list[np.ndarray] = []
        if answers.sum() >= self.calibration_folds:
            for train, test in splits:
                if answers[train].all() or not answers[train].any():
                    continue
                margins.append(svm.fit(features[train], answers[train]).decision_function(features[test]))
                truth.append(answers[test])
        if refit or not margins:
            svm.fit(features, answers)
        if not margins:  # too rare to cross-validate: calibrate on its own margins (over-confident, but rare)
            margins, truth = [svm.decision_function(features)], [answers]
        slope, offset = _platt(np.concatenate(margins), np.concatenate(truth))
        return svm.coef_[0], float(svm.intercept_[0]), slope, offset

    def probabilities(self, features: sp.csr_matrix) -> np.ndarray:
        """The calibrated probability of every intent in ``classes_``, per feature row (they need not sum to 1)."""
        check_is_fitted(self, "coef_")
        margins = np.asarray(features @ self.coef_.T) + self.intercept_
        return expit(margins * self.slope_ + self.offset_)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """The calibrated probability of each intent in ``classes_`` for each text."""
        return self.probabilities(self.transform(texts))

    def predict(self, texts: Sequence[str]) -> list[tuple[str, ...]]:
        """The intents each text asks, in asked order."""
        return [result.asked for result in self.classify(texts)]

    def classify(self, texts: Sequence[str]) -> list[IntentResult]:
        """Every intent with its probability, and the intents asked in asked order, for each text."""
        probabilities = self.predict_proba(texts) if texts else np.zeros((0, len(self.classes_)))
        results = []
        for text, probs in zip(texts, probabilities):
            order = np.argsort(-probs)
            ranked = tuple((str(self.classes_[i]), float(probs[i])) for i in order)
            chosen = [int(i) for k, i in enumerate(order[: self.max_intents])
                      if probs[i] >= (self.threshold if k == 0 else max(self.threshold, _FURTHER_INTENT_THRESHOLD))]
            chosen = self._without_shadowed(chosen, probs)
            results.append(IntentResult(ranked, self._in_asked_order(text, chosen)))
        return results

    def _without_shadowed(self, chosen: list[int], probs: np.ndarray) -> list[int]:
        """One answer per topic: a specific intent instead of its topic's general explainer when both are chosen.

        A specific intent much less likely than the general one is a guess (an irregularity notice is not about
        fees because the general irregularity intent is sure): the general explainer stays and the guess goes.
        """
        names = [str(self.classes_[i]) for i in chosen]
        general = {n: probs[i] for i, n in zip(chosen, names) if "--" not in n}
        keep = []
        for i, n in zip(chosen, names):
            topic = n.split("--")[0]
            if "--" in n:
                if topic not in general or probs[i] >= general[topic] - _SHADOW_MARGIN:
                    keep.append(i)
            elif not any(m.split("--")[0] == n and probs[j] >= probs[i] - _SHADOW_MARGIN
                         for j, m in zip(chosen, names) if "--" in m):
                keep.append(i)
        return keep

    def _in_asked_order(self, text: str, chosen: list[int]) -> tuple[str, ...]:
        if len(chosen) < 2:
            return tuple(str(self.classes_[i]) for i in chosen)
        parts = segments(text)
        if len(parts) < 2:
            return tuple(str(self.classes_[i]) for i in chosen)
        per_part = self.predict_proba(parts)[:, chosen]
        strongest = per_part.max(axis=0)
        first = [int(np.argmax(per_part[:, k] >= 0.5 * strongest[k])) for k in range(len(chosen))]
        order = sorted(range(len(chosen)), key=lambda k: (first[k], -strongest[k]))
        return tuple(str(self.classes_[chosen[k]]) for k in order)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        for name in ("words_", "chars_"):
            if isinstance(state.get(name), TfidfVectorizer):
                state[name] = pack_vectorizer(state[name])
        if isinstance(state.get("classes_"), np.ndarray):
            state["classes_"] = "\n".join(str(c) for c in state["classes_"])
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        state.setdefault("calibration_holdout", None)  # saved before these parameters existed
        state.setdefault("tol", 1e-4)
        for name in ("words_", "chars_"):
            if isinstance(state.get(name), dict):
                state[name] = unpack_vectorizer(state[name])
        if isinstance(state.get("classes_"), str):
            state["classes_"] = np.asarray(state["classes_"].split("\n"))
        super().__setstate__(state)
