"""The database schema as SQLAlchemy 2.0 models. Every change here needs an Alembic migration."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, synonym
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(timezone.utc)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that always comes back timezone-aware in UTC (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime}


# BigInteger ids on PostgreSQL, INTEGER PRIMARY KEY (rowid) on SQLite.
Id = BigInteger().with_variant(Integer(), "sqlite")


class RawBlob(Base):
    """The exact bytes of a message or a quarantined file, addressed by their SHA-256."""

    __tablename__ = "raw_blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Thread(Base):
    """A conversation: every message that shares a thread key."""

    __tablename__ = "threads"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    thread_key: Mapped[str] = mapped_column(String(600), unique=True)
    subject: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Message(Base):
    """One message, stored once whatever the number of times and places it was seen."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    raw_sha256: Mapped[str] = mapped_column(ForeignKey("raw_blobs.sha256"))
    message_id: Mapped[str | None] = mapped_column(String(600), index=True)
    in_reply_to: Mapped[str | None] = mapped_column(String(600))
    references: Mapped[list[str]] = mapped_column(JSON, default=list)
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id"), index=True)
    subject: Mapped[str] = mapped_column(Text, default="")
    sender_name: Mapped[str] = mapped_column(String(500), default="")
    sender_address: Mapped[str | None] = mapped_column(String(500), index=True)
    reply_to_name: Mapped[str] = mapped_column(String(500), default="")
    reply_to_address: Mapped[str | None] = mapped_column(String(500))
    # Older readers say ``reply_to``: it is the Reply-To *address*, never display text.
    reply_to: Mapped[str | None] = synonym("reply_to_address")
    recipients: Mapped[list[str]] = mapped_column(JSON, default=list)
    sent_at: Mapped[datetime | None] = mapped_column()
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(200))
    is_auto_reply: Mapped[bool] = mapped_column(Boolean, default=False)
    is_bounce: Mapped[bool] = mapped_column(Boolean, default=False)
    is_mailing_list: Mapped[bool] = mapped_column(Boolean, default=False)
    automation_reason: Mapped[str | None] = mapped_column(String(500))
    defects: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    thread: Mapped[Thread] = relationship()
    inquiry: Mapped["Inquiry"] = relationship(back_populates="message", uselist=False)
    attachments: Mapped[list["AttachmentRecord"]] = relationship(back_populates="message")
    sightings: Mapped[list["Sighting"]] = relationship(back_populates="message")


