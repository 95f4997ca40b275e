"""Checks of a loaded configuration beyond its types, as run by ``triage check-config``."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from pipeline.config import LoadedSettings

log = logging.getLogger(__name__)

Problem = tuple[str, str]
ConfigCheck = Callable[[LoadedSettings], list[Problem]]


def check_database(loaded: LoadedSettings) -> list[Problem]:
    """The database URL parses and names a driver that is installed."""
    url = loaded.settings.database.url
    try:
        parsed = make_url(url)
    except ArgumentError:
        return [("database.url", f"not a valid SQLAlchemy URL: {url!r}")]
    if parsed.get_backend_name() not in ("sqlite", "postgresql", "mysql", "mariadb", "oracle", "mssql"):
        return [("database.url", f"unsupported database backend {parsed.get_backend_name()!r}")]
    return []


def check_mailboxes(loaded: LoadedSettings) -> list[Problem]:
    """Each mailbox has a way to authenticate and a readable secret file if it names one."""
    problems = []
    for name, mailbox in loaded.settings.mailboxes.items():
        key = f"mailboxes.{name}"
        if mailbox.password is None and mailbox.password_file is None and mailbox.oauth2_token_command is None:
            env_name = f"TRIAGE_MAILBOXES__{name.upper()}__PASSWORD"
            problems.append((key, f"no credentials: set {env_name}, password_file or oauth2_token_command"))
        if mailbox.password_file is not None and not mailbox.password_file.is_file():
            problems.append((f"{key}.password_file", f"secret file {mailbox.password_file} does not exist"))
    return problems


def check_triage(loaded: LoadedSettings) -> list[Problem]:
    """The taxonomy and routing files read, and every rule names known topics, queues and signals (with its line)."""
    from classifiers.config import triage_config_problems

    return triage_config_problems(loaded.settings.triage)


def check_replies(loaded: LoadedSettings) -> list[Problem]:
    """Every reply template loads (a refused one is listed with its file and line) and delivery can work."""
    from responders.context import delivery_problems, template_problems

    return template_problems(loaded.settings) + delivery_problems(loaded.settings)


def check_web(loaded: LoadedSettings) -> list[Problem]:
    """The review app's SLA file names known queues with valid targets; its session secret is long enough."""
    from webapp.checks import web_problems

    return web_problems(loaded.settings)


def check_desks(loaded: LoadedSettings) -> list[Problem]:
    """Each desk: its mailboxes and addresses, its taxonomy and rules, templates for every intent and language, its SLA
    file against its own queues; and a queue several desks declare has one target in all their SLA files."""
    from classifiers.config import triage_config_problems
    from classifiers.corpus import corpus_files, read_corpus
    from classifiers.config import resolve
    from pipeline.desks import DEFAULT_DESK, all_desks, desk_setting_problems
    from pipeline.errors import ClassifierError, ConfigError
    from classifiers.taxonomy import load_taxonomy
    from responders.context import desk_template_problems, desk_topics
    from webapp.desk_sla import desks_sla_problems
    from webapp.sla import sla_problems

    settings = loaded.settings
    problems = desk_setting_problems(settings)
    for desk_id, desk in all_desks(settings).items():
        if desk_id == DEFAULT_DESK and desk_id not in settings.desks:
            continue  # the install's own [triage] and [replies]: checked by their sections
        key = f"desks.{desk_id}"
        problems.extend((f"{key}: {where}", message) for where, message in triage_config_problems(desk.triage))
        try:
            examples, _ = read_corpus(corpus_files(resolve(desk.triage.corpus)))
            intents = sorted({i for e in examples if e.intents for i in e.intents})
        except (ClassifierError, ConfigError) as exc:
            problems.append((f"{key}.corpus", str(exc)))
            intents = []
        problems.extend(desk_template_problems(key, desk, intents))
        topics = desk_topics(desk)
        queues = tuple(load_taxonomy(resolve(desk.triage.taxonomy)).queues) if topics is not None else None
        problems.extend((f"{key}.sla: {where}", message) for where, message in sla_problems(resolve(desk.sla), queues))
    if len(all_desks(settings)) > 1:
        problems.extend(desks_sla_problems(settings))
    return problems


CHECKS: list[ConfigCheck] = [check_database, check_mailboxes, check_triage, check_replies, check_web, check_desks]


def run_checks(loaded: LoadedSettings) -> list[Problem]:
    """Every problem every registered check finds; a check that breaks is one problem, the others still run."""
    problems: list[Problem] = []
    for check in CHECKS:
        try:
            problems.extend(check(loaded))
        except Exception as exc:  # whatever a check trips over is reported, never a traceback that hides the rest
            log.debug("check %s failed", check.__name__, exc_info=True)
            reason = " ".join(f"{type(exc).__name__}: {exc}".split())
            # Checks are named after the settings section they check (check_replies: [replies]).
            problems.append((check.__name__.removeprefix("check_"), f"this check broke: {reason}"[:500]))
    return problems
