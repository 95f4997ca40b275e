"""The network half of delivering a reply: the exact bytes, and handing them over exactly once.

Around it (``pipeline.rounds.replies`` and ``webapp.services.suggestions``), for
each approved suggestion:

1. one transaction checks it may still go (policy, mailbox, cap on automatic
   mail), composes the exact bytes (``outgoing``), and records a ``pending``
   delivery;
2. the network step here (``hand_over``): ``drafts`` mode APPENDs it to the
   mailbox's Drafts as ``\\Draft``; ``smtp`` mode first APPENDs the copy to Sent
   carrying the keyword ``$TriageSending``, then sends it, then takes the
   keyword off;
3. one transaction records the outcome: ``done`` (suggestion ``sent``),
   ``failed`` (refused for sure; tried again later, same Message-ID), or
   ``uncertain`` (the connection broke during DATA: a person decides).

A process that stops between 1 and 3 leaves the delivery ``pending``;
recovery (``hand_over_recovery``) looks for the Message-ID before doing
anything again. Because the Sent copy is written before SMTP is asked, a copy
that is not in Sent was never sent; a copy still carrying the keyword may have
been, so it is never sent again without a person saying so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from pipeline.config import MailboxSettings
from pipeline.errors import DeliveryError, DeliveryUncertainError
from responders.compose import OutgoingMail, compose, message_bytes, with_case_tag
from responders.context import OUTBOX, ReplyContext
from responders.outbox import write_to_outbox
from responders.transport import DRAFT, SEEN, SENDING, Found, MailFolders, MailSender, Transports

log = logging.getLogger(__name__)

SENT, FAILED, UNCERTAIN, SKIPPED, REFUSED, WAITING = "sent", "failed", "uncertain", "skipped", "refused", "waiting"
ACKNOWLEDGEMENT = "acknowledgement"


@dataclass(frozen=True)
class DeliveryOutcome:
    """What happened to one suggestion's delivery, and how long the network step took."""

    suggestion_id: int
    outcome: str
    message_id: str | None = None
    detail: str = ""
    seconds: float = 0.0


