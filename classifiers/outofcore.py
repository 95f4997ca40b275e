"""An out-of-core topic learner for corpora too big for memory: hashed word and character n-grams, ``partial_fit``.

No vocabulary is kept (the hashing trick), so memory stays flat whatever the
number of examples; batches are streamed through a linear model trained with
stochastic gradient descent. Less accurate than the default topic classifier,
it is the path for more than the default model can hold.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np


class HashingTopicLearner:
    """Topics from text, learned batch by batch."""

    def __init__(self, topics: Sequence[str], *, n_features: int = 2**20, alpha: float = 1e-5, random_state: int = 0) -> None:
        from sklearn.feature_extraction.text import HashingVectorizer
        from sklearn.linear_model import SGDClassifier
        from sklearn.pipeline import FeatureUnion

        self.topics = np.array(sorted(set(topics)))
        self.vectorizer = FeatureUnion([
            ("words", HashingVectorizer(n_features=n_features, ngram_range=(1, 2), alternate_sign=False, norm="l2")),
            ("chars", HashingVectorizer(n_features=n_features, analyzer="char_wb", ngram_range=(3, 5),
                                        alternate_sign=False, norm="l2")),
        ])
        self.model = SGDClassifier(loss="modified_huber", alpha=alpha, random_state=random_state)

    def partial_fit(self, texts: Sequence[str], topics: Sequence[str]) -> "HashingTopicLearner":
        """Learn from one batch."""
        self.model.partial_fit(self.vectorizer.transform(texts), list(topics), classes=self.topics)
        return self

    def fit_batches(self, batches: Iterable[tuple[Sequence[str], Sequence[str]]], epochs: int = 1) -> "HashingTopicLearner":
        """Learn from a stream of (texts, topics) batches; with ``epochs`` > 1 the stream must be re-iterable."""
        for _ in range(epochs):
            for texts, topics in batches:
                self.partial_fit(texts, topics)
        return self

    def predict(self, texts: Sequence[str]) -> list[str]:
        """The most likely topic of each text."""
        predicted: Any = self.model.predict(self.vectorizer.transform(texts))
        return [str(p) for p in predicted]
