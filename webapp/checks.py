"""What ``triage check-config`` checks of the review app: the SLA file and the session secret."""

from __future__ import annotations

from pipeline.config import Settings
from pipeline.errors import ConfigError

Problem = tuple[str, str]


def web_problems(settings: Settings) -> list[Problem]:
    """Every problem of the ``[web]`` settings: SLA file (queues, hours) and secret length."""
    from classifiers.config import resolve
    from classifiers.taxonomy import load_taxonomy
    from webapp.secret import MIN_CHARS
    from webapp.sla import sla_problems

    try:
        queues: tuple[str, ...] | None = tuple(load_taxonomy(resolve(settings.triage.taxonomy)).queues)
    except ConfigError:
        queues = None  # the taxonomy's own check reports it
    problems = sla_problems(resolve(settings.web.sla), queues)
    secret = settings.web.secret_key
    if secret is not None and len(secret.get_secret_value().strip()) < MIN_CHARS:
        problems.append(("web.secret_key", f"must have at least {MIN_CHARS} characters"))
    return problems
