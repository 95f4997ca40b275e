"""One round of the reply worker: suggest replies for newly triaged inquiries, finish stopped deliveries,
acknowledge new mail, deliver approved replies.

``triage replies run`` runs one round; the daemon runs ``ReplyWorker.run_once``
every few seconds (it is safe on several nodes at once: intents are claimed
in the database and the Message-ID keeps every message single). Each step
reads and writes through the store's repository (``pipeline.store.replies``)
and leaves composing and the network to ``responders``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from pipeline.runtime import Runtime
from pipeline.store import replies as store
from pipeline.store.db import unit_of_work
from pipeline.store.decisions import stored_decision
from pipeline.store.models import utcnow
from pipeline.store.views import stored_inquiry
from responders import deliver
from responders.acknowledge import ACTOR, MAX_AGE, AckOutcome, arrived_after_first_sync
from responders.compose import new_message_id
from responders.context import OUTBOX, ReplyContext
from responders.deliver import Connections, DeliveryOutcome
from responders.mailboxes import MailboxTransports
from responders.policy import cap_reached
from responders.suggest import NoReply, acknowledgement
from responders.transport import Transports
from webapp.services.suggestions import deliver_one, inquiry_facts, new_suggestion, record_outcome, \
    suggest_for_inquiry

_RETRY_AFTER = timedelta(minutes=5)


def deliver_approved(
    factory: sessionmaker[Session], context: ReplyContext, transports: Transports, *,
    limit: int = 100, ids: Sequence[int] | None = None, clock: Callable[[], datetime] = utcnow,
) -> list[DeliveryOutcome]:
    """Deliver approved suggestions (these ids, or those waiting, oldest first); one outcome each."""
    if ids is None:
        with unit_of_work(factory) as session:
            ids = store.approved_without_delivery(session, limit, max_attempts=context.settings.replies.max_attempts,
                                                  retry_before=clock() - _RETRY_AFTER)
    connections = Connections(transports)
    try:
        return [deliver_one(factory, context, connections, suggestion_id, clock=clock) for suggestion_id in ids]
    finally:
        connections.close()


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
    mailboxes = context.settings.mailboxes
    with unit_of_work(factory) as session:
        ids = store.stale_pending(session, stale_before)
    outcomes = []
    connections = Connections(transports)
    try:
        for suggestion_id in ids:
            with unit_of_work(factory) as session:
                claimed = store.claim_stale(session, suggestion_id, stale_before, clock(), {*mailboxes, OUTBOX})
            if claimed is None:
                continue
            job = deliver.job_for(claimed, None if claimed.mode == OUTBOX else mailboxes[claimed.mailbox])
            try:
                outcome, detail = deliver.network_step(connections, job, clock(), deliver.hand_over_recovery)
            except deliver.LookupFailed as exc:
                outcomes.append(DeliveryOutcome(suggestion_id, deliver.WAITING, job.message_id, str(exc)))
                continue
            record_outcome(factory, job, outcome, detail, "recovery", clock())
            outcomes.append(DeliveryOutcome(suggestion_id, outcome, job.message_id, detail))
    finally:
        connections.close()
    return outcomes


def _prepare_acknowledgement(session: Session, inquiry_id: int, context: ReplyContext, now: datetime) -> int | str:
    """The id of a new approved acknowledgement, or why there is none."""
    inquiry = stored_inquiry(session, inquiry_id, lock=True)
    context = context.for_desk(inquiry.desk)
    mailbox = inquiry.mailbox
    settings = context.settings.mailboxes.get(mailbox or "")
    if mailbox is None or settings is None or not settings.delivery.auto_acknowledge:
        return "automatic acknowledgements are off for this mailbox"
    if store.has_suggestion(session, inquiry_id, store.ACKNOWLEDGEMENT):
        return "already acknowledged"
    if not arrived_after_first_sync(inquiry.sent_at, store.first_synced_at(session, mailbox, inquiry.folder), now):
        return "the message was in the mailbox before it was first synced (or is too old)"
    decision = stored_decision(session, inquiry_id)
    language = decision.language if decision is not None else context.library.catalogue.default_language
    reply = acknowledgement(inquiry_facts(inquiry), language, context.library, context.policy)
    if isinstance(reply, NoReply):
        return reply.reason
    recipient = reply.to_address.strip().lower()
    if cap_reached(store.automatic_sent_since(session, recipient, now - context.policy.auto_window), context.policy):
        return f"the cap on automatic mail to {recipient} is reached"
    sender = settings.delivery.from_address or settings.user
    made = store.add_acknowledgement(session, inquiry_id, new_suggestion(reply, mailbox), ACTOR, now=now,
                                     message_id_for=lambda key: new_message_id(f"triage.ack.{key}", sender))
    return made.id


def acknowledge_inquiries(
    factory: sessionmaker[Session], context: ReplyContext, transports: Transports, inquiry_ids: Sequence[int], *,
    clock: Callable[[], datetime] = utcnow,
) -> list[AckOutcome]:
    """Acknowledge each of these (newly stored and triaged) inquiries whose mailbox asks for it."""
    outcomes: list[AckOutcome] = []
    connections = Connections(transports)
    try:
        for inquiry_id in inquiry_ids:
            with unit_of_work(factory) as session:
                prepared = _prepare_acknowledgement(session, inquiry_id, context, clock())
            if isinstance(prepared, str):
                outcomes.append(AckOutcome(inquiry_id, "skipped", prepared))
                continue
            delivered = deliver_one(factory, context, connections, prepared, actor=ACTOR, clock=clock)
            outcomes.append(AckOutcome(inquiry_id, delivered.outcome, delivered.detail))
    finally:
        connections.close()
    return outcomes


@dataclass
class RoundResult:
    """What one round did."""

    suggested: int = 0
    unanswerable: int = 0
    recovered: list[DeliveryOutcome] = field(default_factory=list)
    acknowledged: list[AckOutcome] = field(default_factory=list)
    delivered: list[DeliveryOutcome] = field(default_factory=list)


@dataclass
class ReplyWorker:
    """Sends what is due, for one process."""

    runtime: Runtime
    context: ReplyContext
    transports: Transports

    @classmethod
    def for_runtime(cls, runtime: Runtime) -> "ReplyWorker":
        """A worker with the configured templates and the mailboxes' real servers."""
        return cls(runtime, ReplyContext.load(runtime.settings), MailboxTransports(runtime.settings))

    def suggest_pending(self, result: RoundResult, limit: int = 200) -> None:
        """Store a suggested reply for each triaged inquiry that has none; one that cannot have one goes to staff."""
        factory = self.runtime.session_factory
        with unit_of_work(factory) as session:
            ids = store.inquiries_to_suggest(session, limit)
        for inquiry_id in ids:
            with unit_of_work(factory) as session:
                suggested = suggest_for_inquiry(session, inquiry_id, self.context)
                if isinstance(suggested, NoReply):
                    store.route_to_staff(session, inquiry_id, suggested.reason)
                    result.unanswerable += 1
                else:
                    result.suggested += 1

    def run_once(self, clock: Callable[[], datetime] = utcnow) -> RoundResult:
        """Suggest, recover, acknowledge, deliver: one round."""
        factory = self.runtime.session_factory
        result = RoundResult()
        self.suggest_pending(result)
        result.recovered = recover_deliveries(factory, self.context, self.transports, clock=clock)
        asking = [name for name, box in self.context.settings.mailboxes.items() if box.delivery.auto_acknowledge]
        if asking:
            with unit_of_work(factory) as session:
                candidates = store.acknowledgement_candidates(session, asking, clock() - MAX_AGE)
            result.acknowledged = acknowledge_inquiries(factory, self.context, self.transports, candidates,
                                                        clock=clock)
        result.delivered = deliver_approved(factory, self.context, self.transports, clock=clock)
        return result
