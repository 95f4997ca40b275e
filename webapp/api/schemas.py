"""Request and response bodies of the JSON API (they make its OpenAPI description)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginIn(_Body):
    """A user name and password."""

    username: str = Field(max_length=200)
    password: str = Field(max_length=2000)


class MeOut(BaseModel):
    """The logged-in person, and the token to send as ``X-CSRF-Token`` with every change."""

    username: str
    display_name: str
    role: str
    queues: list[str]
    csrf_token: str
    expires_at: datetime


class QueueOut(BaseModel):
    """A queue with its counts and response-time target."""

    id: str
    description: str
    open: int
    overdue: int
    due_soon: int
    target_hours: float
    desk: str | None = None  # the desk the queue is listed under (the first whose taxonomy declares it)


class CaseOut(BaseModel):
    """One case of a queue page."""

    inquiry_id: int
    subject: str
    sender: str
    topic: str
    language: str
    state: str
    urgent: bool
    complaint: bool
    received_at: datetime
    age_seconds: int
    sla: str
    held_by: str | None


class QueuePageOut(BaseModel):
    """One page of a queue."""

    queue: QueueOut
    total: int
    page: int
    pages: int
    cases: list[CaseOut]


class VersionIn(_Body):
    """The case version the change is made on (from the inquiry's ``case.version``)."""

    version: int


class ReplyIn(VersionIn):
    """The reply as edited, and the suggestion version it was edited from."""

    suggestion_version: int
    subject: str = Field(max_length=1000)
    body: str = Field(max_length=200_000)


class DiscardIn(VersionIn):
    """Discard the suggested reply."""

    suggestion_version: int
    note: str = Field(default="", max_length=5000)


class ReassignIn(VersionIn):
    """Move the case to another queue, with a note."""

    queue: str = Field(max_length=64)
    note: str = Field(max_length=5000)


class CorrectIn(VersionIn):
    """The right language and/or topic."""

    language: str | None = Field(default=None, max_length=20)
    topic: str | None = Field(default=None, max_length=64)


class HandledIn(VersionIn):
    """Close the case without a reply."""

    note: str = Field(default="", max_length=5000)


class ActionOut(BaseModel):
    """What an action did, and the case's new version."""

    inquiry_id: int
    version: int
    queue: str
    message: str


class HoldOut(BaseModel):
    """Whether we hold the case now, and until when."""

    held: bool
    until: datetime | None


class InquiryOut(BaseModel):
    """An inquiry with its case, decision, suggested reply, thread and attachments."""

    id: int
    state: str
    case: dict[str, Any] | None
    subject: str
    sender: dict[str, Any]
    recipients: list[str]
    sent_at: datetime | None
    received_at: datetime
    message_id: str | None
    new_text: str
    quoted_text: str
    signature: str
    forwarded_text: str
    has_html: bool
    entities: list[dict[str, Any]]
    attachments: list[dict[str, Any]]
    thread: list[dict[str, Any]]
    decision: dict[str, Any] | None
    labels: list[dict[str, Any]]
    hold: dict[str, Any] | None
    suggestion: dict[str, Any] | None
    history: list[dict[str, Any]]
    actions: list[str] = []  # what the inquiry's state allows now (edit, approve, discard, suggest, handled...)
    undoable: bool = False


class ErrorOut(BaseModel):
    """Why a request was refused."""

    error: str
    status: int


class ClientOut(BaseModel):
    """A client organisation (the sender's registrable domain) with its counts in the person's queues."""

    organisation: str
    name: str
    open_cases: int
    cases: int  # received in the period
    complaints: int  # received in the period
    due: int  # first responses given, or still waiting past the target
    within_target: int
    share_within_target: float | None
    last_received_at: datetime | None


class ClientListOut(BaseModel):
    """One page of client organisations."""

    days: int
    desk: str | None
    sort: str
    total: int
    page: int
    pages: int
    clients: list[ClientOut]


class TableOut(BaseModel):
    """A table of figures: one object per row."""

    name: str
    title: str
    columns: list[str]
    rows: list[dict[str, Any]]


class PortfolioOut(BaseModel):
    """One organisation's portfolio: open cases, volumes by topic, times against the SLA, complaints."""

    organisation: str
    name: str
    days: int
    desk: str | None
    since: datetime
    until: datetime
    open_total: int
    cases: int
    complaints_total: int
    all_time: int
    open_cases: list[dict[str, Any]]
    topics: TableOut
    times: TableOut
    complaints: list[dict[str, Any]]
