"""Source → parse → store, in batches, every message exactly once.

Parsing is pure and happens outside the transaction; each batch is stored in
one transaction (all or nothing). A fingerprint seen before is a duplicate and
only adds a sighting; bytes that cannot be parsed, or that the database
refuses, are quarantined under a reason code with the error's message. When
another node stores the same message at the same moment, the batch is rolled
back and tried again, and the second try sees it as a duplicate.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from pipeline.errors import DatabaseUnavailableError, ParseError, StorageConflictError, StorageError
from pipeline.handoff import InquirySink, leave_new
from pipeline.logs import about_message
from pipeline.mail.model import ParsedMessage
from pipeline.mail.parse import ParseLimits, parse_message
from pipeline.mail.threads import find_case_tag
from pipeline.quarantine import QuarantineReason
from pipeline.sources.base import Origin, SourceItem, SourceProblem
from pipeline.store import followups
from pipeline.store import repository as repo
from pipeline.store.db import read_session, unit_of_work
from pipeline.store.models import Inquiry, Message, QuarantineRecord, RawBlob, Thread, utcnow

log = logging.getLogger(__name__)

_MAX_BATCH_BYTES = 32 * 1024 * 1024
_MAX_RETRIES = 5


@dataclass
class IngestStats:
    """Counts of one ingest run; ``seen == stored + duplicates + quarantined``."""

    seen: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    unreadable: list[SourceProblem] = field(default_factory=list)
    inquiry_ids: list[int] = field(default_factory=list)

    def as_json(self) -> dict[str, int]:
        """The stable JSON summary of the command-line contract."""
        return {"seen": self.seen, "stored": self.stored, "duplicates": self.duplicates, "quarantined": self.quarantined}

    def add(self, other: "IngestStats") -> None:
        """Add another run's counts to these."""
        self.seen += other.seen
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.quarantined += other.quarantined
        self.unreadable.extend(other.unreadable)
        self.inquiry_ids.extend(other.inquiry_ids)


@dataclass(frozen=True)
class _Parsed:
    item: SourceItem
    parsed: ParsedMessage | None
    error: ParseError | StorageError | None


@dataclass(frozen=True)
class StoredOutcome:
    """What happened to one item: ``stored``, ``duplicate`` or ``quarantined`` (with its code and message)."""

    origin: Origin
    outcome: str
    message_pk: int | None = None
    inquiry_id: int | None = None
    reason: QuarantineReason | None = None
    error: str | None = None
    message_id: str | None = None


def _parse(item: SourceItem, limits: ParseLimits) -> _Parsed:
    try:
        return _Parsed(item, parse_message(item.raw, limits), None)
    except ParseError as exc:
        return _Parsed(item, None, exc)


