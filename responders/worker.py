"""One round of the reply worker: suggest replies for newly triaged inquiries, finish stopped deliveries,
acknowledge new mail, deliver approved replies.

``triage replies run`` runs one round; a daemon runs ``ReplyWorker.run_once``
every few seconds (it is safe on several nodes at once: intents are claimed
in the database and the Message-ID keeps every message single).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from pipeline.runtime import Runtime
from pipeline.store.db import unit_of_work
from pipeline.store.models import utcnow
from responders import records as rec
from responders.acknowledge import MAX_AGE, AckOutcome, acknowledge_inquiries
from responders.context import ReplyContext
from responders.deliver import DeliveryOutcome, deliver_approved, recover_deliveries
from responders.mailboxes import MailboxTransports
from responders.service import suggest_for_inquiry
from responders.suggest import NoReply
from responders.transport import Transports


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
            ids = rec.inquiries_to_suggest(session, limit)
        for inquiry_id in ids:
            with unit_of_work(factory) as session:
                suggested = suggest_for_inquiry(session, inquiry_id, self.context)
                if isinstance(suggested, NoReply):
                    rec.route_to_staff(session, inquiry_id, suggested.reason)
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
                candidates = rec.acknowledgement_candidates(session, asking, clock() - MAX_AGE)
            result.acknowledged = acknowledge_inquiries(factory, self.context, self.transports, candidates,
                                                        clock=clock)
        result.delivered = deliver_approved(factory, self.context, self.transports, clock=clock)
        return result
