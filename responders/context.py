"""What suggesting and sending replies needs, made once per process from the settings.

``ReplyContext.load`` reads the template catalogue and compiles the templates
(refusing the bad ones), and derives the reply policy. ``template_problems`` is
what ``triage check-config`` reports about the templates.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from classifiers.config import resolve
from classifiers.taxonomy import load_taxonomy
from pipeline.config import MailboxSettings, Settings
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

    @classmethod
    def load(cls, settings: Settings) -> "ReplyContext":
        """Load the templates and the register named by the settings; ``ConfigError`` when either is unusable."""
        library = load_library(templates_directory(settings), taxonomy_topics(settings))
        return cls(settings=settings, library=library, policy=ReplyPolicy.from_settings(settings),
                   case_facts=register_of(settings))

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
