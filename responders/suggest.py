"""suggest(decision, inquiry, templates) -> Reply | NoReply: the pure core of suggested replies.

No I/O and no clock: the same decision, inquiry and library always give the
same reply. A reply is suggested only when nobody forbids it (``policy``), the
decision is standard, and a template answers it; otherwise ``NoReply`` says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pipeline.errors import TemplateError
from responders.compose import address_problem, reply_subject, thread_headers
from responders.facts import Classified, EntityLike, InquiryFacts
from responders.policy import ReplyPolicy, refusal
from responders.render import Library
from responders.select import NoTemplate, choose_template
from responders.variables import build_variables, display_name


class Triaged(Classified, Protocol):
    """A triage decision with its routing (``classifiers.decision.Decision``)."""

    @property
    def standard(self) -> bool: ...

    @property
    def reason(self) -> str: ...


@dataclass(frozen=True)
class Reply:
    """A suggested reply: the template behind it, the variables it used, and what it says to whom."""

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

    def __bool__(self) -> bool:
        return True


@dataclass(frozen=True)
class NoReply:
    """No reply is suggested, and why (falsy)."""

    reason: str
    template_id: str | None = None

    def __bool__(self) -> bool:
        return False


def _render(library: Library, template_id: str, version: int, topic: str | None, variant: str, why: str,
            language: str, facts: InquiryFacts, entities: Sequence[EntityLike]) -> Reply | NoReply:
    catalogue = library.catalogue
    to_address = facts.reply_address or ""
    to_name = display_name(facts.sender_name, to_address) if to_address == facts.sender_address else ""
    problem = address_problem(to_address)
    if problem is not None:
        return NoReply(problem, template_id)
    variables = build_variables(language=language, topic=topic, variant=variant, facts=facts, entities=entities,
                                catalogue=catalogue)
    try:
        body = library.render(template_id, language, variables)
    except TemplateError as exc:
        return NoReply(str(exc), template_id)
    in_reply_to, references = thread_headers(facts)
    fallback = catalogue.subject_fallback.get(language, catalogue.subject_fallback.get(catalogue.default_language, ""))
    return Reply(
        template_id=template_id,
        template_version=version,
        template_digest=library.digests.get((template_id, language), ""),
        language=language,
        topic=topic,
        variant=variant,
        why=why,
        variables=variables,
        subject=reply_subject(facts.subject, facts.inquiry_id, fallback or "Your inquiry"),
        text=body.text,
        html=body.html,
        to_address=to_address,
        to_name=to_name,
        in_reply_to=in_reply_to,
        references=references,
    )


def suggest_reply(decision: Triaged, facts: InquiryFacts, library: Library, policy: ReplyPolicy, *,
                  require_standard: bool = True) -> Reply | NoReply:
    """The reply to suggest for a triaged inquiry, or ``NoReply`` with the reason there is none.

    ``require_standard=False`` suggests one for a non-standard inquiry too (staff asked for it).
    """
    refused = refusal(facts, policy)
    if refused is not None:
        return NoReply(refused)
    if require_standard and not decision.standard:
        return NoReply(f"not a standard inquiry: {decision.reason}")
    choice = choose_template(decision, facts, library.catalogue)
    if isinstance(choice, NoTemplate):
        return NoReply(choice.reason)
    return _render(library, choice.template_id, choice.version, choice.topic, choice.variant, choice.why,
                   choice.language, facts, decision.entities)


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
    return _render(library, spec.id, spec.version, None, "default", "acknowledgement", language, facts, ())
