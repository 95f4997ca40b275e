"""Which template answers an inquiry: a pure function of the triage decision, the inquiry and the catalogue.

The decision's language must be one the catalogue is written in and its topic
one the catalogue answers; among the topic's variants the first whose
conditions hold (words in the subject or new text, kinds of entities found)
wins, else the topic's default variant. A template refused at load time is
never chosen: the inquiry then has no template, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from responders.catalogue import Catalogue, TemplateSpec, match_text
from responders.facts import Classified, InquiryFacts


@dataclass(frozen=True)
class TemplateChoice:
    """The template that answers an inquiry, in which language, and why this variant."""

    template_id: str
    version: int
    topic: str
    variant: str
    language: str
    why: str

    def __bool__(self) -> bool:
        return True


@dataclass(frozen=True)
class NoTemplate:
    """No template answers the inquiry, and why (falsy, so ``if choice:`` reads naturally)."""

    reason: str

    def __bool__(self) -> bool:
        return False


def _variant(specs: tuple[TemplateSpec, ...], facts: InquiryFacts, entity_kinds: frozenset[str]) \
        -> tuple[TemplateSpec, str] | None:
    text = match_text(facts.subject, facts.new_text)
    default: TemplateSpec | None = None
    for spec in specs:
        if spec.is_default:
            default = default or spec
            continue
        why = spec.applies(text, entity_kinds)
        if why is not None:
            return spec, why
    return (default, "default variant") if default is not None else None


def choose_template(decision: Classified, facts: InquiryFacts, catalogue: Catalogue) -> TemplateChoice | NoTemplate:
    """The template that answers this inquiry, or ``NoTemplate`` with the reason none does."""
    language = decision.language
    if language not in catalogue.languages:
        return NoTemplate(f"no reply templates in language {language!r} "
                          f"(templates exist in {', '.join(catalogue.languages)})")
    specs = catalogue.for_topic(decision.topic)
    if not specs:
        return NoTemplate(f"no reply template answers topic {decision.topic!r}")
    found = _variant(specs, facts, frozenset(e.kind for e in decision.entities))
    if found is None:
        return NoTemplate(f"no variant of topic {decision.topic!r} fits this inquiry and the topic has no default")
    spec, why = found
    refused = catalogue.refused.get((spec.id, language))
    if refused is not None:
        return NoTemplate(f"template {spec.id!r} ({language}) was refused at load time: {refused}")
    return TemplateChoice(spec.id, spec.version, decision.topic, spec.variant, language, why)
