"""The one marker for a fact a draft could not fill: ``[[to fill: <what>]]``.

A template writes ``{{ blank("publication date") }}`` where a looked-up fact is
unknown; staff see the marker in the draft, and a reply that still carries one
must not be sent. ``unfilled_blanks`` is how anyone (the review app, tests)
finds them; ``BLANK_PATTERN`` gives their positions for highlighting.
"""

from __future__ import annotations

import re

BLANK_OPEN = "[[to fill: "
BLANK_CLOSE = "]]"
BLANK_PATTERN = re.compile(r"\[\[to fill:[ \t]*([^\[\]\n]*?)[ \t]*\]\]")
_MAX_LABEL = 400


def blank(label: str) -> str:
    """The marker for a missing fact, e.g. ``[[to fill: publication date]]``."""
    cleaned = " ".join(str(label).replace("[", "(").replace("]", ")").split())[:_MAX_LABEL] or "?"
    return f"{BLANK_OPEN}{cleaned}{BLANK_CLOSE}"


def unfilled_blanks(text: str) -> list[str]:
    """The label of every blank still in a text, in order of appearance (one per occurrence)."""
    return [match.group(1) or "?" for match in BLANK_PATTERN.finditer(text or "")]
