"""Approved replies leave exactly once: the intent is committed first, the Message-ID is the idempotency key.

For each approved suggestion:

1. one transaction checks it may still go (policy, mailbox, cap on automatic
   mail), composes the exact bytes, and records a ``pending`` delivery;
2. the network step: ``drafts`` mode APPENDs it to the mailbox's Drafts as
   ``\\Draft``; ``smtp`` mode first APPENDs the copy to Sent carrying the
   keyword ``$TriageSending``, then sends it, then takes the keyword off;
3. one transaction records the outcome: ``done`` (suggestion ``sent``),
   ``failed`` (refused for sure; tried again later, same Message-ID), or
   ``uncertain`` (the connection broke during DATA: a person decides).

A process that stops between 1 and 3 leaves the delivery ``pending``;
``recover_deliveries`` looks for the Message-ID before doing anything again.
Because the Sent copy is written before SMTP is asked, a copy that is not in
Sent was never sent; a copy still carrying the keyword may have been, so it is
never sent again without a person saying so.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from pipeline.config import MailboxSettings
from pipeline.errors import DeliveryError, DeliveryUncertainError, ReplyError, StorageError
from pipeline.store.db import unit_of_work
from pipeline.store.models import Delivery, Suggestion, utcnow
from responders import records as rec
from responders.compose import OutgoingMail, compose, message_bytes, with_case_tag
from responders.context import ReplyContext
from responders.policy import cap_reached, refusal
from responders.transport import DRAFT, SEEN, SENDING, Found, MailFolders, MailSender, Transports

log = logging.getLogger(__name__)

SENT, FAILED, UNCERTAIN, SKIPPED, REFUSED, WAITING = "sent", "failed", "uncertain", "skipped", "refused", "waiting"
_RETRY_AFTER = timedelta(minutes=5)


@dataclass(frozen=True)
class DeliveryOutcome:
    """What happened to one suggestion's delivery, and how long the network step took."""

    suggestion_id: int
    outcome: str
    message_id: str | None = None
    detail: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class _Job:
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


def outgoing(suggestion: Suggestion, mailbox: MailboxSettings, context: ReplyContext, now: datetime) -> bytes:
    """The exact bytes of a suggestion as it leaves (From the mailbox, threading, tag, automatic marks)."""
    delivery = mailbox.delivery
    office = context.library.catalogue.office_facts(suggestion.language)
    assert suggestion.message_id is not None
    mail = OutgoingMail(
        from_address=delivery.from_address or mailbox.user,
        from_name=delivery.from_name or office.get("name", ""),
        to_address=suggestion.to_address,
        to_name=suggestion.to_name,
        subject=with_case_tag(suggestion.subject, suggestion.inquiry_id),
        message_id=suggestion.message_id,
        date=now,
        in_reply_to=suggestion.in_reply_to,
        references=tuple(suggestion.references or ()),
        automatic=suggestion.kind == rec.ACKNOWLEDGEMENT,
        language=suggestion.language,
    )
    return message_bytes(compose(mail, suggestion.body_text, suggestion.body_html))


def _job(suggestion: Suggestion, delivery: Delivery, mailbox: MailboxSettings) -> _Job:
    settings = mailbox.delivery
    return _Job(
        suggestion_id=suggestion.id, mailbox=delivery.mailbox, mode=delivery.mode,
        drafts_folder=settings.drafts_folder, sent_folder=settings.sent_folder,
        append_to_sent=settings.append_to_sent, message_id=delivery.message_id,
        sender=settings.from_address or mailbox.user, recipient=delivery.recipient, raw=delivery.raw,
    )


def _refuse(session: Session, suggestion: Suggestion, problem: str, actor: str, now: datetime) -> DeliveryOutcome:
    """Not sent: an acknowledgement is dropped; a reply goes back to staff with the reason."""
    automatic = suggestion.kind == rec.ACKNOWLEDGEMENT
    suggestion.last_error = problem
    rec.transition(session, suggestion, rec.DISCARDED if automatic else rec.EDITED, actor, now=now,
                   event="delivery_refused", details={"reason": problem})
    return DeliveryOutcome(suggestion.id, REFUSED, suggestion.message_id, problem)


def _problem(session: Session, suggestion: Suggestion, context: ReplyContext, now: datetime) -> str | None:
    """Why this suggestion must not leave now (policy, mailbox, cap on automatic mail), or None."""
    inquiry, message = rec.inquiry_rows(session, suggestion.inquiry_id)
    problem = refusal(rec.inquiry_facts(session, inquiry, message), context.policy)
    if problem is not None:
        return problem
    try:
        context.mailbox_for(suggestion.mailbox)
    except ReplyError as exc:
        return str(exc)
    recipient = suggestion.to_address.strip().lower()
    if suggestion.kind == rec.ACKNOWLEDGEMENT and cap_reached(
            rec.automatic_sent_since(session, recipient, now - context.policy.auto_window), context.policy):
        return (f"the cap on automatic mail to {recipient} is reached ({context.policy.auto_cap} in "
                f"{context.settings.replies.auto_cap_hours:g} h)")
    return None


