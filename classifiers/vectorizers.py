"""Fitted TF-IDF vectorizers as compact plain data, so model files stay small and load fast.

skops writes a dict entry by entry; a vocabulary of tens of thousands of
n-grams would make a 40 MB description. Packed, it is one string and one array.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

_SEPARATOR = "\n"  # never inside a term: the vectorizers fold every whitespace run into one space
_PARAMS = ("analyzer", "token_pattern", "ngram_range", "min_df", "max_df", "sublinear_tf", "strip_accents", "lowercase", "norm", "use_idf", "smooth_idf")


def pack_vectorizer(vectorizer: TfidfVectorizer) -> dict[str, Any]:
    """A fitted vectorizer as plain data: its parameters, its terms in column order, its idf weights."""
    terms = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.__getitem__)
    if any(_SEPARATOR in term for term in terms):
        raise ValueError("a term contains a newline; cannot pack this vectorizer")
    params = {name: getattr(vectorizer, name) for name in _PARAMS}
    params["ngram_range"] = list(params["ngram_range"])
    return {
        "params": params,
        "dtype": np.dtype(vectorizer.dtype).name,
        "terms": _SEPARATOR.join(terms),
        "idf": np.asarray(vectorizer.idf_, dtype=np.float64),
    }


def unpack_vectorizer(packed: dict[str, Any]) -> TfidfVectorizer:
    """A ready-to-transform vectorizer from ``pack_vectorizer``'s data."""
    params = dict(packed["params"])
    params["ngram_range"] = tuple(params["ngram_range"])
    vectorizer = TfidfVectorizer(**params, dtype=np.dtype(packed["dtype"]).type)
    terms = packed["terms"].split(_SEPARATOR) if packed["terms"] else []
    vectorizer.vocabulary_ = {term: index for index, term in enumerate(terms)}
    vectorizer.fixed_vocabulary_ = False
    vectorizer.idf_ = np.asarray(packed["idf"], dtype=np.float64)
    return vectorizer
