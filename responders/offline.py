"""Which template answers a message, for ``triage classify`` (offline: files, no database)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pipeline.config import Settings
from pipeline.errors import ConfigError, ParseError
from pipeline.mail.parse import ParseLimits, parse_limits_for, parse_message
from responders.context import ReplyContext
from responders.facts import Classified, facts_from_parsed
from responders.render import Library
from responders.select import TemplateChoice, choose_template

if TYPE_CHECKING:
    from classifiers.decision import Decision


def template_for_raw(raw: bytes, decision: Classified, library: Library, limits: ParseLimits) -> str | None:
    """The id of the template that answers a message, if one does (for ``triage classify --json``)."""
    try:
        parsed = parse_message(raw, limits)
    except ParseError:
        return None
    choice = choose_template(decision, facts_from_parsed(parsed), library.catalogue)
    return choice.template_id if isinstance(choice, TemplateChoice) else None


def template_finder(settings: Settings) -> Callable[[bytes, "Decision"], str | None]:
    """For ``triage classify``: a function giving the id of the template that answers a message, if any.

    When the templates cannot be loaded at all it always answers None (``check-config`` says why).
    """
    try:
        library = ReplyContext.load(settings).library
    except ConfigError:
        return lambda raw, decision: None
    limits = parse_limits_for(settings.ingest)
    return lambda raw, decision: template_for_raw(raw, decision, library, limits)