def _describe(exc: Exception) -> str:
    if isinstance(exc, StorageError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"[:300]


class _ThreadResolver:
    """Finds the thread of a message whose own thread key is new.

    By References/In-Reply-To first (any referenced message already stored),
    then by the case tag ``[T-<id>]`` in the subject, so a reply from a client
    that drops headers still lands in its case. Case ids are sequential, so a
    tag is honoured only when the sender already takes part in that case's
    thread; any other tag is noted (``ignored_tags``) and the message starts a
    conversation of its own.
    """

    def __init__(self, session: Session, unresolved: list[ParsedMessage]) -> None:
        self.session = session
        referenced = {mid for p in unresolved for mid in (*p.references, *([p.in_reply_to] if p.in_reply_to else []))}
        self.by_message_id = repo.thread_ids_of_messages(session, referenced) if referenced else {}
        tags = {tag for p in unresolved if (tag := find_case_tag(p.subject)) is not None}
        self.by_case = repo.thread_ids_of_inquiries(session, tags) if tags else {}
        self.participants = repo.thread_participants(session, self.by_case.values()) if self.by_case else {}
        self.in_batch: dict[str, Thread] = {}
        self.ignored_tags: dict[str, int] = {}

    def find(self, parsed: ParsedMessage) -> Thread | None:
        """The existing thread this message belongs to, or None for a new conversation."""
        for message_id in (*reversed(parsed.references), *([parsed.in_reply_to] if parsed.in_reply_to else [])):
            if message_id in self.in_batch:
                return self.in_batch[message_id]
            if message_id in self.by_message_id:
                return self.session.get(Thread, self.by_message_id[message_id])
        tag = find_case_tag(parsed.subject)
        if tag is None:
            return None
        thread_id = self.by_case.get(tag)
        sender = parsed.sender.address.lower() if parsed.sender and parsed.sender.address else None
        if thread_id is not None and sender is not None and sender in self.participants.get(thread_id, ()):
            return self.session.get(Thread, thread_id)
        self.ignored_tags[parsed.fingerprint] = tag
        return None

    def remember(self, parsed: ParsedMessage, thread: Thread) -> None:
        """Make a message stored in this batch findable by the ones after it."""
        if parsed.message_id:
            self.in_batch[parsed.message_id] = thread


# The desk of a new message from its mailbox (None for files) and its To and Cc addresses.
DeskAssigner = Callable[[str | None, list[str]], str | None]


class Ingestor:
    """Stores raw messages exactly once, quarantining what cannot be parsed."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        limits: ParseLimits | None = None,
        batch_size: int = 200,
        sink: InquirySink = leave_new,
        desk_for: DeskAssigner | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.limits = limits or ParseLimits()
        self.batch_size = batch_size
        self.sink = sink
        self.desk_for = desk_for

    def ingest(
        self,
        items: Iterable[SourceItem | SourceProblem],
        on_batch: Callable[[list[StoredOutcome]], None] | None = None,
    ) -> IngestStats:
        """Store every item; return the counts. Raises ``StorageError`` when the database fails."""
        stats = IngestStats()
        for batch in self._batches(items, stats):
            outcomes = self.store_batch(batch)
            self.count_outcomes(outcomes, stats)
            if on_batch is not None:
                on_batch(outcomes)
        return stats

    def _batches(self, items: Iterable[SourceItem | SourceProblem], stats: IngestStats) -> Iterator[list[SourceItem]]:
        batch: list[SourceItem] = []
        size = 0
        for item in items:
            if isinstance(item, SourceProblem):
                log.error("%s: %s", item.source, item.error, extra=about_message(source=item.source))
                stats.unreadable.append(item)
                continue
            batch.append(item)
            size += len(item.raw)
            if len(batch) >= self.batch_size or size >= _MAX_BATCH_BYTES:
                yield batch
                batch, size = [], 0
        if batch:
            yield batch

    def count_outcomes(self, outcomes: list[StoredOutcome], stats: IngestStats) -> None:
        """Add outcomes to the counts and hand newly stored inquiries to the sink."""
        new_ids = []
        for outcome in outcomes:
            stats.seen += 1
            about = about_message(outcome.origin, message_id=outcome.message_id, inquiry_id=outcome.inquiry_id)
            if outcome.outcome == "quarantined":
                log.warning("%s quarantined (%s): %s", outcome.origin.source,
                            outcome.reason.value if outcome.reason else "?", outcome.error, extra=about)
            else:
                log.debug("%s %s", outcome.origin.source, outcome.outcome, extra=about)
            if outcome.outcome == "stored":
                stats.stored += 1
                if outcome.inquiry_id is not None:
                    new_ids.append(outcome.inquiry_id)
            elif outcome.outcome == "duplicate":
                stats.duplicates += 1
            else:
                stats.quarantined += 1
        stats.inquiry_ids.extend(new_ids)
        if new_ids:
            self.sink(new_ids)

    def store_batch(self, items: list[SourceItem]) -> list[StoredOutcome]:
        """Parse and store one batch in one transaction; return what happened to each item.

        Raises ``DatabaseUnavailableError`` when the database cannot be used (nothing of the batch is written);
        a message the database refuses is quarantined under ``QuarantineReason.STORAGE_FAILED``.
        """
        parsed = [_parse(item, self.limits) for item in items]
        try:
            return self._store_retrying(parsed)
        except DatabaseUnavailableError:
            raise
        except Exception as exc:  # one bad message must never stop the rest: isolate it
            if len(parsed) == 1:
                return [self._quarantine_storage_failure(parsed[0], exc)]
            log.warning("batch refused (%s); storing one by one", _describe(exc))
            return [outcome for one in parsed for outcome in self._store_one_isolated(one)]

    def _store_retrying(self, batch: list[_Parsed]) -> list[StoredOutcome]:
        for attempt in range(_MAX_RETRIES):
            try:
                return self._store(batch)
            except StorageConflictError as exc:
                # Usually another writer stored some of these first; a new try sees them as duplicates.
                # A conflict that outlasts the retries is the database refusing this data.
                if attempt == _MAX_RETRIES - 1:
                    raise
                log.debug("write conflict (%s), retrying batch (attempt %d)", exc, attempt + 1)
        raise AssertionError("unreachable")

    def _store_one_isolated(self, one: _Parsed) -> list[StoredOutcome]:
        try:
            return self._store_retrying([one])
        except DatabaseUnavailableError:
            raise
        except Exception as exc:  # quarantined under the storage code instead of crashing the run
            return [self._quarantine_storage_failure(one, exc)]

    def _quarantine_storage_failure(self, one: _Parsed, exc: Exception) -> StoredOutcome:
        if isinstance(exc, StorageError):
            log.error("cannot store %s: %s", one.item.origin.source, exc, extra=about_message(one.item.origin))
            error = StorageError(f"the database refused to store the message: {exc}")
        else:  # not a database error: a defect, logged with its traceback
            log.exception("cannot store %s", one.item.origin.source, extra=about_message(one.item.origin))
            error = StorageError(f"storing the message failed: {_describe(exc)}")
        try:
            return self._store_retrying([_Parsed(one.item, None, error)])[0]
        except StorageError as again:
            raise type(again)(f"cannot store {one.item.origin.source} ({error}) nor quarantine it: {again}") from again

    def _store(self, batch: list[_Parsed]) -> list[StoredOutcome]:
        with unit_of_work(self.session_factory) as session:
            return self._write(session, batch)

    def _write(self, session: Session, batch: list[_Parsed]) -> list[StoredOutcome]:
        good = [p.parsed for p in batch if p.parsed is not None]
        known = repo.existing_fingerprints(session, (p.fingerprint for p in good))
        threads = repo.threads_by_key(session, (p.thread_key for p in good))
        raw_hashes = {id(one): one.parsed.raw_sha256 if one.parsed else hashlib.sha256(one.item.raw).hexdigest()
                      for one in batch}
        blobs = repo.existing_blobs(session, raw_hashes.values())

        # Blobs first: rows that point at them are inserted in a second flush.
        new_blobs: dict[str, bytes] = {}
        first_by_fingerprint: dict[str, _Parsed] = {}
        for one in batch:
            sha = raw_hashes[id(one)]
            if one.parsed is not None:
                if one.parsed.fingerprint in known or one.parsed.fingerprint in first_by_fingerprint:
                    continue
                first_by_fingerprint[one.parsed.fingerprint] = one
            elif repo.quarantine_exists(session, sha, one.item.origin.source) is not None:
                continue
            if sha not in blobs:
                new_blobs.setdefault(sha, one.item.raw)
        for sha, raw in new_blobs.items():
            repo.add_blob(session, sha, raw)
        session.flush()

        resolver = _ThreadResolver(session, [p for p in good if p.thread_key not in threads])
        outcomes: list[StoredOutcome] = []
        stored_now: dict[str, tuple[Message, Inquiry]] = {}
        quarantined_now: list[tuple[int, QuarantineRecord, str]] = []
        seen_again: list[tuple[int, Message]] = []
        for one in batch:
            origin = one.item.origin
            parsed = one.parsed
            if parsed is None:
                assert one.error is not None
                code, error = one.error.code, str(one.error)
                outcomes.append(StoredOutcome(origin, "quarantined", reason=code, error=error))
                sha = raw_hashes[id(one)]
                if sha in new_blobs or repo.quarantine_exists(session, sha, origin.source) is None:
                    record = repo.add_quarantine(session, sha, origin, code, error)
                    quarantined_now.append((len(outcomes) - 1, record, error))
                continue
            if parsed.fingerprint in known:
                pk = known[parsed.fingerprint]
                if repo.add_sighting_if_new(session, pk, origin):
                    repo.record_event(session, "seen_again", message_pk=pk, details=repo.origin_details(origin))
                outcomes.append(StoredOutcome(origin, "duplicate", message_pk=pk, message_id=parsed.message_id))
                continue
            if parsed.fingerprint in stored_now:
                message = stored_now[parsed.fingerprint][0]
                if all(s.source != origin.source[:1000] for s in message.sightings):
                    message.sightings.append(repo.sighting_for(origin))
                outcomes.append(StoredOutcome(origin, "duplicate", message_id=parsed.message_id))
                seen_again.append((len(outcomes) - 1, message))
                continue
            thread = threads.get(parsed.thread_key) or resolver.find(parsed)
            if thread is None:
                thread = repo.new_thread(parsed.subject, parsed.thread_key)
                session.add(thread)
                threads[parsed.thread_key] = thread
            desk = self.desk_for(origin.mailbox, [str(a) for a in (*parsed.to, *parsed.cc)]) if self.desk_for else None
            stored_now[parsed.fingerprint] = repo.add_message(session, parsed, thread, origin, desk)
            resolver.remember(parsed, thread)
            outcomes.append(StoredOutcome(origin, "stored"))
        session.flush()

        for index, (message, inquiry) in zip(
            (i for i, o in enumerate(outcomes) if o.outcome == "stored"), stored_now.values()
        ):
            origin = outcomes[index].origin
            outcomes[index] = StoredOutcome(origin, "stored", message_pk=message.id, inquiry_id=inquiry.id,
                                            message_id=message.message_id)
            details = repo.origin_details(origin)
            details["message_id"] = message.message_id
            if message.automation_reason:
                details["automation"] = message.automation_reason
            ignored = resolver.ignored_tags.get(message.fingerprint)
            if ignored is not None:
                details["case_tag_ignored"] = {
                    "case": ignored,
                    "reason": "the sender takes no part in that case's thread" if ignored in resolver.by_case
                    else "no such case",
                }
            follows = followups.mark_follow_up(session, inquiry, message)
            if follows is not None:
                details["follow_up_of"] = follows
            repo.record_event(
                session, "stored", message_pk=message.id, inquiry_id=inquiry.id, to_state=repo.STATE_NEW,
                details=details,
            )
        for index, message in seen_again:
            origin = outcomes[index].origin
            outcomes[index] = StoredOutcome(origin, "duplicate", message_pk=message.id, message_id=message.message_id)
            repo.record_event(session, "seen_again", message_pk=message.id, details=repo.origin_details(origin))
        for index, record, error in quarantined_now:
            details = repo.origin_details(outcomes[index].origin)
            details["code"] = record.reason
            details["reason"] = error
            repo.record_event(session, "quarantined", quarantine_id=record.id, to_state="quarantined", details=details)
        return outcomes


def retry_quarantined(ingestor: Ingestor, ids: Sequence[int] | None = None) -> IngestStats:
    """Parse quarantined bytes again (after a parser fix or a raised limit); release what now stores."""
    stats = IngestStats()
    with read_session(ingestor.session_factory) as session:
        query = select(QuarantineRecord.id).where(QuarantineRecord.released_at.is_(None)).order_by(QuarantineRecord.id)
        if ids:
            query = query.where(QuarantineRecord.id.in_(list(ids)))
        record_ids = list(session.scalars(query))
    for record_id in record_ids:
        with read_session(ingestor.session_factory) as session:
            record = session.get(QuarantineRecord, record_id)
            assert record is not None
            blob = session.get(RawBlob, record.raw_sha256)
            assert blob is not None
            item = SourceItem(Origin(kind=record.kind, source=record.source), blob.data)
        outcome = ingestor.store_batch([item])[0]
        ingestor.count_outcomes([outcome], stats)
        if outcome.outcome == "quarantined":
            continue
        with unit_of_work(ingestor.session_factory) as session:
            session.execute(
                update(QuarantineRecord).where(QuarantineRecord.id == record_id).values(released_at=utcnow())
            )
            repo.record_event(
                session, "released", quarantine_id=record_id, message_pk=outcome.message_pk,
                inquiry_id=outcome.inquiry_id, from_state="quarantined",
                to_state=repo.STATE_NEW if outcome.outcome == "stored" else None,
                details={"outcome": outcome.outcome},
            )
    return stats
