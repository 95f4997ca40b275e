"""Yes/no signals learned from the corpus labels (complaint, urgent), on the topic classifier's features.

Word lists catch the phrases an office names in its taxonomy; a logistic
regression trained on the labelled examples catches the rest ("this is the
second time I ask", irony, a threat without the listed words). It reuses the
topic model's n-gram features, so it costs one sparse dot product per message.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

MIN_EXAMPLES = 10  # of each answer, to learn a signal at all


class FlagClassifier(ClassifierMixin, BaseEstimator):
    """Logistic regression telling whether a signal is on, from precomputed text features."""

    def __init__(self, *, C: float = 3.0, random_state: int = 0) -> None:
        self.C = C
        self.random_state = random_state

    def fit(self, features: sp.spmatrix, flags: Sequence[bool]) -> "FlagClassifier":
        """Learn the signal from feature rows and their yes/no labels."""
        labels = np.asarray(flags, dtype=bool)
        if features.shape[0] != len(labels):
            raise ValueError(f"{features.shape[0]} rows but {len(labels)} labels")
        if min(labels.sum(), (~labels).sum()) < MIN_EXAMPLES:
            raise ValueError(f"need at least {MIN_EXAMPLES} examples with and without the signal")
        model = LogisticRegression(C=self.C, class_weight="balanced", max_iter=5000, random_state=self.random_state)
        model.fit(features, labels)
        self.classes_ = np.array([False, True])
        self.coef_ = np.asarray(model.coef_[0], dtype=np.float32)
        self.intercept_ = float(model.intercept_[0])
        return self

    def probability(self, features: sp.spmatrix) -> np.ndarray:
        """The probability that the signal is on, per row."""
        check_is_fitted(self, "coef_")
        return expit(np.asarray(features @ self.coef_).ravel() + self.intercept_)

    def predict_proba(self, features: sp.spmatrix) -> np.ndarray:
        """Probabilities of off and on, per row (scikit-learn's layout)."""
        on = self.probability(features)
        return np.column_stack([1.0 - on, on])

    def predict(self, features: sp.spmatrix) -> np.ndarray:
        """Whether the signal is on, per row, at probability 0.5."""
        return self.probability(features) >= 0.5
