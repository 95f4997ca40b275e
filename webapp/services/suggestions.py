"""Suggested replies of stored inquiries: suggest, edit, approve, discard, resolve, deliver one.

The store's repository (``pipeline.store.replies``) joined to the pure reply
code (``responders``). The review app and the reply rounds
(``pipeline.rounds.replies``) both call these, so there is one of each.

Each function but ``deliver_one`` works inside the caller's session and
transaction: the change and its audit event are committed together by the
caller (``unit_of_work``). Errors are the project's: ``ReplyError`` (not
possible as asked, with why), ``StaleSuggestionError`` (someone changed it
first: reload), ``IllegalTransition`` (the inquiry cannot move that way, e.g.
its case was closed: nothing written), ``TemplateError``.

``deliver_one`` takes a session factory: it commits the intent before the
network call and the outcome after it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from pipeline.config import MailboxSettings
from pipeline.errors import IllegalTransition, ReplyError, StorageError
from pipeline.store import followups
from pipeline.store import replies as store
from pipeline.store.db import unit_of_work
from pipeline.store.decisions import StoredDecision, add_label, labels_for, stored_decision
from pipeline.store.lifecycle import Action, InquiryState, check_transition
from pipeline.store.models import utcnow
from pipeline.store.replies import NewSuggestion, SuggestionInfo
from pipeline.store.views import StoredInquiry, inquiry_desk, stored_inquiry
from responders import deliver
from responders.compose import new_message_id
from responders.context import OUTBOX, ReplyContext
from responders.deliver import DeliveryOutcome, Job
from responders.edits import checked_edit
from responders.blanks import unfilled_blanks
from responders.facts import InquiryFacts, facts_from_stored
from responders.policy import cap_reached, refusal
from responders.suggest import NoReply, Reply, suggest_reply

log = logging.getLogger(__name__)

# The label field of staff's pick of the intents a reply answers (training data, like topic corrections).
INTENT_LABEL = "intent"
# Where a stored draft keeps the intents its sections answer (with the variables it was rendered with).
DRAFT_INTENTS = "answered_intents"

__all__ = [
    "SuggestionInfo", "UnfilledBlanks", "approve", "blanks_message", "current_suggestion", "deliver_one", "discard", "edit_suggestion", "inquiry_facts",
    "new_suggestion", "previous_draft", "restore_previous", "resolve_uncertain", "suggest_for_inquiry",
    "suggestion_info", "switch_intents", "effective_decision", "draft_intents", "INTENT_LABEL",
]


class UnfilledBlanks(ReplyError):
    """A reply still carries ``[[to fill: ...]]`` blanks: it must not be approved until they are filled."""

    def __init__(self, labels: list[str]) -> None:
        self.labels = tuple(labels)
        super().__init__(blanks_message(labels))


def blanks_message(labels: list[str]) -> str:
    """What staff are told when a reply still has blanks: how many, and which."""
    count = len(labels)
    listed = "; ".join(labels[:10]) + ("; ..." if count > 10 else "")
    return f"fill the {count} blank{'s' if count != 1 else ''} first: {listed}"


def inquiry_facts(inquiry: StoredInquiry, *, earlier_texts: Sequence[str] = (),
                  answering: StoredInquiry | None = None) -> InquiryFacts:
    """The facts a reply needs about a stored inquiry.

    ``earlier_texts`` are the thread's other messages, newest first (what the sender already gave);
    ``answering`` is the newest follow-up joined to the case: the reply is threaded to it.
    """
    last = answering or inquiry
    return facts_from_stored(
        inquiry_id=inquiry.id, new_text=inquiry.new_text, message_id=last.message_id,
        references=last.references, subject=inquiry.subject, sender_name=last.sender_name or inquiry.sender_name,
        sender_address=last.sender_address or inquiry.sender_address, reply_to=last.reply_to,
        recipients=inquiry.recipients, sent_at=last.sent_at, is_auto_reply=inquiry.is_auto_reply,
        is_bounce=inquiry.is_bounce, is_mailing_list=inquiry.is_mailing_list,
        automation_reason=inquiry.automation_reason, mailbox=inquiry.mailbox, earlier_texts=tuple(earlier_texts),
    )


def thread_facts(session: Session, inquiry: StoredInquiry) -> InquiryFacts:
    """The facts of an inquiry with its thread: the other messages' texts (follow-ups first) and the newest
    follow-up to answer, so a draft never asks again for what the thread already gave."""
    newest = followups.latest_follow_up(session, inquiry.id)
    return inquiry_facts(inquiry, earlier_texts=followups.thread_texts(session, inquiry.thread_id, inquiry.id),
                         answering=stored_inquiry(session, newest) if newest is not None else None)


def new_suggestion(reply: Reply, mailbox: str | None) -> NewSuggestion:
    """What the store keeps of a rendered reply that leaves from ``mailbox``."""
    return NewSuggestion(
        template_id=reply.template_id, template_version=reply.template_version,
        template_digest=reply.template_digest, language=reply.language,
        variables={**reply.variables, DRAFT_INTENTS: list(reply.intents)},
        subject=reply.subject, text=reply.text, html=reply.html, to_address=reply.to_address,
        to_name=reply.to_name, in_reply_to=reply.in_reply_to, references=reply.references, mailbox=mailbox,
    )


def suggestion_info(session: Session, suggestion_id: int) -> SuggestionInfo:
    """A suggestion by id; ``ReplyError`` when there is none."""
    return store.suggestion_info(session, suggestion_id)


def current_suggestion(session: Session, inquiry_id: int) -> SuggestionInfo | None:
    """The inquiry's newest suggested reply, whatever its status, if it has one."""
    return store.current_suggestion(session, inquiry_id)




