"""What suggesting and sending replies needs, made once per process from the settings.

``ReplyContext.load`` reads the template catalogue and compiles the templates
(refusing the bad ones), and derives the reply policy. ``template_problems`` is
what ``triage check-config`` reports about the templates.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from classifiers.config import resolve
from classifiers.taxonomy import load_taxonomy
from pipeline.config import MailboxSettings, Settings
from pipeline.desks import DEFAULT_DESK, Desk, all_desks, default_desk
from pipeline.errors import ConfigError, ReplyError
from responders.casefacts import NO_REGISTER, CaseFactsProvider, load_register
from responders.policy import ReplyPolicy
from responders.render import Library, library_problems, load_library

Problem = tuple[str, str]
OUTBOX = "outbox"  # the mailbox name (and delivery mode) of the embedded outbox Maildir


def templates_directory(settings: Settings) -> Path:
    """Where the templates are: ``replies.templates`` here, else the source tree's copy."""
    return resolve(settings.replies.templates)


def taxonomy_topics(settings: Settings) -> Collection[str] | None:
    """The topics of the configured taxonomy (None when it cannot be read: its own check reports that)."""
    try:
        return tuple(load_taxonomy(resolve(settings.triage.taxonomy)).topics)
    except ConfigError:
        return None


@dataclass(frozen=True)
class ReplyContext:
    """The settings, the compiled templates and the reply policy of one process."""

    settings: Settings
    library: Library
    policy: ReplyPolicy
    case_facts: CaseFactsProvider = NO_REGISTER
    desk: str = DEFAULT_DESK
    desk_libraries: Mapping[str, Library] = field(default_factory=dict)
    display_name: str | None = None  # the desk's From name, when it sets one

    @classmethod
    def load(cls, settings: Settings) -> "ReplyContext":
        """Load the templates and the register named by the settings; ``ConfigError`` when either is unusable.

        Each desk's templates are loaded too; the context is the default desk's (``for_desk`` gives another's).
        """
        library = load_library(templates_directory(settings), taxonomy_topics(settings))
        libraries: dict[str, Library] = {DEFAULT_DESK: library}
        for desk_id, desk in all_desks(settings).items():
            if desk_id not in libraries or desk_id in settings.desks:
                libraries[desk_id] = load_library(resolve(desk.templates), desk_topics(desk))
        context = cls(settings=settings, library=library, policy=ReplyPolicy.from_settings(settings),
                      case_facts=register_of(settings), desk_libraries=libraries)
        return context.for_desk(default_desk(settings))

    def for_desk(self, desk: str | None) -> "ReplyContext":
        """The context of one desk: its templates and sender identity (the default desk's for an unknown id)."""
        chosen = desk if desk is not None and desk in self.desk_libraries else default_desk(self.settings)
        if chosen not in self.desk_libraries:
            return self
        own = self.settings.desks.get(chosen)
        return replace(self, desk=chosen, library=self.desk_libraries[chosen],
                       display_name=own.display_name if own is not None else None)

    def mailbox_for(self, mailbox: str | None) -> tuple[str, MailboxSettings]:
        """The mailbox a reply leaves from: the inquiry's own, else ``replies.default_mailbox``, else the only one."""
        mailboxes = self.settings.mailboxes
        name = mailbox if mailbox in mailboxes else self.settings.replies.default_mailbox
        if name is None and len(mailboxes) == 1:
            name = next(iter(mailboxes))
        if name is None or name not in mailboxes:
            raise ReplyError("no mailbox to send this reply from: the inquiry did not come from a configured "
                             "mailbox; set replies.default_mailbox")
        return name, mailboxes[name]

    def uses_outbox(self, mailbox: str | None) -> bool:
        """Whether a reply for this mailbox goes to the outbox Maildir: approved for it, or no configured
        mailbox can send it (an inquiry from files, with no ``replies.default_mailbox``)."""
        if mailbox == OUTBOX and OUTBOX not in self.settings.mailboxes:
            return True
        try:
            self.mailbox_for(mailbox)
        except ReplyError:
            return True
        return False


def register_of(settings: Settings) -> CaseFactsProvider:
    """The register extract named by ``replies.case_register`` (none: a register that knows no case)."""
    path = settings.replies.case_register
    return load_register(resolve(path)) if path is not None else NO_REGISTER


def template_problems(settings: Settings) -> list[Problem]:
    """Every problem of the reply templates, their catalogue and the register extract, as ``(where, message)``."""
    problems = library_problems(templates_directory(settings), taxonomy_topics(settings))
    try:
        register_of(settings)
    except ConfigError as exc:
        problems.extend(exc.problems)
    return problems


def desk_template_problems(key: str, desk: Desk, intents: Collection[str]) -> list[Problem]:
    """A desk's templates: they load, and answer every intent of its corpus in every one of its working languages."""
    directory = resolve(desk.templates)
    topics = desk_topics(desk)
    try:
        library = load_library(directory, topics)
    except ConfigError as exc:
        return [(f"{key}.templates: {where}", message) for where, message in exc.problems]
    problems = [(f"{key}.templates: {where}", message) for where, message in library.problems]
    catalogue = library.catalogue
    for language in desk.languages:
        if language not in catalogue.languages:
            problems.append((f"{key}.languages", f"working language {language!r} has no templates in {directory} "
                             f"(its catalogue has {', '.join(catalogue.languages)})"))
    for intent in intents:
        if catalogue.reply(intent) is None:
            problems.append((f"{key}.templates", f"intent {intent!r} of the desk's corpus has no template in "
                             f"{directory / 'catalogue.toml'}"))
    for spec in catalogue.templates:
        for language in desk.languages or catalogue.languages:
            if language in catalogue.languages and not catalogue.path_of(spec.id, language).is_file():
                problems.append((f"{key}.templates", f"template {spec.id!r} is missing in {language!r}: "
                                 f"{catalogue.path_of(spec.id, language)}"))
    return problems


def desk_topics(desk: Desk) -> Collection[str] | None:
    """The topics of a desk's taxonomy (None when it cannot be read: its own check reports that)."""
    try:
        return tuple(load_taxonomy(resolve(desk.triage.taxonomy)).topics)
    except ConfigError:
        return None


def delivery_problems(settings: Settings) -> list[Problem]:
    """Settings for sending replies that cannot work: an unknown default mailbox, an unusable From address."""
    problems: list[Problem] = []
    replies = settings.replies
    if replies.default_mailbox is not None and replies.default_mailbox not in settings.mailboxes:
        problems.append(("replies.default_mailbox", f"unknown mailbox {replies.default_mailbox!r}; known: "
                         f"{', '.join(settings.mailboxes) or 'none'}"))
    for name, mailbox in settings.mailboxes.items():
        delivery = mailbox.delivery
        key = f"mailboxes.{name}.delivery"
        sender = delivery.from_address or mailbox.user
        if "@" not in sender:
            problems.append((f"{key}.from_address", f"replies need a From address: {mailbox.user!r} is not one"))
        smtp = delivery.smtp
        if smtp is not None:
            if smtp.user and smtp.password is None and smtp.password_file is None:
                env = f"TRIAGE_MAILBOXES__{name.upper()}__DELIVERY__SMTP__PASSWORD"
                problems.append((f"{key}.smtp", f"smtp.user is set but there is no password: set {env} "
                                 "or smtp.password_file"))
            if smtp.password_file is not None and not smtp.password_file.is_file():
                problems.append((f"{key}.smtp.password_file", f"secret file {smtp.password_file} does not exist"))
    return problems
