"""Which template answers a message, for ``triage classify`` (offline: files, no database)."""

from __future__ import annotations

from collections.abc import Callable

from pipeline.config import Settings
from pipeline.errors import ConfigError
from responders.catalogue import load_catalogue
from responders.context import taxonomy_topics, templates_directory
from responders.facts import Classified
from responders.select import TemplateChoice, choose_template


def template_finder(settings: Settings) -> Callable[[Classified], str | None]:
    """For ``triage classify``: a function giving the id of the template of the first intent a reply answers.

    Only the catalogue is read (no template is compiled, so classifying stays quick); when it cannot be
    loaded the answer is always None (``check-config`` says why).
    """
    try:
        catalogue = load_catalogue(templates_directory(settings), taxonomy_topics(settings))
    except ConfigError:
        return lambda decision: None

    def find(decision: Classified) -> str | None:
        if not getattr(decision, "standard", True):  # held back: no template answers it (staff may still pick one)
            return None
        choice = choose_template(decision, None, catalogue)
        return choice.template_id if isinstance(choice, TemplateChoice) else None

    return find