def draft_intents(session: Session, suggestion_id: int) -> list[str]:
    """The intents a stored draft answers, in order (its template when it was stored without them)."""
    draft = store.draft_of(session, suggestion_id)
    stored = draft.variables.get(DRAFT_INTENTS)
    if isinstance(stored, list) and stored:
        return [str(i) for i in stored]
    return [draft.template_id] if draft.template_id else []


def _topic_of(intent: str) -> str:
    return intent.split("--", 1)[0]


def effective_decision(session: Session, inquiry_id: int, decision: StoredDecision) -> StoredDecision:
    """The decision a draft answers once staff's corrections are applied.

    The latest of staff's picks (an ``intent`` label: the intents to answer) and topic
    corrections (a ``topic`` label) wins: a picked intent is answered as picked; a corrected
    topic is answered by its most probable intent of that topic (its general explainer when
    the model ranked none), unless the intents to answer already belong to it.
    """
    latest = None
    for label in labels_for(session, inquiry_id):
        if label.field in (INTENT_LABEL, "topic"):
            latest = label
    if latest is None:
        return decision
    if latest.field == INTENT_LABEL:
        picked = tuple(str(i) for i in (latest.value if isinstance(latest.value, list) else [latest.value]) if i)
        return replace(decision, answer_intents=picked, topic=_topic_of(picked[0])) if picked else decision
    topic = str(latest.value)
    if decision.answer_intents and all(_topic_of(i) == topic for i in decision.answer_intents):
        return replace(decision, topic=topic)
    ranked = [intent for intent, _ in decision.intents if _topic_of(intent) == topic]
    return replace(decision, topic=topic, answer_intents=(ranked[0] if ranked else topic,))


def previous_draft(session: Session, inquiry_id: int) -> SuggestionInfo | None:
    """The draft most recently set aside when staff switched the reply to other intents, if any."""
    return store.previous_draft(session, inquiry_id)