def _begin(session: Session, suggestion_id: int, context: ReplyContext, now: datetime, actor: str) \
        -> _Job | DeliveryOutcome:
    """Step 1: check, compose and record the intent; or say why nothing is to be done."""
    suggestion = rec.get_suggestion(session, suggestion_id, lock=True)
    if suggestion.status != rec.APPROVED:
        return DeliveryOutcome(suggestion_id, SKIPPED, suggestion.message_id, f"it is {suggestion.status}")
    delivery = rec.delivery_of(session, suggestion_id)
    if delivery is not None and delivery.state not in (rec.FAILED, rec.RETRY):
        return DeliveryOutcome(suggestion_id, SKIPPED, delivery.message_id, f"its delivery is {delivery.state}")
    if delivery is not None and delivery.state == rec.FAILED and \
            delivery.attempts >= context.settings.replies.max_attempts:
        return DeliveryOutcome(suggestion_id, SKIPPED, delivery.message_id,
                               f"gave up after {delivery.attempts} attempts: {delivery.last_error}")
    problem = _problem(session, suggestion, context, now)
    if problem is not None:
        return _refuse(session, suggestion, problem, actor, now)
    name, mailbox = context.mailbox_for(suggestion.mailbox)
    assert suggestion.message_id is not None  # given at approval
    if delivery is None or delivery.message_id != suggestion.message_id:
        # New, or approved again after a refusal or an edit: a new message (a failed one never left).
        try:
            raw = outgoing(suggestion, mailbox, context, now)
        except ReplyError as exc:
            return _refuse(session, suggestion, str(exc), actor, now)
        mode = "smtp" if suggestion.kind == rec.ACKNOWLEDGEMENT else mailbox.delivery.mode
        if delivery is None:
            delivery = Delivery(suggestion_id=suggestion_id, created_at=now)
            session.add(delivery)
        delivery.message_id, delivery.mode, delivery.mailbox, delivery.raw = suggestion.message_id, mode, name, raw
        delivery.folder = mailbox.delivery.drafts_folder if mode == "drafts" else mailbox.delivery.sent_folder
        delivery.recipient = suggestion.to_address.strip().lower()
        delivery.automatic = suggestion.kind == rec.ACKNOWLEDGEMENT
        delivery.attempts = 0
    delivery.state = rec.PENDING
    delivery.attempts += 1
    delivery.updated_at = now
    rec.log_delivery(session, suggestion, "delivery_started", actor,
                     {"mode": delivery.mode, "mailbox": name, "folder": delivery.folder, "attempt": delivery.attempts})
    return _job(suggestion, delivery, mailbox)


def _to_drafts(connections: Connections, job: _Job, now: datetime) -> str:
    folders = connections.folders(job.mailbox)
    if folders.find(job.drafts_folder, job.message_id) is None:
        folders.append(job.drafts_folder, job.raw, [DRAFT, SEEN], now)
        return f"appended to {job.drafts_folder}"
    return f"already in {job.drafts_folder}"


def _by_smtp(connections: Connections, job: _Job, now: datetime) -> str:
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


def _hand_over(connections: Connections, job: _Job, now: datetime) -> str:
    """Step 2: the network."""
    try:
        return _to_drafts(connections, job, now) if job.mode == "drafts" else _by_smtp(connections, job, now)
    except DeliveryError:
        connections.drop(job.mailbox)
        raise


def _finish(session: Session, job: _Job, outcome: str, detail: str, actor: str, now: datetime) -> None:
    """Step 3: record what happened, with its audit event, in one transaction."""
    suggestion = rec.get_suggestion(session, job.suggestion_id, lock=True)
    delivery = rec.delivery_of(session, job.suggestion_id)
    assert delivery is not None
    delivery.updated_at = now
    if outcome == SENT:
        delivery.state, delivery.done_at, delivery.last_error = rec.DONE, now, None
        suggestion.sent_at, suggestion.last_error = now, None
        rec.transition(session, suggestion, rec.SENT, actor, now=now,
                       details={"message_id": job.message_id, "mode": job.mode, "mailbox": job.mailbox,
                                "detail": detail, "attempt": delivery.attempts})
        return
    delivery.state = rec.UNCERTAIN if outcome == UNCERTAIN else rec.FAILED
    delivery.last_error = suggestion.last_error = detail
    rec.log_delivery(session, suggestion, f"delivery_{outcome}", actor,
                     {"mode": job.mode, "mailbox": job.mailbox, "error": detail, "attempt": delivery.attempts})


def _network_step(connections: Connections, job: _Job, now: datetime,
                  step: Callable[[Connections, _Job, datetime], str]) -> tuple[str, str]:
    try:
        return SENT, step(connections, job, now)
    except DeliveryUncertainError as exc:
        return UNCERTAIN, str(exc)
    except DeliveryError as exc:
        return FAILED, str(exc)


