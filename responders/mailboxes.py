"""The real transports: each configured mailbox's IMAP folders and SMTP server (``responders.transport.Transports``)."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.config import MailboxSettings, Settings
from pipeline.errors import DeliveryError
from responders.imap_folders import ReplyFolders
from responders.smtp import SmtpSender
from responders.transport import MailFolders, MailSender


@dataclass(frozen=True)
class MailboxTransports:
    """Connects to the servers of the mailboxes named in the settings."""

    settings: Settings

    def _mailbox(self, name: str) -> MailboxSettings:
        mailbox = self.settings.mailboxes.get(name)
        if mailbox is None:
            raise DeliveryError(f"mailbox {name!r} is not configured (any more)")
        return mailbox

    def folders(self, mailbox: str) -> MailFolders:
        """A logged-in IMAP connection to the mailbox."""
        return ReplyFolders.connect(mailbox, self._mailbox(mailbox))

    def sender(self, mailbox: str) -> MailSender:
        """A logged-in SMTP connection for the mailbox; ``DeliveryError`` when it has no [delivery.smtp]."""
        smtp = self._mailbox(mailbox).delivery.smtp
        if smtp is None:
            raise DeliveryError(f"mailbox {mailbox} has no [mailboxes.{mailbox}.delivery.smtp] to send with")
        return SmtpSender(mailbox, smtp)