def switch_intents(
    session: Session, inquiry_id: int, intents: Sequence[str], context: ReplyContext, *, actor: str,
    expected_version: int | None = None,
) -> SuggestionInfo:
    """Re-draft the reply to answer ``intents`` (in this order); the open draft, if any, is kept aside.

    The pick is kept as an ``intent`` label (training data) and later suggestions answer it.
    ``IllegalTransition`` (nothing written) when the inquiry's state allows no new draft,
    ``ReplyError`` for an intent no template answers.
    """
    chosen = tuple(dict.fromkeys(i.strip() for i in intents if i and i.strip()))
    if not chosen:
        raise ReplyError("choose at least one intent to answer")
    for intent in chosen:
        if context.library.catalogue.reply(intent) is None:
            raise ReplyError(f"no reply template answers intent {intent[:80]!r}")
    inquiry = stored_inquiry(session, inquiry_id, lock=True)
    check_transition(inquiry.state, InquiryState.SUGGESTED, Action.SUGGEST, inquiry_id=inquiry_id)
    decision = stored_decision(session, inquiry_id)
    if decision is None:
        raise ReplyError("the inquiry has not been triaged yet")
    facts = thread_facts(session, inquiry)
    reply = suggest_reply(replace(decision, answer_intents=chosen, topic=_topic_of(chosen[0])), facts,
                          context.library, context.policy, require_standard=False, case_facts=context.case_facts)
    if isinstance(reply, NoReply):
        raise ReplyError(f"no reply for {', '.join(chosen)}: {reply.reason}")
    existing = store.open_suggestion(session, inquiry_id)
    set_aside = None
    if existing is not None:
        set_aside = store.set_aside(session, existing.id, actor, expected_version=expected_version,
                                    details={"for_intents": list(chosen)})
    add_label(session, inquiry_id, INTENT_LABEL, list(chosen), actor, decision_id=decision.id)
    return store.add_reply(session, inquiry_id, new_suggestion(reply, facts.mailbox), actor, details={
        "variant": reply.variant, "why": f"picked by {actor}: {', '.join(chosen)}", "language": reply.language,
        "intents": list(chosen), "replaces": set_aside.id if set_aside is not None else None})


def restore_previous(session: Session, inquiry_id: int, actor: str, *, expected_version: int | None = None) \
        -> SuggestionInfo:
    """Bring back the draft set aside last; the current one is set aside in its place (so it can come back too)."""
    previous = store.previous_draft(session, inquiry_id)
    if previous is None:
        raise ReplyError("there is no previous draft to restore")
    check_transition(stored_inquiry(session, inquiry_id, lock=True).state, InquiryState.SUGGESTED, Action.SUGGEST, inquiry_id=inquiry_id)
    existing = store.open_suggestion(session, inquiry_id)
    if existing is not None:
        store.set_aside(session, existing.id, actor, expected_version=expected_version,
                        details={"restoring": previous.id})
    return store.add_reply(session, inquiry_id, store.draft_of(session, previous.id), actor,
                           details={"why": f"previous draft restored by {actor}", "restored": previous.id})


def suggest_for_inquiry(
    session: Session, inquiry_id: int, context: ReplyContext, *, actor: str = "system",
    require_standard: bool = True,
) -> SuggestionInfo | NoReply:
    """Suggest a reply for a triaged inquiry and store it (status ``suggested``), or say why there is none.

    An inquiry that already has an open suggestion gets that one back, unless a follow-up joined the case
    after it was made: then it is drafted again with the thread (the old draft kept aside). A standard
    follow-up of an open case joins that case (closed, no draft of its own): the case's draft comes back.
    ``require_standard=False`` suggests one for a routed inquiry too (staff asked).
    """
    inquiry = stored_inquiry(session, inquiry_id, lock=True)
    case_id = followups.joinable_case(session, inquiry_id)
    if case_id is not None and store.open_suggestion(session, inquiry_id) is None:
        mine, theirs = stored_decision(session, inquiry_id), stored_decision(session, case_id)
        if mine is not None and mine.standard and theirs is not None and theirs.standard:
            # A follow-up of an open case joins that case, whose draft is made again with the thread.
            joined = suggest_for_inquiry(session, case_id, context, actor=actor, require_standard=require_standard)
            if isinstance(joined, SuggestionInfo):
                followups.join_case(session, inquiry_id, case_id, actor=actor)
                return joined
    existing = store.open_suggestion(session, inquiry_id)
    behind = existing is not None and existing.editable and \
        followups.draft_is_behind(session, inquiry_id, existing.id)
    if existing is not None and not behind:
        return existing
    decision = stored_decision(session, inquiry_id)
    if decision is None:
        return NoReply("the inquiry has not been triaged yet")
    facts = thread_facts(session, inquiry)
    context = context.for_desk(inquiry.desk)
    reply = suggest_reply(effective_decision(session, inquiry_id, decision), facts, context.library, context.policy,
                          require_standard=require_standard, case_facts=context.case_facts)
    if isinstance(reply, NoReply):
        if existing is None:
            return reply
        followups.keep_draft(session, existing.id, reply.reason, actor=actor)
        return existing
    details: dict[str, object] = {"variant": reply.variant, "why": reply.why, "language": reply.language}
    if existing is not None:
        # A follow-up joined the case since this draft: draft again with the thread, the old one kept aside.
        store.set_aside(session, existing.id, actor, expected_version=existing.version,
                        details={"reason": "follow-up"})
        details.update(replaces=existing.id, why=f"{reply.why}; drafted again after a follow-up")
    return store.add_reply(session, inquiry_id, new_suggestion(reply, facts.mailbox), actor, details=details)