def deliver_one(
    factory: sessionmaker[Session], context: ReplyContext, connections: Connections, suggestion_id: int, *,
    actor: str = "system", clock: Callable[[], datetime] = utcnow,
) -> DeliveryOutcome:
    """Deliver one approved suggestion (intent, network, outcome); a no-op for one not to be delivered now."""
    with unit_of_work(factory) as session:
        began = _begin(session, suggestion_id, context, clock(), actor)
    if isinstance(began, DeliveryOutcome):
        return began
    started = time.perf_counter()
    outcome, detail = _network_step(connections, began, clock(), _hand_over)
    seconds = time.perf_counter() - started
    _record(factory, began, outcome, detail, actor, clock())
    return DeliveryOutcome(suggestion_id, outcome, began.message_id, detail, seconds)


def _record(factory: sessionmaker[Session], job: _Job, outcome: str, detail: str, actor: str, now: datetime) -> None:
    try:
        with unit_of_work(factory) as session:
            _finish(session, job, outcome, detail, actor, now)
    except StorageError:
        # The delivery stays pending; recovery finds the message by its Message-ID and records it then.
        log.exception("could not record the %s delivery of %s; recovery will", outcome, job.message_id)
        raise


def deliver_approved(
    factory: sessionmaker[Session], context: ReplyContext, transports: Transports, *,
    limit: int = 100, ids: Sequence[int] | None = None, clock: Callable[[], datetime] = utcnow,
) -> list[DeliveryOutcome]:
    """Deliver approved suggestions (these ids, or those waiting, oldest first); one outcome each."""
    if ids is None:
        with unit_of_work(factory) as session:
            ids = rec.approved_without_delivery(session, limit, max_attempts=context.settings.replies.max_attempts,
                                                retry_before=clock() - _RETRY_AFTER)
    connections = Connections(transports)
    try:
        return [deliver_one(factory, context, connections, suggestion_id, clock=clock) for suggestion_id in ids]
    finally:
        connections.close()


# --- recovery ------------------------------------------------------------------------------


class _LookupFailed(Exception):
    """The folders could not be searched: nothing is known yet, the delivery stays pending."""


def _claim_pending(session: Session, suggestion_id: int, context: ReplyContext, stale_before: datetime,
                   now: datetime) -> _Job | None:
    suggestion = rec.get_suggestion(session, suggestion_id, lock=True)
    delivery = rec.delivery_of(session, suggestion_id)
    if delivery is None or delivery.state != rec.PENDING or delivery.updated_at > stale_before:
        return None  # finished meanwhile, or someone else is on it
    mailbox = context.settings.mailboxes.get(delivery.mailbox)
    if mailbox is None:
        delivery.state, delivery.last_error = rec.UNCERTAIN, f"mailbox {delivery.mailbox} is no longer configured"
        rec.log_delivery(session, suggestion, "delivery_uncertain", "recovery", {"error": delivery.last_error})
        return None
    delivery.updated_at = now  # renew the lease while we look
    return _job(suggestion, delivery, mailbox)


def _find(connections: Connections, job: _Job, folder: str) -> Found | None:
    try:
        return connections.folders(job.mailbox).find(folder, job.message_id)
    except DeliveryError as exc:
        raise _LookupFailed(str(exc)) from exc


def _recover_step(connections: Connections, job: _Job, now: datetime) -> str:
    """Look for the Message-ID first; do again only what certainly did not happen."""
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


def _hand_over_recovery(connections: Connections, job: _Job, now: datetime) -> str:
    try:
        return _recover_step(connections, job, now)
    except (DeliveryError, _LookupFailed):
        connections.drop(job.mailbox)
        raise


def recover_deliveries(
    factory: sessionmaker[Session], context: ReplyContext, transports: Transports, *,
    clock: Callable[[], datetime] = utcnow, older_than_seconds: float | None = None,
) -> list[DeliveryOutcome]:
    """Finish deliveries left ``pending`` by a process that stopped: look for the Message-ID before acting.

    Only deliveries untouched for ``replies.recovery_after_seconds`` (or ``older_than_seconds``) are
    taken, so one still in the hands of a live process is left alone.
    """
    wait = context.settings.replies.recovery_after_seconds if older_than_seconds is None else older_than_seconds
    stale_before = clock() - timedelta(seconds=wait)
    with unit_of_work(factory) as session:
        ids = rec.stale_pending(session, stale_before)
    outcomes = []
    connections = Connections(transports)
    try:
        for suggestion_id in ids:
            with unit_of_work(factory) as session:
                job = _claim_pending(session, suggestion_id, context, stale_before, clock())
            if job is None:
                continue
            try:
                outcome, detail = _network_step(connections, job, clock(), _hand_over_recovery)
            except _LookupFailed as exc:
                outcomes.append(DeliveryOutcome(suggestion_id, WAITING, job.message_id, str(exc)))
                continue
            _record(factory, job, outcome, detail, "recovery", clock())
            outcomes.append(DeliveryOutcome(suggestion_id, outcome, job.message_id, detail))
    finally:
        connections.close()
    return outcomes
