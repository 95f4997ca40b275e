"""Reference numbers, amounts and dates marked in a text, for the inquiry page (pure)."""

from __future__ import annotations

from collections.abc import Sequence

from urllib.parse import quote

from markupsafe import Markup, escape

from classifiers.entities import Entity, extract_entities


LINKED_KINDS = frozenset({"registration", "patent", "application"})


def entity_spans(text: str, max_chars: int) -> tuple[Entity, ...]:
    """The entities found in the first ``max_chars`` characters of ``text``, with their positions."""
    return extract_entities(text[:max_chars], "body", max_chars)


def highlight(text: str, entities: Sequence[Entity]) -> Markup:
    """``text`` escaped, with each entity wrapped in ``<mark>`` naming its kind and normalised value."""
    out: list[str] = []
    position = 0
    for entity in sorted(entities, key=lambda e: (e.start, -e.end)):
        if entity.start < position or entity.end > len(text) or entity.start >= entity.end:
            continue
        out.append(str(escape(text[position:entity.start])))
        mark = (f'<mark class="ent ent-{escape(entity.kind)}" title="{escape(entity.kind)}: {escape(entity.value)}">'
                f"{escape(text[entity.start:entity.end])}</mark>")
        if entity.kind in LINKED_KINDS:  # its case history: every inquiry and reply about this number
            mark = f'<a class="ent-link" href="/references/{escape(quote(entity.value, safe=""))}">{mark}</a>'
        out.append(mark)
        position = entity.end
    out.append(str(escape(text[position:])))
    return Markup("".join(out))
