"""Recurrent issues: within each topic, groups of similar inquiries, their telling words, examples, growth (pure).

Each topic's texts are weighed with TF-IDF and grouped with k-means; a group's
telling words are the heaviest terms of its centre, its examples the inquiries
nearest to it. A group grows when the last ``recent_days`` hold clearly more of
it than the same span before.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

MAX_DOCS_PER_TOPIC = 2000
MIN_GROUP = 3


@dataclass(frozen=True)
class Doc:
    """One inquiry to group: its topic, when it arrived, its subject and text."""

    inquiry_id: int
    topic: str
    at: datetime
    text: str


@dataclass(frozen=True)
class Group:
    """Similar inquiries of one topic."""

    topic: str
    size: int
    words: tuple[str, ...]
    examples: tuple[int, ...]
    recent: int
    earlier: int

    @property
    def growing(self) -> bool:
        """More in the recent span than before it, by half again at least (and at least three)."""
        return self.recent >= MIN_GROUP and self.recent >= 1.5 * max(1, self.earlier)


def find_groups(docs: Sequence[Doc], now: datetime, *, recent_days: int = 7, max_groups: int = 8,
                seed: int = 0) -> list[Group]:
    """The groups of every topic, the largest first within a topic, growing ones flagged."""
    from sklearn.cluster import KMeans
    from sklearn.feature_extraction.text import TfidfVectorizer

    by_topic: dict[str, list[Doc]] = defaultdict(list)
    for doc in docs:
        by_topic[doc.topic].append(doc)
    recent_from = now - timedelta(days=recent_days)
    earlier_from = recent_from - timedelta(days=recent_days)
    groups: list[Group] = []
    for topic in sorted(by_topic):
        members = sorted(by_topic[topic], key=lambda d: d.at, reverse=True)[:MAX_DOCS_PER_TOPIC]
        if len(members) < MIN_GROUP * 2:
            continue
        vectorizer = TfidfVectorizer(min_df=2, max_df=0.6, sublinear_tf=True, max_features=5000,
                                     token_pattern=r"(?u)\b[^\W\d_]{3,}\b", strip_accents="unicode")
        try:
            matrix = vectorizer.fit_transform([d.text for d in members])
        except ValueError:  # no word left after pruning: nothing to group
            continue
        k = max(1, min(max_groups, round(math.sqrt(len(members) / 2))))
        model = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(matrix)
        terms = vectorizer.get_feature_names_out()
        distances = model.transform(matrix)
        for label in range(k):
            indices = [i for i, assigned in enumerate(model.labels_) if assigned == label]
            if len(indices) < MIN_GROUP:
                continue
            centre = model.cluster_centers_[label]
            words = tuple(str(terms[i]) for i in centre.argsort()[::-1][:6] if centre[i] > 0)
            nearest = sorted(indices, key=lambda i: distances[i][label])[:3]
            recent = sum(1 for i in indices if members[i].at >= recent_from)
            earlier = sum(1 for i in indices if earlier_from <= members[i].at < recent_from)
            groups.append(Group(topic, len(indices), words, tuple(members[i].inquiry_id for i in nearest),
                                recent, earlier))
    return sorted(groups, key=lambda g: (g.topic, -g.size))