class OutgoingReply(Protocol):
    """An approved reply as it is stored (``pipeline.store.replies.SuggestionInfo``)."""

    @property
    def inquiry_id(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def language(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def body(self) -> str: ...
    @property
    def html(self) -> str | None: ...
    @property
    def to(self) -> str: ...
    @property
    def to_name(self) -> str: ...
    @property
    def message_id(self) -> str | None: ...
    @property
    def in_reply_to(self) -> str | None: ...
    @property
    def references(self) -> tuple[str, ...]: ...


class StartedDelivery(Protocol):
    """A delivery whose intent is recorded (``pipeline.store.replies.DeliveryInfo``)."""

    @property
    def suggestion_id(self) -> int: ...
    @property
    def mailbox(self) -> str: ...
    @property
    def mode(self) -> str: ...
    @property
    def message_id(self) -> str: ...
    @property
    def recipient(self) -> str: ...
    @property
    def raw(self) -> bytes: ...
    @property
    def folder(self) -> str | None: ...


@dataclass(frozen=True)
class Job:
    """Everything the network step needs, read in the intent's transaction."""

    suggestion_id: int
    mailbox: str
    mode: str
    drafts_folder: str
    sent_folder: str
    append_to_sent: bool
    message_id: str
    sender: str
    recipient: str
    raw: bytes


def job_for(delivery: StartedDelivery, mailbox: MailboxSettings | None) -> Job:
    """The network step's job for a recorded delivery leaving from ``mailbox`` (None: the outbox Maildir)."""
    if mailbox is None or delivery.mode == OUTBOX:
        return Job(suggestion_id=delivery.suggestion_id, mailbox=OUTBOX, mode=OUTBOX,
                   drafts_folder=delivery.folder or "", sent_folder="", append_to_sent=False,
                   message_id=delivery.message_id, sender="", recipient=delivery.recipient, raw=delivery.raw)
    settings = mailbox.delivery
    return Job(
        suggestion_id=delivery.suggestion_id, mailbox=delivery.mailbox, mode=delivery.mode,
        drafts_folder=settings.drafts_folder, sent_folder=settings.sent_folder,
        append_to_sent=settings.append_to_sent, message_id=delivery.message_id,
        sender=settings.from_address or mailbox.user, recipient=delivery.recipient, raw=delivery.raw,
    )


def delivery_mode(reply: OutgoingReply, mailbox: MailboxSettings) -> tuple[str, str]:
    """How a reply leaves and the folder its copy goes to: acknowledgements by SMTP, replies as the mailbox says."""
    mode = "smtp" if reply.kind == ACKNOWLEDGEMENT else mailbox.delivery.mode
    return mode, mailbox.delivery.drafts_folder if mode == "drafts" else mailbox.delivery.sent_folder


@dataclass
class Connections:
    """Open connections per mailbox, reused across one round of deliveries; a broken one is dropped."""

    transports: Transports
    _folders: dict[str, MailFolders] = field(default_factory=dict)
    _senders: dict[str, MailSender] = field(default_factory=dict)

    def folders(self, mailbox: str) -> MailFolders:
        """The mailbox's folders, connecting on first use."""
        if mailbox not in self._folders:
            self._folders[mailbox] = self.transports.folders(mailbox)
        return self._folders[mailbox]

    def sender(self, mailbox: str) -> MailSender:
        """The mailbox's SMTP server, connecting on first use."""
        if mailbox not in self._senders:
            self._senders[mailbox] = self.transports.sender(mailbox)
        return self._senders[mailbox]

    def drop(self, mailbox: str) -> None:
        """Close and forget a mailbox's connections (after an error they may be broken)."""
        for cache in (self._folders, self._senders):
            connection = cache.pop(mailbox, None)
            if connection is not None:
                connection.close()

    def close(self) -> None:
        """Close every connection."""
        for mailbox in {*self._folders, *self._senders}:
            self.drop(mailbox)


def outgoing(reply: OutgoingReply, mailbox: MailboxSettings | None, context: ReplyContext, now: datetime) -> bytes:
    """The exact bytes of a reply as it leaves (From the mailbox, or the outbox's address when None; threading,
    tag, automatic marks)."""
    office = context.library.catalogue.office_facts(reply.language)
    assert reply.message_id is not None
    from_address, from_name = context.settings.replies.outbox_from, ""
    if mailbox is not None:
        from_address, from_name = mailbox.delivery.from_address or mailbox.user, mailbox.delivery.from_name or ""
    mail = OutgoingMail(
        from_address=from_address,
        from_name=from_name or context.display_name or office.get("name", ""),
        to_address=reply.to,
        to_name=reply.to_name,
        subject=with_case_tag(reply.subject, reply.inquiry_id),
        message_id=reply.message_id,
        date=now,
        in_reply_to=reply.in_reply_to,
        references=tuple(reply.references or ()),
        automatic=reply.kind == ACKNOWLEDGEMENT,
        language=reply.language,
    )
    return message_bytes(compose(mail, reply.body, reply.html))


def _to_drafts(connections: Connections, job: Job, now: datetime) -> str:
    folders = connections.folders(job.mailbox)
    if folders.find(job.drafts_folder, job.message_id) is None:
        folders.append(job.drafts_folder, job.raw, [DRAFT, SEEN], now)
        return f"appended to {job.drafts_folder}"
    return f"already in {job.drafts_folder}"


def _by_smtp(connections: Connections, job: Job, now: datetime) -> str:
    copy: Found | None = None
    folders = connections.folders(job.mailbox) if job.append_to_sent else None
    if folders is not None:
        copy = folders.find(job.sent_folder, job.message_id)
        if copy is None:
            copy = folders.append(job.sent_folder, job.raw, [SEEN, SENDING], now) or \
                folders.find(job.sent_folder, job.message_id)
    try:
        connections.sender(job.mailbox).send(job.raw, job.sender, [job.recipient])
    except DeliveryUncertainError:
        raise
    except DeliveryError:
        if folders is not None and copy is not None:
            try:
                folders.delete(copy)
            except DeliveryError as exc:  # the copy keeps its keyword; a later attempt reuses it
                log.warning("could not remove the unsent copy of %s from %s: %s", job.message_id, job.sent_folder, exc)
        raise
    if folders is not None and copy is not None:
        try:
            folders.remove_flag(copy, SENDING)
        except DeliveryError as exc:  # sent all the same: only the marker on the copy stays
            log.warning("sent %s but could not clear %s on its copy: %s", job.message_id, SENDING, exc)
            return f"accepted by SMTP; copy in {job.sent_folder} still marked {SENDING}"
    return "accepted by SMTP" + (f", copy in {job.sent_folder}" if folders is not None else "")


def hand_over(connections: Connections, job: Job, now: datetime) -> str:
    """The network step: put the message into Drafts, or send it by SMTP (with its copy in Sent); or write it
    to the outbox Maildir (no network)."""
    if job.mode == OUTBOX:
        return write_to_outbox(Path(job.drafts_folder), job.message_id, job.raw)
    try:
        return _to_drafts(connections, job, now) if job.mode == "drafts" else _by_smtp(connections, job, now)
    except DeliveryError:
        connections.drop(job.mailbox)
        raise


def network_step(connections: Connections, job: Job, now: datetime,
                 step: Callable[[Connections, Job, datetime], str]) -> tuple[str, str]:
    """Run a network step: ``(sent, what was done)``, ``(uncertain, why)`` or ``(failed, why)``."""
    try:
        return SENT, step(connections, job, now)
    except DeliveryUncertainError as exc:
        return UNCERTAIN, str(exc)
    except DeliveryError as exc:
        return FAILED, str(exc)


# --- recovery ------------------------------------------------------------------------------


class LookupFailed(Exception):
    """The folders could not be searched: nothing is known yet, the delivery stays pending."""


def _find(connections: Connections, job: Job, folder: str) -> Found | None:
    try:
        return connections.folders(job.mailbox).find(folder, job.message_id)
    except DeliveryError as exc:
        raise LookupFailed(str(exc)) from exc


def _recover_step(connections: Connections, job: Job, now: datetime) -> str:
    """Look for the Message-ID first; do again only what certainly did not happen."""
    if job.mode == OUTBOX:  # writing finds the file already there
        return write_to_outbox(Path(job.drafts_folder), job.message_id, job.raw) + " after a restart"
    if job.mode == "drafts":
        for folder in (job.drafts_folder, job.sent_folder):
            if _find(connections, job, folder) is not None:
                return f"found in {folder} after a restart"
        return _to_drafts(connections, job, now) + " after a restart"
    if not job.append_to_sent:
        raise DeliveryUncertainError("the process stopped while sending and no copy is kept in Sent, "
                                     "so there is no way to tell whether it left")
    found = _find(connections, job, job.sent_folder)
    if found is None:  # the copy is written before SMTP is asked: no copy, never sent
        return _by_smtp(connections, job, now) + " after a restart"
    if SENDING in found.flags:
        raise DeliveryUncertainError(f"the process stopped while sending: the copy in {job.sent_folder} is still "
                                     f"marked {SENDING}, so it may or may not have left")
    return f"found sent in {job.sent_folder} after a restart"


def hand_over_recovery(connections: Connections, job: Job, now: datetime) -> str:
    """The network step after a restart: find the message by its Message-ID, finish only what did not happen.

    ``LookupFailed`` when the folders cannot be searched (nothing is known: try later).
    """
    try:
        return _recover_step(connections, job, now)
    except (DeliveryError, LookupFailed):
        connections.drop(job.mailbox)
        raise
