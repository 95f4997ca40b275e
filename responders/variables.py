"""The variables a template sees, built from the inquiry and its decision: plain JSON values, stored as used.

Every value from the message is cleaned first: one line for names, subjects and
reference numbers (CR, LF and other control characters become spaces), and a
bounded length. Values are data: a reference that looks like Jinja syntax is
printed as written, never evaluated.

Variables (documented for template authors in ``config/templates/README.md``):
``language``, ``topic``, ``variant``, ``sender.name``, ``sender.address``,
``case.id``, ``case.tag``, ``inquiry.subject``, ``inquiry.date``,
``refs.registrations``, ``refs.applications``, ``refs.patents``,
``refs.references``, ``refs.all``, ``refs.main``, ``amounts``, ``dates``,
``office.*``, ``links.*``, ``register.*`` (the register's facts of the first case
it knows, ``register.found`` false when none), ``registers`` (every case it
knows) and ``sections`` (the composed sections, used by the layouts).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any

from responders.casefacts import CaseFacts, unknown_variables
from responders.catalogue import Catalogue
from responders.facts import EntityLike, InquiryFacts

TOP_LEVEL = frozenset({"language", "topic", "variant", "sender", "case", "inquiry", "refs", "amounts", "dates",
                       "office", "links", "register", "registers", "sections"})
_REF_KINDS = {"registration": "registrations", "application": "applications", "patent": "patents",
              "reference": "references"}
_MAX_ITEMS = 20


def one_line(value: str | None, limit: int = 300) -> str:
    """``value`` on one line: control characters and line breaks become spaces, runs of spaces one, trimmed."""
    if not value:
        return ""
    if value.isprintable():  # the usual case: no control characters or line separators at all
        return " ".join(value.split())[:limit].rstrip()
    cleaned = "".join(" " if unicodedata.category(c)[0] in "CZ" else c for c in value)
    return " ".join(cleaned.split())[:limit].rstrip()


def display_name(name: str, address: str | None) -> str:
    """The sender's name as a greeting may use it: empty when it is missing or only repeats an address."""
    cleaned = one_line(name, 120).strip("\"' ")
    if not cleaned or "@" in cleaned or (address and cleaned.lower() == address.lower()):
        return ""
    return cleaned


def case_tag_text(inquiry_id: int | None) -> str:
    """``T-<id>`` for a stored inquiry, empty for one that is not stored."""
    return f"T-{inquiry_id}" if inquiry_id is not None else ""


def _values(entities: Sequence[EntityLike], kind: str) -> list[str]:
    seen: dict[str, None] = {}
    for entity in entities:
        if entity.kind == kind:
            seen.setdefault(one_line(entity.value, 100), None)
    return [value for value in seen if value][:_MAX_ITEMS]


def build_variables(
    *,
    language: str,
    topic: str | None,
    variant: str,
    facts: InquiryFacts,
    entities: Sequence[EntityLike],
    catalogue: Catalogue,
    case_facts: Sequence[CaseFacts] = (),
    sections: Sequence[dict[str, str]] = (),
) -> dict[str, Any]:
    """The variables of one reply, as JSON-ready values.

    ``case_facts`` are the register's records of the numbers found (first: the main one);
    ``sections`` the rendered sections of a composed reply.
    """
    refs = {name: _values(entities, kind) for kind, name in _REF_KINDS.items()}
    numbers = [*refs["registrations"], *refs["applications"], *refs["patents"]]
    main = numbers[0] if numbers else (refs["references"] or [""])[0]
    records = [facts.as_variables() for facts in case_facts[:_MAX_ITEMS]]
    return {
        "language": language,
        "topic": topic or "",
        "variant": variant,
        "sender": {"name": display_name(facts.sender_name, facts.sender_address),
                   "address": one_line(facts.reply_address, 320)},
        "case": {"id": facts.inquiry_id, "tag": case_tag_text(facts.inquiry_id)},
        "inquiry": {"subject": one_line(facts.subject),
                    "date": facts.sent_at.date().isoformat() if facts.sent_at else ""},
        "refs": {**refs, "all": numbers, "main": main},
        "amounts": _values(entities, "amount"),
        "dates": _values(entities, "date"),
        "office": catalogue.office_facts(language),
        "links": dict(catalogue.links),
        "register": records[0] if records else unknown_variables(main),
        "registers": records,
        "sections": [dict(section) for section in sections],
    }
