"""suggest(decision, inquiry, templates) -> Reply | NoReply: the pure core of suggested replies.

No I/O and no clock: the same decision, inquiry, library and register always
give the same reply. A reply is suggested only when nobody forbids it
(``policy``), the sender wrote something to answer, the decision is standard
and names the intents to answer, and a template answers each; otherwise
``NoReply`` says why. Several intents make one reply: one greeting, a section
per intent in the order asked, one closing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from classifiers.entities import extract_entities
from pipeline.errors import TemplateError
from responders.blanks import blank, unfilled_blanks
from responders.casefacts import NO_REGISTER, CaseFactsProvider, lookup_all
from responders.compose import address_problem, reply_subject, thread_headers
from responders.content import nothing_to_answer
from responders.facts import Classified, EntityLike, InquiryFacts
from responders.policy import ReplyPolicy, refusal
from responders.render import Library
from responders.select import NoTemplate, ReplyPlan, plan_reply
from responders.variables import build_variables, display_name

_NUMBER_KINDS = frozenset({"registration", "application", "patent"})
_THREAD_CHARS = 20_000


class Triaged(Classified, Protocol):
    """A triage decision with its routing (``classifiers.decision.Decision``).

    The intent fields (``intents``, ``answer_intents``, ``queue``, ``hold_reason``,
    see ``responders.facts.Intended``) are read when the decision has them.
    """

    @property
    def standard(self) -> bool: ...

    @property
    def reason(self) -> str: ...


@dataclass(frozen=True)
class Reply:
    """A suggested reply: the templates behind it, the variables they used, and what it says to whom.

    ``template_id``/``template_version`` name the first section's template (a reply to one
    question has one); ``intents`` and ``template_versions`` list every section's.
    ``blanks`` are the facts staff must still fill (``responders.blanks``); ``staff_note``
    says what staff must do before sending (e.g. translate), and ``route_to`` which
    section should handle it (``translation``), both None when nothing special is needed.
    """

    template_id: str
    template_version: int
    template_digest: str
    language: str
    topic: str | None
    variant: str
    why: str
    variables: dict[str, Any] = field(compare=False)
    subject: str
    text: str
    html: str | None
    to_address: str
    to_name: str
    in_reply_to: str | None
    references: tuple[str, ...]
    intents: tuple[str, ...] = ()
    template_versions: tuple[int, ...] = ()
    blanks: tuple[str, ...] = ()
    staff_note: str | None = None
    route_to: str | None = None

    def __bool__(self) -> bool:
        return True


@dataclass(frozen=True)
class NoReply:
    """No reply is suggested, and why (falsy)."""

    reason: str
    template_id: str | None = None

    def __bool__(self) -> bool:
        return False


_LANGUAGE_NAMES = {"de": "German", "it": "Italian", "pt": "Portuguese", "nl": "Dutch", "ru": "Russian",
                   "zh": "Chinese", "ja": "Japanese", "ko": "Korean", "ar": "Arabic", "pl": "Polish",
                   "tr": "Turkish", "sv": "Swedish", "da": "Danish", "fi": "Finnish", "cs": "Czech",
                   "en": "English", "fr": "French", "es": "Spanish"}


def translation_note(sender_language: str, draft_language: str) -> str:
    """The note at the top of a draft written in another language than the sender's (a blank: it must go)."""
    sender = _LANGUAGE_NAMES.get(sender_language, sender_language or "an unknown language")
    draft = _LANGUAGE_NAMES.get(draft_language, draft_language)
    return blank(f"STAFF NOTE: the sender wrote in {sender} ({sender_language or '?'}); we have no templates in "
                 f"that language. This draft is in {draft}: translate it (or send it in {draft} if the sender "
                 "reads it), then delete this line")


def _thread_entities(facts: InquiryFacts) -> tuple[EntityLike, ...]:
    """Numbers the sender already gave in the quoted history, a forwarded message or earlier in the thread."""
    found: list[EntityLike] = []
    for text in (facts.quoted_text, facts.forwarded_text, *facts.earlier_texts):
        if text:
            found.extend(e for e in extract_entities(text, "thread", _THREAD_CHARS) if e.kind in _NUMBER_KINDS)
    return tuple(found)


def _digest(library: Library, plan: ReplyPlan) -> str:
    digests = [library.digests.get((choice.template_id, plan.language), "") for choice in plan.choices]
    if len(digests) == 1:
        return digests[0]
    return hashlib.sha256("\n".join(digests).encode("utf-8")).hexdigest()


def _headers(facts: InquiryFacts) -> tuple[str, str, str | None]:
    """(to_address, to_name, problem) of a reply to this inquiry."""
    to_address = facts.reply_address or ""
    to_name = display_name(facts.sender_name, to_address) if to_address == facts.sender_address else ""
    return to_address, to_name, address_problem(to_address)


def _subject(library: Library, facts: InquiryFacts, language: str) -> str:
    catalogue = library.catalogue
    fallback = catalogue.subject_fallback.get(language, catalogue.subject_fallback.get(catalogue.default_language, ""))
    return reply_subject(facts.subject, facts.inquiry_id, fallback or "Your inquiry")


