"""Stored, triaged inquiries for the reply tests: real ingest, a stored decision, the inquiry in its state."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from sqlalchemy import update

from classifiers.entities import extract_entities
from classifiers.signals import Signals
from pipeline.ingest import Ingestor
from pipeline.runtime import Runtime
from pipeline.sources.base import Origin, SourceItem
from pipeline.store.db import unit_of_work
from pipeline.store.decisions import save_decisions
from pipeline.store.models import Inquiry

_counter = iter(range(1, 1_000_000))


def store_triaged(
    runtime: Runtime,
    raw: bytes,
    *,
    language: str = "en",
    topic: str = "fees",
    standard: bool = True,
    mailbox: str | None = "desk",
    folder: str = "INBOX",
    text_for_entities: str = "",
    intents: tuple[str, ...] | None = None,
) -> int:
    """Ingest one message (as seen in an IMAP mailbox, or as a file) and store its triage decision; its id.

    A standard decision answers ``intents`` (the topic's general intent when not given), as the intent model would.
    """
    n = next(_counter)
    if mailbox is not None:
        origin = Origin("imap", f"imap://{mailbox}/{folder};UIDVALIDITY=1/;UID={n}", mailbox, folder, 1, n)
    else:
        origin = Origin("file", f"/tmp/test-{n}.eml")
    stats = Ingestor(runtime.session_factory).ingest([SourceItem(origin, raw)])
    assert stats.stored == 1, stats
    inquiry_id = stats.inquiry_ids[0]
    entities = [e.as_json() for e in extract_entities(text_for_entities)]
    values = {
        "language": language, "language_confidence": 0.99, "language_band": "high", "topic": topic,
        "topic_confidence": 0.9, "topic_band": "high", "top_terms": [], "topics": [], "entities": entities,
        "signals": asdict(Signals()), "standard": standard, "queue": "customer_service" if standard else "finance",
        "reason": "standard" if standard else "Complaint about fees", "rule_id": "test", "model_version": "test",
        "intents": [{"intent": intent, "probability": 0.9} for intent in (intents or (topic,))],
        "answer_intents": list(intents or (topic,)) if standard else [],
        "hold_reason": None if standard else "complaint",
    }
    with unit_of_work(runtime.session_factory) as session:
        save_decisions(session, [(inquiry_id, values)], "test")
        session.execute(update(Inquiry).where(Inquiry.id == inquiry_id)
                        .values(state="triaged" if standard else "routed"))
    return inquiry_id


def set_first_sync(runtime: Runtime, mailbox: str, folder: str, when: datetime) -> None:
    """Record that a mailbox's folder was first synced at ``when`` (as the IMAP sync does)."""
    from pipeline.store.models import FolderSyncState, Mailbox

    with unit_of_work(runtime.session_factory) as session:
        box = Mailbox(name=mailbox, host="127.0.0.1", user=mailbox)
        session.add(box)
        session.flush()
        session.add(FolderSyncState(mailbox_id=box.id, folder=folder, uidvalidity=1, last_uid=0,
                                    first_synced_at=when))