def edit_suggestion(
    session: Session, suggestion_id: int, subject: str, body: str, actor: str, expected_version: int,
    context: ReplyContext,
) -> SuggestionInfo:
    """Replace the subject and text of a suggestion (status ``edited``), if nobody changed it meanwhile."""
    current = store.check_editable(session, suggestion_id, expected_version, "edit")
    if current.kind != store.REPLY:
        raise ReplyError("an automatic acknowledgement cannot be edited")
    tagged, text = checked_edit(subject, body, current.inquiry_id)
    context = context.for_desk(inquiry_desk(session, current.inquiry_id))
    html = context.library.html_of(text, current.language, tagged)
    return store.save_edit(session, suggestion_id, tagged, text, html, actor, expected_version=expected_version)


def approve(
    session: Session, suggestion_id: int, actor: str, context: ReplyContext, *,
    expected_version: int | None = None, now: datetime | None = None,
) -> SuggestionInfo:
    """Approve a suggestion for delivery: it gets its Message-ID (the idempotency key) and its mailbox.

    Refused (``UnfilledBlanks``) while its subject or text still carries a blank.
    """
    current = store.check_editable(session, suggestion_id, expected_version, "approve")
    blanks = unfilled_blanks(current.subject) + unfilled_blanks(current.body)
    if blanks:
        raise UnfilledBlanks(blanks)
    facts = inquiry_facts(stored_inquiry(session, current.inquiry_id))
    refused = refusal(facts, context.policy)
    if refused is not None:
        raise ReplyError(f"cannot approve: {refused}")
    if context.uses_outbox(current.mailbox or facts.mailbox):
        name, sender, mode = OUTBOX, context.settings.replies.outbox_from, OUTBOX
    else:
        name, mailbox = context.mailbox_for(current.mailbox or facts.mailbox)
        sender, mode = mailbox.delivery.from_address or mailbox.user, mailbox.delivery.mode
    message_id = new_message_id(f"triage.{current.id}", sender)
    return store.approve(session, suggestion_id, actor, message_id=message_id, mailbox=name,
                         mode=mode, expected_version=expected_version, now=now)


def discard(
    session: Session, suggestion_id: int, actor: str, *, expected_version: int | None = None,
    close_inquiry: bool = False,
) -> SuggestionInfo:
    """Discard a suggestion that has not started to leave; the inquiry goes back to its queue (or is closed)."""
    return store.discard(session, suggestion_id, actor, expected_version=expected_version,
                         close_inquiry=close_inquiry)


def resolve_uncertain(session: Session, suggestion_id: int, actor: str, *, was_sent: bool) -> SuggestionInfo:
    """A person's answer about a delivery that may have left: it did (``sent``), or it did not (try again)."""
    return store.resolve_uncertain(session, suggestion_id, actor, was_sent=was_sent)


# --- delivering one approved suggestion ---------------------------------------------------------


def _problem(session: Session, suggestion: SuggestionInfo, context: ReplyContext, now: datetime) -> str | None:
    """Why this suggestion must not leave now (policy, mailbox, cap on automatic mail), or None."""
    problem = refusal(inquiry_facts(stored_inquiry(session, suggestion.inquiry_id)), context.policy)
    if problem is not None:
        return problem
    if not context.uses_outbox(suggestion.mailbox):
        try:
            context.mailbox_for(suggestion.mailbox)
        except ReplyError as exc:
            return str(exc)
    recipient = suggestion.to.strip().lower()
    if suggestion.kind == store.ACKNOWLEDGEMENT and cap_reached(
            store.automatic_sent_since(session, recipient, now - context.policy.auto_window), context.policy):
        return (f"the cap on automatic mail to {recipient} is reached ({context.policy.auto_cap} in "
                f"{context.settings.replies.auto_cap_hours:g} h)")
    return None


