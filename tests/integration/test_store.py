"""Storing exactly once, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError

from pipeline.config import DatabaseSettings, Settings
from pipeline.ingest import Ingestor
from pipeline.quarantine import QuarantineReason
from pipeline.runtime import Runtime, open_runtime
from pipeline.sources.base import Origin, SourceItem
from pipeline.store import repository as repo
from pipeline.store.db import _alembic_config, current_revision, head_revision
from pipeline.store.models import AuditEvent, Inquiry, Message, QuarantineRecord, RawBlob, Sighting, Thread
from tests.support.mail import make_message


def item(raw: bytes, source: str, kind: str = "file") -> SourceItem:
    return SourceItem(Origin(kind=kind, source=source), raw)


def count(runtime: Runtime, model: type) -> int:
    with runtime.session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_new_message_is_stored_with_raw_bytes_inquiry_thread_and_audit(runtime: Runtime) -> None:
    raw = make_message()
    stats = Ingestor(runtime.session_factory).ingest([item(raw, "/in/a.eml")])
    assert stats.as_json() == {"seen": 1, "stored": 1, "duplicates": 0, "quarantined": 0}
    with runtime.session_factory() as session:
        message = session.scalars(select(Message)).one()
        assert session.get(RawBlob, message.raw_sha256).data == raw
        inquiry = session.scalars(select(Inquiry)).one()
        assert inquiry.state == "new" and inquiry.message_pk == message.id
        assert inquiry.new_text.startswith("Hello, what is the renewal fee")
        assert session.scalars(select(Thread)).one().thread_key == "mid:abc123@example.com"
        event = session.scalars(select(AuditEvent)).one()
        assert (event.event, event.to_state, event.details["source"]) == ("stored", "new", "/in/a.eml")
        assert message.created_at.tzinfo is not None
    assert list(stats.inquiry_ids) == [inquiry.id]


def test_same_message_twice_and_through_two_sources_is_one_inquiry(runtime: Runtime) -> None:
    raw = make_message()
    ingestor = Ingestor(runtime.session_factory)
    ingestor.ingest([item(raw, "/in/a.eml")])
    again = ingestor.ingest([item(raw, "/in/a.eml")])
    assert again.as_json() == {"seen": 1, "stored": 0, "duplicates": 1, "quarantined": 0}
    # The same message from an IMAP folder: CRLF line endings and trace headers added.
    imap_raw = (b"Received: from mx.example.org\r\nDelivered-To: desk@x\r\n" + raw.replace(b"\n", b"\r\n"))
    imap = SourceItem(Origin(kind="imap", source="imap://desk/INBOX;UIDVALIDITY=7/;UID=3", mailbox="desk",
                             folder="INBOX", uidvalidity=7, uid=3), imap_raw)
    assert ingestor.ingest([imap]).duplicates == 1
    assert count(runtime, Message) == 1 and count(runtime, Inquiry) == 1
    with runtime.session_factory() as session:
        sightings = session.scalars(select(Sighting).order_by(Sighting.id)).all()
        assert [s.kind for s in sightings] == ["file", "imap"]
        assert (sightings[1].mailbox, sightings[1].folder, sightings[1].uidvalidity, sightings[1].uid) == (
            "desk", "INBOX", 7, 3)
        events = [e.event for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
        assert events == ["stored", "seen_again"]


def test_duplicates_within_one_batch(runtime: Runtime) -> None:
    raw = make_message()
    stats = Ingestor(runtime.session_factory).ingest([item(raw, "/a"), item(raw, "/b"), item(raw, "/a")])
    assert stats.as_json() == {"seen": 3, "stored": 1, "duplicates": 2, "quarantined": 0}
    assert count(runtime, Sighting) == 2


def test_reused_message_id_and_missing_message_id(runtime: Runtime) -> None:
    ingestor = Ingestor(runtime.session_factory)
    stats = ingestor.ingest([
        item(make_message("First question"), "/1"),
        item(make_message("A different question, same Message-ID"), "/2"),
        item(make_message("No Message-ID at all", message_id=None), "/3"),
        item(make_message("No Message-ID at all", message_id=None), "/4"),
    ])
    assert stats.as_json() == {"seen": 4, "stored": 3, "duplicates": 1, "quarantined": 0}


def test_replies_join_the_thread_of_their_root(runtime: Runtime) -> None:
    ingestor = Ingestor(runtime.session_factory)
    ingestor.ingest([item(make_message(message_id="<root@x>"), "/root")])
    ingestor.ingest([item(make_message("Reply", message_id="<r1@x>", headers={"In-Reply-To": "<root@x>",
                                                                                 "References": "<root@x>"}), "/r1")])
    with runtime.session_factory() as session:
        assert len(set(session.scalars(select(Message.thread_id)))) == 1


def test_unusable_bytes_are_quarantined_with_reason_and_kept(runtime: Runtime) -> None:
    junk = b"\x89PNG\r\n\x1a\n\x00\x00binary"
    ingestor = Ingestor(runtime.session_factory)
    stats = ingestor.ingest([item(junk, "/in/picture.png"), item(make_message(), "/in/ok.eml")])
    assert stats.as_json() == {"seen": 2, "stored": 1, "duplicates": 0, "quarantined": 1}
    again = ingestor.ingest([item(junk, "/in/picture.png")])
    assert again.quarantined == 1
    with runtime.session_factory() as session:
        record = session.scalars(select(QuarantineRecord)).one()
        assert record.reason == QuarantineReason.UNREADABLE_BYTES and "not an email message: binary" in record.error
        assert session.get(RawBlob, record.raw_sha256).data == junk
        assert session.scalar(select(func.count()).where(AuditEvent.event == "quarantined")) == 1


def test_text_the_database_would_refuse_is_stored_cleanly(runtime: Runtime) -> None:
    raw = b"From: a@example.com\nSubject: nul\x00byte \xff\xfe\nMessage-ID: <nul@x>\n\nbody\x00with nul\n"
    stats = Ingestor(runtime.session_factory).ingest([item(raw, "/nul")])
    assert stats.stored == 1


def test_audit_log_is_append_only(runtime: Runtime) -> None:
    Ingestor(runtime.session_factory).ingest([item(make_message(), "/a")])
    with pytest.raises(DBAPIError, match="append-only"):
        with runtime.session_factory.begin() as session:
            session.execute(update(AuditEvent).values(event="tampered"))
    with pytest.raises(DBAPIError, match="append-only"):
        with runtime.session_factory.begin() as session:
            session.execute(text("DELETE FROM audit_log"))
    assert count(runtime, AuditEvent) == 1


def test_concurrent_writers_store_each_message_once(db_url: str) -> None:
    raws = [make_message(f"Question number {n}", message_id=f"<q{n}@x>") for n in range(60)]
    runtimes = [open_runtime(Settings(database=DatabaseSettings(url=db_url))) for _ in range(3)]
    results = []
    errors: list[BaseException] = []

    def work(rt: Runtime, name: str) -> None:
        try:
            results.append(Ingestor(rt.session_factory, batch_size=7).ingest(item(r, f"/{name}/{i}")
                                                                             for i, r in enumerate(raws)))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(rt, f"node{i}")) for i, rt in enumerate(runtimes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sum(r.stored for r in results) == 60
    assert sum(r.duplicates for r in results) == 120
    assert count(runtimes[0], Message) == 60
    assert count(runtimes[0], Sighting) == 180
    for rt in runtimes:
        rt.close()


def test_pending_inquiries_are_claimed_oldest_first(runtime: Runtime) -> None:
    Ingestor(runtime.session_factory).ingest([item(make_message(f"q{n}", message_id=f"<p{n}@x>"), f"/{n}")
                                              for n in range(5)])
    with runtime.session_factory.begin() as session:
        ids = repo.pending_inquiry_ids(session, limit=3, claim=True)
    assert ids == sorted(ids) and len(ids) == 3


def test_migrations_go_down_and_up_again(runtime: Runtime) -> None:
    from alembic import command

    assert current_revision(runtime.engine) == head_revision()
    command.downgrade(_alembic_config(runtime.engine), "base")
    assert current_revision(runtime.engine) is None
    command.upgrade(_alembic_config(runtime.engine), "head")
    assert current_revision(runtime.engine) == head_revision()


def test_real_world_corpus_is_stored_or_quarantined_none_lost(runtime: Runtime, real_mail_files: list[Path]) -> None:
    items = [item(p.read_bytes(), str(p)) for p in real_mail_files]
    stats = Ingestor(runtime.session_factory).ingest(items)
    assert stats.seen == 246
    assert stats.as_json() == {"seen": 246, "stored": 243, "duplicates": 0, "quarantined": 3}
    with runtime.session_factory() as session:
        reasons = dict(session.execute(select(QuarantineRecord.source, QuarantineRecord.reason)).all())
        kept = set(session.scalars(select(RawBlob.sha256)))
    assert {Path(s).name for s in reasons} == {
        "cpython__msg_19.txt.eml", "mime4j__malformedHeaderStartsBody-noheader.msg.eml", "spamassassin__bsmtp.eml"}
    assert all(r == QuarantineReason.NOT_EMAIL for r in reasons.values())
    import hashlib

    for path in real_mail_files:  # every file's exact bytes are kept, stored or quarantined
        assert hashlib.sha256(path.read_bytes()).hexdigest() in kept


def test_quarantined_bytes_can_be_retried_after_a_limit_is_raised(runtime: Runtime) -> None:
    from pipeline.ingest import retry_quarantined
    from pipeline.mail import ParseLimits

    big = make_message("y" * 5000, message_id="<big@x>")
    strict = Ingestor(runtime.session_factory, limits=ParseLimits(max_message_bytes=2048))
    assert strict.ingest([item(big, "/big.eml")]).quarantined == 1
    assert retry_quarantined(strict).quarantined == 1  # same limit: still refused, nothing written twice
    relaxed = Ingestor(runtime.session_factory)
    assert retry_quarantined(relaxed).as_json() == {"seen": 1, "stored": 1, "duplicates": 0, "quarantined": 0}
    assert retry_quarantined(relaxed).seen == 0
    with runtime.session_factory() as session:
        assert session.scalars(select(QuarantineRecord)).one().released_at is not None
        assert session.scalar(select(func.count()).where(AuditEvent.event == "released")) == 1


def test_reply_finds_its_case_by_references_then_by_case_tag(runtime: Runtime) -> None:
    ingestor = Ingestor(runtime.session_factory)
    first = ingestor.ingest([item(make_message("Question", message_id="<q1@client>"), "/q1")])
    case = first.inquiry_ids[0]
    # Our reply (not ingested) referenced the question; the client's answer references only our reply's id,
    # which is unknown here, then the question.
    ingestor.ingest([item(make_message("Follow-up", message_id="<f1@client>",
                                       headers={"References": "<unknown-root@elsewhere> <q1@client>"}), "/f1")])
    # A client that drops every threading header but keeps the tag.
    ingestor.ingest([item(make_message("Answer", subject=f"RE: [T-{case}] Renewal question",
                                       message_id="<a1@client>"), "/a1")])
    # An unrelated message stays apart.
    ingestor.ingest([item(make_message("Other", subject="New topic", message_id="<o1@client>"), "/o1")])
    with runtime.session_factory() as session:
        threads = dict(session.execute(select(Message.message_id, Message.thread_id)).all())
    assert threads["q1@client"] == threads["f1@client"] == threads["a1@client"]
    assert threads["o1@client"] != threads["q1@client"]


def _refuse_subject(runtime: Runtime, subject: str) -> None:
    """Make the database itself refuse any message with this subject (SQLite: a constraint, PostgreSQL: a bad value)."""
    with runtime.engine.begin() as connection:
        if runtime.engine.dialect.name == "sqlite":
            connection.exec_driver_sql(
                f"CREATE TRIGGER refuse_poison BEFORE INSERT ON messages WHEN NEW.subject = '{subject}' "
                "BEGIN SELECT RAISE(ABORT, 'refused by the test policy'); END")
        else:
            connection.exec_driver_sql(
                "CREATE FUNCTION refuse_poison() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.subject = '{subject}' THEN "
                "RAISE EXCEPTION 'refused by the test policy' USING ERRCODE = '22023'; END IF; "
                "RETURN NEW; END; $$ LANGUAGE plpgsql")
            connection.exec_driver_sql(
                "CREATE TRIGGER refuse_poison BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION refuse_poison()")


def test_a_message_the_database_refuses_is_quarantined_with_the_storage_code(runtime: Runtime) -> None:
    _refuse_subject(runtime, "poison")
    ingestor = Ingestor(runtime.session_factory)
    outcomes = ingestor.store_batch([
        item(make_message("first", message_id="<a@x>"), "/a"),
        item(make_message("refused", subject="poison", message_id="<p@x>"), "/poison"),
        item(make_message("third", message_id="<c@x>"), "/c"),
    ])
    assert [o.outcome for o in outcomes] == ["stored", "quarantined", "stored"]
    refused = outcomes[1]
    assert refused.reason is QuarantineReason.STORAGE_FAILED
    assert refused.error is not None and "refused by the test policy" in refused.error
    with runtime.session_factory() as session:
        record = session.scalars(select(QuarantineRecord)).one()
        event = session.scalars(select(AuditEvent).where(AuditEvent.event == "quarantined")).one()
    assert (record.reason, record.source) == ("storage_failed", "/poison")
    assert record.error.startswith("the database refused to store the message") and "test policy" in record.error
    assert event.details["code"] == "storage_failed" and "test policy" in event.details["reason"]
    # Seen again it stays one quarantine record; once the database accepts it, a retry stores it.
    again = ingestor.ingest([item(make_message("refused", subject="poison", message_id="<p@x>"), "/poison")])
    assert again.as_json() == {"seen": 1, "stored": 0, "duplicates": 0, "quarantined": 1}
    assert count(runtime, QuarantineRecord) == 1
    with runtime.engine.begin() as connection:
        connection.exec_driver_sql("DROP TRIGGER refuse_poison" + ("" if runtime.engine.dialect.name == "sqlite"
                                                                   else " ON messages"))
    from pipeline.ingest import retry_quarantined

    assert retry_quarantined(ingestor).as_json() == {"seen": 1, "stored": 1, "duplicates": 0, "quarantined": 0}


def _cap_writes(runtime: Runtime) -> None:
    """SQLite: cap the file just above its size (full); PostgreSQL: hold a lock past a short lock timeout."""
    from sqlalchemy import event

    engine = runtime.engine
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            pages = connection.exec_driver_sql("PRAGMA page_count").scalar()
    engine.dispose()  # the pooled connections were made without the listener below
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def cap(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            dbapi_connection.execute(f"PRAGMA max_page_count = {int(pages or 0) + 20}")
    else:
        @event.listens_for(engine, "connect")
        def short_lock_wait(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            dbapi_connection.execute("SET lock_timeout = '300ms'")
            dbapi_connection.commit()


def test_a_database_that_cannot_take_the_batch_stops_the_run_with_a_storage_error(runtime: Runtime) -> None:
    from pipeline.errors import DatabaseUnavailableError, ParseError, StorageError

    _cap_writes(runtime)
    big = [item(make_message("x" * 200_000 + f" {n}", message_id=f"<big{n}@x>"), f"/big{n}") for n in range(3)]
    holder = None
    if runtime.engine.dialect.name == "postgresql":
        holder = runtime.engine.connect()
        holder.exec_driver_sql("LOCK TABLE raw_blobs IN ACCESS EXCLUSIVE MODE")
    try:
        with pytest.raises(DatabaseUnavailableError) as raised:
            Ingestor(runtime.session_factory).ingest(big)
    finally:
        if holder is not None:
            holder.rollback()
            holder.close()
    error = raised.value
    assert isinstance(error, StorageError) and not isinstance(error, ParseError)
    assert error.code is QuarantineReason.STORAGE_FAILED
    assert ("full" if runtime.engine.dialect.name == "sqlite" else "lock") in str(error)
    assert count(runtime, Message) == 0 and count(runtime, QuarantineRecord) == 0 and count(runtime, RawBlob) == 0


def test_unit_of_work_translates_database_errors(runtime: Runtime) -> None:
    from pipeline.errors import StorageConflictError
    from pipeline.store.db import unit_of_work
    from pipeline.store.models import Mailbox

    with unit_of_work(runtime.session_factory) as session:
        session.add(Mailbox(name="desk", host="h", user="u", status="ok"))
    with pytest.raises(StorageConflictError, match="conflicts with stored data"):
        with unit_of_work(runtime.session_factory) as session:
            session.add(Mailbox(name="desk", host="h", user="u", status="ok"))
    assert count(runtime, Mailbox) == 1


_OLD_REASONS = [  # (reason, error) as revision 0004 stored them, and the code each becomes
    ("not an email message", "not an email message: binary data, no header block", "unreadable_bytes"),
    ("not an email message", "not an email message: the first line is not a header (Name: value)", "not_email"),
    ("empty message", "empty message: the file holds no bytes", "empty"),
    ("message too large", "message too large: 5120 bytes, the limit is 2048", "too_large"),
    ("message nested too deeply to parse", "message nested too deeply to parse", "too_deeply_nested"),
    ("cannot parse message", "cannot parse message: HeaderParseError: x", "unparseable_mime"),
    ("storage refused", "storage refused: DataError: value too long", "storage_failed"),
    ("imap fetch failed", "UID 2: cannot fetch the message: fetching this message broke the connection 3 times; "
     "given up; quarantined without bytes", "fetch_breaks_connection"),
    ("imap fetch failed", "UID 3: cannot fetch the message: NO refused; quarantined without bytes", "fetch_refused"),
    ("imap fetch failed", "UID 4: cannot fetch the message: the server sent no body for the message; "
     "quarantined without bytes", "fetch_no_body"),
    ("a reason from a patched build", "who knows", "unknown"),
]


def test_migration_maps_old_quarantine_reasons_to_codes_and_back(runtime: Runtime) -> None:
    from alembic import command

    config = _alembic_config(runtime.engine)
    command.downgrade(config, "0004")
    with runtime.engine.begin() as connection:
        connection.execute(text("INSERT INTO raw_blobs (sha256, size, data, created_at) "
                                "VALUES ('e3b0', 0, :data, CURRENT_TIMESTAMP)"), {"data": b""})
        for n, (reason, error, _code) in enumerate(_OLD_REASONS):
            connection.execute(text(
                "INSERT INTO quarantine (raw_sha256, source, kind, reason, error, created_at) "
                "VALUES ('e3b0', :source, 'file', :reason, :error, CURRENT_TIMESTAMP)"),
                {"source": f"/q/{n}", "reason": reason, "error": error})

    def reasons() -> dict[str, tuple[str, str]]:
        with runtime.engine.connect() as connection:
            rows = connection.execute(text("SELECT source, reason, error FROM quarantine")).all()
        return {source: (reason, error) for source, reason, error in rows}

    command.upgrade(config, "head")
    after = reasons()
    assert {source: reason for source, (reason, _) in after.items()} == {
        f"/q/{n}": code for n, (_r, _e, code) in enumerate(_OLD_REASONS)}
    assert [after[f"/q/{n}"][1] for n in range(len(_OLD_REASONS))] == [e for _r, e, _c in _OLD_REASONS]
    assert all(reason in {c.value for c in QuarantineReason} for reason, _ in after.values())

    command.downgrade(config, "0004")  # back to the text reasons, best effort (unknown stays unknown)
    before = reasons()
    assert [before[f"/q/{n}"][0] for n in range(len(_OLD_REASONS))] == (
        [r for r, _e, _c in _OLD_REASONS[:-1]] + ["unknown"])
    command.upgrade(config, "head")
    assert reasons() == after
