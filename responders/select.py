"""Which templates answer an inquiry: a pure function of the triage decision and the catalogue.

A template is chosen by intent, never by words in the message: the decision's
``answer_intents`` (the questions the sender asked, in the order asked) are
template ids. Several intents make one reply with a section each. A decision
that is held back (not standard) or names no intent gets no template, with the
decision's reason. A sender's language the catalogue is not written in gets
the default language's templates, marked for translation. A template refused
at load time is never chosen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from responders.catalogue import Catalogue
from responders.facts import Classified, intent_view


@dataclass(frozen=True)
class TemplateChoice:
    """The template that answers one intent, in which language, and why."""

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


@dataclass(frozen=True)
class ReplyPlan:
    """The templates of one reply, one per intent in the order asked, and the language they are written in."""

    choices: tuple[TemplateChoice, ...]
    language: str
    sender_language: str

    @property
    def needs_translation(self) -> bool:
        """True when the sender wrote in a language the templates are not written in."""
        return self.language != self.sender_language

    def __bool__(self) -> bool:
        return True


def intents_to_answer(decision: Classified, *, require_standard: bool = True) -> tuple[str, ...] | NoTemplate:
    """The intents a reply answers, or why none is answered (held back, or no intent named).

    ``require_standard=False`` (staff asked for a draft of a held-back case) answers the
    decision's most probable intent when it names none to answer.
    """
    view = intent_view(decision)
    unsupported = view.hold_reason == "unsupported_language"
    if require_standard and not view.standard and not unsupported:
        code = f" ({view.hold_reason})" if view.hold_reason else ""
        return NoTemplate(f"not a standard inquiry{code}: {view.reason}")
    if view.answer_intents:
        return view.answer_intents
    if (not require_standard or unsupported) and view.intents:
        return (view.intents[0][0],)
    return NoTemplate(f"the decision names no question to answer: {view.reason}")


def _unique(intents: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(intent for intent in intents if intent))


def plan_reply(decision: Classified, catalogue: Catalogue, *, require_standard: bool = True) \
        -> ReplyPlan | NoTemplate:
    """The templates that answer this decision's intents, or ``NoTemplate`` with the reason none does."""
    intents = intents_to_answer(decision, require_standard=require_standard)
    if isinstance(intents, NoTemplate):
        return intents
    language = decision.language if decision.language in catalogue.languages else catalogue.default_language
    why = "asked" if language == decision.language else \
        f"asked; no templates in {decision.language!r}, written in {language!r} for translation"
    choices: list[TemplateChoice] = []
    for intent in _unique(intents):
        spec = catalogue.reply(intent)
        if spec is None or spec.topic is None:
            return NoTemplate(f"no reply template answers intent {intent!r}")
        refused = catalogue.refused.get((spec.id, language))
        if refused is not None:
            return NoTemplate(f"template {spec.id!r} ({language}) was refused at load time: {refused}")
        choices.append(TemplateChoice(spec.id, spec.version, spec.topic, spec.variant, language, f"intent {why}"))
    return ReplyPlan(tuple(choices), language, decision.language)


def choose_template(decision: Classified, facts: object, catalogue: Catalogue) -> TemplateChoice | NoTemplate:
    """The template of the first intent a reply to this decision answers, or why there is none.

    ``facts`` is not read (kept so older callers work): the choice depends on the decision only.
    """
    plan = plan_reply(decision, catalogue)
    return plan if isinstance(plan, NoTemplate) else plan.choices[0]
