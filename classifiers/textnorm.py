"""Small text normalisations shared by the classifiers: folding case, accents and apostrophes."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "\u00b4": "'"})


def fold(text: str) -> str:
    """Lower-case ``text`` and strip its accents, keeping one character per character where possible."""
    text = text.translate(_APOSTROPHES).lower()
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def phrase_pattern(phrases: Iterable[str]) -> re.Pattern[str] | None:
    """One regex matching any phrase on word boundaries, in folded text; ``*`` ends a phrase with any word ending."""
    parts = []
    for phrase in phrases:
        folded = " ".join(fold(phrase).split())
        if not folded:
            continue
        wildcard = folded.endswith("*")
        body = re.escape(folded.rstrip("*")).replace(r"\ ", r"\s+")
        parts.append(body + (r"\w*" if wildcard else r"(?!\w)"))
    if not parts:
        return None
    parts.sort(key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + ")")