def _refuse(session: Session, suggestion: SuggestionInfo, problem: str, actor: str, now: datetime) \
        -> DeliveryOutcome:
    store.refuse_delivery(session, suggestion.id, problem, actor, now)
    return DeliveryOutcome(suggestion.id, deliver.REFUSED, suggestion.message_id, problem)


def _begin(session: Session, suggestion_id: int, context: ReplyContext, now: datetime, actor: str) \
        -> Job | DeliveryOutcome:
    """Step 1: check, compose and record the intent; or say why nothing is to be done."""
    suggestion = store.suggestion_info(session, suggestion_id, lock=True)
    if suggestion.status != store.APPROVED:
        return DeliveryOutcome(suggestion_id, deliver.SKIPPED, suggestion.message_id, f"it is {suggestion.status}")
    delivery = store.delivery_info(session, suggestion_id)
    if delivery is not None and delivery.state not in (store.FAILED, store.RETRY):
        return DeliveryOutcome(suggestion_id, deliver.SKIPPED, delivery.message_id,
                               f"its delivery is {delivery.state}")
    if delivery is not None and delivery.state == store.FAILED and \
            delivery.attempts >= context.settings.replies.max_attempts:
        return DeliveryOutcome(suggestion_id, deliver.SKIPPED, delivery.message_id,
                               f"gave up after {delivery.attempts} attempts: {delivery.last_error}")
    try:
        store.check_deliverable(session, suggestion_id)
    except IllegalTransition as exc:
        return DeliveryOutcome(suggestion_id, deliver.SKIPPED, suggestion.message_id, str(exc))
    problem = _problem(session, suggestion, context, now)
    if problem is not None:
        return _refuse(session, suggestion, problem, actor, now)
    context = context.for_desk(inquiry_desk(session, suggestion.inquiry_id))
    mailbox: MailboxSettings | None = None
    if context.uses_outbox(suggestion.mailbox):
        name = OUTBOX
    else:
        name, mailbox = context.mailbox_for(suggestion.mailbox)
    raw: bytes | None = None
    if delivery is None or delivery.message_id != suggestion.message_id:
        # New, or approved again after a refusal or an edit: a new message (a failed one never left).
        try:
            raw = deliver.outgoing(suggestion, mailbox, context, now)
        except ReplyError as exc:
            return _refuse(session, suggestion, str(exc), actor, now)
    if mailbox is None:
        mode, folder = OUTBOX, str(context.settings.replies.outbox)
    else:
        mode, folder = deliver.delivery_mode(suggestion, mailbox)
    started = store.start_delivery(session, suggestion_id, mode=mode, mailbox=name, folder=folder, raw=raw,
                                   actor=actor, now=now)
    return deliver.job_for(started, mailbox)


def record_outcome(factory: sessionmaker[Session], job: Job, outcome: str, detail: str, actor: str,
                   now: datetime) -> None:
    """Step 3: record what the network step did, with its audit event, in one transaction."""
    try:
        with unit_of_work(factory) as session:
            store.finish_delivery(session, job.suggestion_id, outcome, detail, actor, now)
    except StorageError:
        # The delivery stays pending; recovery finds the message by its Message-ID and records it then.
        log.exception("could not record the %s delivery of %s; recovery will", outcome, job.message_id)
        raise


def deliver_one(
    factory: sessionmaker[Session], context: ReplyContext, connections: deliver.Connections, suggestion_id: int, *,
    actor: str = "system", clock: Callable[[], datetime] = utcnow,
) -> DeliveryOutcome:
    """Deliver one approved suggestion (intent, network, outcome); a no-op for one not to be delivered now."""
    with unit_of_work(factory) as session:
        began = _begin(session, suggestion_id, context, clock(), actor)
    if isinstance(began, DeliveryOutcome):
        return began
    started = time.perf_counter()
    outcome, detail = deliver.network_step(connections, began, clock(), deliver.hand_over)
    seconds = time.perf_counter() - started
    record_outcome(factory, began, outcome, detail, actor, clock())
    return DeliveryOutcome(suggestion_id, outcome, began.message_id, detail, seconds)