class Inquiry(Base):
    """The parsed text of a message and its place in the triage state machine."""

    __tablename__ = "inquiries"
    __table_args__ = (Index("ix_inquiries_state_id", "state", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.id"), unique=True)
    state: Mapped[str] = mapped_column(String(32), default="new")
    text: Mapped[str] = mapped_column(Text, default="")
    new_text: Mapped[str] = mapped_column(Text, default="")
    quoted_text: Mapped[str] = mapped_column(Text, default="")
    signature: Mapped[str] = mapped_column(Text, default="")
    forwarded_text: Mapped[str] = mapped_column(Text, default="")
    html: Mapped[str | None] = mapped_column(Text)
    desk: Mapped[str | None] = mapped_column(String(64), index=True)  # None: the default desk (stored before desks)
    # A follow-up (same thread, same sender, its case still open) joins that case: no case or draft of its own.
    follow_up_of: Mapped[int | None] = mapped_column(Id, index=True)  # an inquiry id (no constraint: see 0011)
    # The sender's organisation (``pipeline.mail.organisation``): its registrable domain; None for free mail.
    organisation: Mapped[str | None] = mapped_column(String(255), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    message: Mapped[Message] = relationship(back_populates="inquiry")


class AttachmentRecord(Base):
    """What an attachment is; its bytes stay inside the raw message."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str | None] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(200))
    disposition: Mapped[str] = mapped_column(String(32))
    content_id: Mapped[str | None] = mapped_column(String(500))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    oversized: Mapped[bool] = mapped_column(Boolean, default=False)

    message: Mapped[Message] = relationship(back_populates="attachments")


class Sighting(Base):
    """One time a message was seen in a source: a file, an mbox, a Maildir, an IMAP folder."""

    __tablename__ = "sightings"
    __table_args__ = (
        UniqueConstraint("message_pk", "source", name="uq_sightings_message_source"),
        Index("ix_sightings_imap", "mailbox", "folder", "uidvalidity", "uid"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    source: Mapped[str] = mapped_column(String(1000))
    kind: Mapped[str] = mapped_column(String(16))
    mailbox: Mapped[str | None] = mapped_column(String(200))
    folder: Mapped[str | None] = mapped_column(String(500))
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    uid: Mapped[int | None] = mapped_column(BigInteger)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)

    message: Mapped[Message] = relationship(back_populates="sightings")


class QuarantineRecord(Base):
    """Bytes that could not be stored as a message, kept with the reason."""

    __tablename__ = "quarantine"
    __table_args__ = (UniqueConstraint("raw_sha256", "source", name="uq_quarantine_raw_source"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    raw_sha256: Mapped[str] = mapped_column(ForeignKey("raw_blobs.sha256"), index=True)
    source: Mapped[str] = mapped_column(String(1000))
    kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(200))
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    released_at: Mapped[datetime | None] = mapped_column()


class Mailbox(Base):
    """An IMAP account named in the configuration, with its health."""

    __tablename__ = "mailboxes"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    host: Mapped[str] = mapped_column(String(500), default="")
    user: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(32), default="unknown")
    last_sync_at: Mapped[datetime | None] = mapped_column()
    last_success_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    alert: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FolderSyncState(Base):
    """How far one folder of a mailbox has been synced, per UIDVALIDITY."""

    __tablename__ = "folder_sync_state"
    __table_args__ = (UniqueConstraint("mailbox_id", "folder", name="uq_folder_sync_state_mailbox_folder"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id"))
    folder: Mapped[str] = mapped_column(String(500))
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    first_synced_at: Mapped[datetime | None] = mapped_column()
    last_sync_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)


class AuditEvent(Base):
    """An append-only record of every state change (the database refuses updates and deletes)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_message", "message_pk", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    event: Mapped[str] = mapped_column(String(64))
    message_pk: Mapped[int | None] = mapped_column(BigInteger)
    inquiry_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    quarantine_id: Mapped[int | None] = mapped_column(BigInteger)
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str | None] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(200), default="system")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class DecisionRecord(Base):
    """One triage decision about an inquiry; the current one is flagged, the older ones are its history."""

    __tablename__ = "decisions"
    __table_args__ = (
        Index(
            "uq_decisions_current_inquiry", "inquiry_id", unique=True,
            sqlite_where=text("is_current"), postgresql_where=text("is_current"),
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    inquiry_id: Mapped[int] = mapped_column(ForeignKey("inquiries.id"), index=True)
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    language: Mapped[str] = mapped_column(String(16))
    language_confidence: Mapped[float] = mapped_column(Float)
    language_band: Mapped[str] = mapped_column(String(16))
    topic: Mapped[str] = mapped_column(String(64))
    topic_confidence: Mapped[float] = mapped_column(Float)
    topic_band: Mapped[str] = mapped_column(String(16))
    top_terms: Mapped[list[str]] = mapped_column(JSON, default=list)
    topics: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    entities: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    signals: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    standard: Mapped[bool] = mapped_column(Boolean)
    queue: Mapped[str] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(Text)
    rule_id: Mapped[str] = mapped_column(String(100))
    model_version: Mapped[str] = mapped_column(String(64))
    intents: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, server_default="[]")
    answer_intents: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    hold_reason: Mapped[str | None] = mapped_column(String(64))
    trigger: Mapped[str] = mapped_column(String(32), default="ingest")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class InstructionRecord(Base):
    """What one triaged inquiry instructs for one patent: ``pay`` or ``abandon`` (let lapse), and when it was said.

    Written with each decision (a re-triage replaces an inquiry's rows), so later mail of the same thread or
    client organisation is compared with it (``pipeline.store.instructions``).
    """

    __tablename__ = "instructions"
    __table_args__ = (Index("ix_instructions_patent_said", "patent", "said_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    inquiry_id: Mapped[int] = mapped_column(ForeignKey("inquiries.id"), index=True)
    patent: Mapped[str] = mapped_column(String(100))  # normalised, without a kind code: EP1234567
    instruction: Mapped[str] = mapped_column(String(16))
    said_at: Mapped[datetime] = mapped_column()  # the message's Date, else when it was stored


class Label(Base):
    """A correction by staff (the right value of one field of an inquiry), kept as training data."""

    __tablename__ = "labels"
    __table_args__ = (Index("ix_labels_field_created", "field", "created_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    inquiry_id: Mapped[int] = mapped_column(ForeignKey("inquiries.id"), index=True)
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("decisions.id"))
    field: Mapped[str] = mapped_column(String(32))
    value: Mapped[Any] = mapped_column(JSON)
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- the staff review app (webapp, migration 0004) ------------------------------------------


class User(Base):
    """A member of staff who logs in to the review app; ``role`` is ``staff`` or ``admin``."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="staff")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column()


class UserQueue(Base):
    """One queue a member of staff works."""

    __tablename__ = "user_queues"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    queue: Mapped[str] = mapped_column(String(64), primary_key=True)


class WebSession(Base):
    """A logged-in browser: the SHA-256 of its cookie's token, whose user, until when."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    last_seen_at: Mapped[datetime | None] = mapped_column()  # for the idle timeout; None: never used since


class LoginCounter(Base):
    """Log-in attempts of one throttle key (a name at an address, or an address) in the current window.

    Shared by every process of the review app; an attempt is counted before its password is checked.
    """

    __tablename__ = "login_counters"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[datetime] = mapped_column()


class CaseViewer(Base):
    """Someone has a case's page open (a short-lived marker, renewed while the page is open; holds nothing)."""

    __tablename__ = "case_viewers"

    inquiry_id: Mapped[int] = mapped_column(ForeignKey("inquiries.id"), primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column()


class Case(Base):
    """The review app's working copy of a triaged inquiry: its queue, what the filters see, its version.

    Kept in step with decisions and states from the audit log (``case_feed``);
    ``version`` goes up with every change so concurrent edits are detected.
    """

    __tablename__ = "cases"
    # Each queue page walks one of these in age order; the filtered columns ride along, so counting a
    # filtered queue reads the index alone.
    __table_args__ = (
        Index("ix_cases_queue_open_received", "queue", "is_open", "received_at", "topic", "language", "urgent",
              "complaint"),
        Index("ix_cases_queue_state_received", "queue", "state", "received_at", "topic", "language", "urgent",
              "complaint"),
        Index("ix_cases_queue_received", "queue", "received_at", "topic", "language", "urgent", "complaint"),
    )

    inquiry_id: Mapped[int] = mapped_column(ForeignKey("inquiries.id"), primary_key=True, autoincrement=False)
    queue: Mapped[str] = mapped_column(String(64))
    topic: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(32))
    is_open: Mapped[bool] = mapped_column(Boolean, default=True)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    complaint: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[datetime] = mapped_column()
    decision_id: Mapped[int | None] = mapped_column(BigInteger)
    queue_set_by: Mapped[str | None] = mapped_column(String(200))
    labelled_by: Mapped[str | None] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CaseFeed(Base):
    """How far the cases have followed the audit log (one row)."""

    __tablename__ = "case_feed"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_audit_id: Mapped[int] = mapped_column(BigInteger, default=0)


class Hold(Base):
    """Who is working on a case right now, until when (others see it and do not act over them)."""

    __tablename__ = "holds"

    inquiry_id: Mapped[int] = mapped_column(ForeignKey("inquiries.id"), primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    acquired_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


class CaseAction(Base):
    """One action of staff on a case, with what it changed, so the last one can be undone."""

    __tablename__ = "case_actions"
    __table_args__ = (Index("ix_case_actions_inquiry", "inquiry_id", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    inquiry_id: Mapped[int] = mapped_column(ForeignKey("inquiries.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    action: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text, default="")
    before: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    after: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    undone_at: Mapped[datetime | None] = mapped_column()
    undone_by: Mapped[int | None] = mapped_column(BigInteger)


# --- suggested replies and their delivery (responders, migration 0003) ----------------------


class Suggestion(Base):
    """A reply suggested for an inquiry (or its automatic acknowledgement), from suggestion to delivery.

    ``status`` is ``suggested``, ``edited``, ``approved``, ``sent`` or
    ``discarded``; every change is in the audit log. ``version`` goes up with
    every change, so two people editing at once cannot overwrite each other.
    ``message_id`` is given at approval and is the idempotency key of delivery.
    """

    __tablename__ = "suggestions"
    __table_args__ = (Index("ix_suggestions_status_id", "status", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    inquiry_id: Mapped[int] = mapped_column(ForeignKey("inquiries.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="reply")
    status: Mapped[str] = mapped_column(String(16), default="suggested")
    version: Mapped[int] = mapped_column(Integer, default=1)
    template_id: Mapped[str | None] = mapped_column(String(200))
    template_version: Mapped[int | None] = mapped_column(Integer)
    template_digest: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(16))
    variables: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    subject: Mapped[str] = mapped_column(Text)
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    to_address: Mapped[str] = mapped_column(String(500))
    to_name: Mapped[str] = mapped_column(String(500), default="")
    in_reply_to: Mapped[str | None] = mapped_column(String(600))
    references: Mapped[list[str]] = mapped_column(JSON, default=list)
    mailbox: Mapped[str | None] = mapped_column(String(200))
    message_id: Mapped[str | None] = mapped_column(String(600), unique=True)
    created_by: Mapped[str] = mapped_column(String(200), default="system")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    approved_by: Mapped[str | None] = mapped_column(String(200))
    approved_at: Mapped[datetime | None] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)


class Delivery(Base):
    """One message on its way out, recorded before any network call; the Message-ID makes it happen once.

    ``state``: ``pending`` (intent recorded), ``done`` (in Drafts, or accepted by
    SMTP), ``failed`` (refused for sure: tried again later), ``uncertain`` (it
    may have left: a person decides), ``retry`` (a person said it did not leave).
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_recipient_created", "recipient", "created_at"),
        Index("ix_deliveries_state_updated", "state", "updated_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    suggestion_id: Mapped[int] = mapped_column(ForeignKey("suggestions.id"), unique=True)
    message_id: Mapped[str] = mapped_column(String(600), unique=True)
    mode: Mapped[str] = mapped_column(String(16))
    mailbox: Mapped[str] = mapped_column(String(200))
    folder: Mapped[str | None] = mapped_column(String(500))
    recipient: Mapped[str] = mapped_column(String(500))
    automatic: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column()


class FolderLease(Base):
    """Which daemon may sync a mailbox folder until when (by the database's clock); also daemons' presence.

    A row with ``mailbox`` = ``*daemon*`` says a daemon (``folder`` = its holder id) is alive.
    """

    __tablename__ = "folder_leases"

    mailbox: Mapped[str] = mapped_column(String(200), primary_key=True)
    folder: Mapped[str] = mapped_column(String(500), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    acquired_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column(index=True)


# --- search, case history and notes (migration 0010) ----------------------------------------


class ReferenceMention(Base):
    """A registration, application or patent number (normalised) that an inquiry mentions.

    Written by a database trigger whenever a decision is stored (from its entities),
    so every writer, bulk loads included, keeps it in step.
    """

    __tablename__ = "reference_mentions"
    __table_args__ = (UniqueConstraint("value", "inquiry_id", name="uq_reference_mentions_value_inquiry"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    value: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(32))
    inquiry_id: Mapped[int] = mapped_column(ForeignKey("inquiries.id"), index=True)


class Note(Base):
    """An internal note of staff on a case (never sent to the customer)."""

    __tablename__ = "notes"
    __table_args__ = (Index("ix_notes_inquiry", "inquiry_id", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    inquiry_id: Mapped[int] = mapped_column(ForeignKey("inquiries.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