def _compose(library: Library, plan: ReplyPlan, facts: InquiryFacts, entities: Sequence[EntityLike],
             register: CaseFactsProvider) -> Reply | NoReply:
    first = plan.choices[0]
    to_address, to_name, problem = _headers(facts)
    if problem is not None:
        return NoReply(problem, first.template_id)
    all_entities = (*entities, *_thread_entities(facts))
    numbers = [e.value for e in all_entities if e.kind in _NUMBER_KINDS]
    records = lookup_all(register, numbers)
    base = build_variables(language=plan.language, topic=first.topic, variant=first.variant, facts=facts,
                           entities=all_entities, catalogue=library.catalogue, case_facts=records)
    sections = []
    for choice in plan.choices:
        try:
            sections.append(library.render_section(choice.template_id, plan.language,
                                                   {**base, "topic": choice.topic, "variant": choice.variant}))
        except TemplateError as exc:
            return NoReply(f"template {choice.template_id} failed: {exc}", choice.template_id)
    variables = {**base, "sections": [section.as_variable() for section in sections]}
    try:
        body = library.compose(plan.language, variables)
    except TemplateError as exc:
        return NoReply(f"template _layout failed: {exc}", first.template_id)
    text, html, note = body.text, body.html, None
    if plan.needs_translation:
        note = translation_note(plan.sender_language, plan.language)
        text = f"{note}\n\n{text}"
        html = library.html_of(text, plan.language, str(variables["inquiry"]["subject"]))
    in_reply_to, references = thread_headers(facts)
    intents = tuple(choice.template_id for choice in plan.choices)
    return Reply(
        template_id=first.template_id,
        template_version=first.version,
        template_digest=_digest(library, plan),
        language=plan.language,
        topic=first.topic,
        variant=first.variant,
        why=f"{first.why}: {', '.join(intents)}",
        variables=variables,
        subject=_subject(library, facts, plan.language),
        text=text,
        html=html,
        to_address=to_address,
        to_name=to_name,
        in_reply_to=in_reply_to,
        references=references,
        intents=intents,
        template_versions=tuple(choice.version for choice in plan.choices),
        blanks=tuple(unfilled_blanks(text)),
        staff_note=note,
        route_to="translation" if plan.needs_translation else None,
    )


def suggest_reply(decision: Triaged, facts: InquiryFacts, library: Library, policy: ReplyPolicy, *,
                  require_standard: bool = True, case_facts: CaseFactsProvider | None = None) -> Reply | NoReply:
    """The reply to suggest for a triaged inquiry, or ``NoReply`` with the reason there is none.

    One section per intent the decision says to answer, in the order asked, with one greeting and
    one closing. ``require_standard=False`` suggests one for a held-back inquiry too (staff asked
    for it). ``case_facts`` is the register the status answers look facts up in (none: blanks).
    """
    refused = refusal(facts, policy)
    if refused is not None:
        return NoReply(refused)
    plan = plan_reply(decision, library.catalogue, require_standard=require_standard)
    if isinstance(plan, NoTemplate):
        return NoReply(plan.reason)
    empty = nothing_to_answer(facts)
    if empty is not None:
        return NoReply(empty)
    return _compose(library, plan, facts, decision.entities, case_facts or NO_REGISTER)


def _render(library: Library, template_id: str, version: int, language: str, facts: InquiryFacts) -> Reply | NoReply:
    """A reply made of one whole template (the acknowledgement), its own greeting and closing included."""
    to_address, to_name, problem = _headers(facts)
    if problem is not None:
        return NoReply(problem, template_id)
    variables = build_variables(language=language, topic=None, variant="default", facts=facts, entities=(),
                                catalogue=library.catalogue)
    try:
        body = library.render(template_id, language, variables)
    except TemplateError as exc:
        return NoReply(f"template {template_id} failed: {exc}", template_id)
    in_reply_to, references = thread_headers(facts)
    return Reply(
        template_id=template_id, template_version=version,
        template_digest=library.digests.get((template_id, language), ""), language=language, topic=None,
        variant="default", why="acknowledgement", variables=variables, subject=_subject(library, facts, language),
        text=body.text, html=body.html, to_address=to_address, to_name=to_name, in_reply_to=in_reply_to,
        references=references, intents=(template_id,), template_versions=(version,),
        blanks=tuple(unfilled_blanks(body.text)),
    )


def acknowledgement(facts: InquiryFacts, language: str, library: Library, policy: ReplyPolicy) -> Reply | NoReply:
    """The automatic acknowledgement of an inquiry ("we received it, reference T-…"), or why none is sent."""
    refused = refusal(facts, policy)
    if refused is not None:
        return NoReply(refused)
    catalogue = library.catalogue
    spec = catalogue.acknowledgement()
    if spec is None:
        return NoReply("the catalogue has no acknowledgement template")
    if language not in catalogue.languages:
        language = catalogue.default_language
    if not library.usable(spec.id, language):
        return NoReply(f"template {spec.id!r} ({language}) cannot be used: "
                       f"{catalogue.refused.get((spec.id, language), 'refused')}", spec.id)
    return _render(library, spec.id, spec.version, language, facts)
