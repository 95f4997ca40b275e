"""Holds: who is working on a case right now, taken by an explicit action ("Start working on it", or acting
on the case); they expire by themselves. Viewers: who has a case's page open, a short-lived marker that holds
nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from pipeline.store.models import CaseViewer, Hold, User
from webapp.errors import Conflict
from webapp.services.users import Actor


@dataclass(frozen=True)
class HoldView:
    """Who holds a case and until when; ``mine`` when it is the person asking."""

    user_id: int
    holder: str
    expires_at: datetime
    mine: bool


def current_hold(session: Session, inquiry_id: int, actor: Actor, now: datetime) -> HoldView | None:
    """The unexpired hold on a case, if any."""
    row = session.execute(
        select(Hold, User.display_name, User.username).join(User, User.id == Hold.user_id)
        .where(Hold.inquiry_id == inquiry_id)
    ).first()
    if row is None or row[0].expires_at <= now:
        return None
    hold, display, username = row
    return HoldView(hold.user_id, display or username, hold.expires_at, hold.user_id == actor.id)


def take_hold(session: Session, inquiry_id: int, actor: Actor, hold_for: timedelta, now: datetime, *,
              force: bool = False) -> HoldView:
    """Hold the case for ``hold_for`` when it is free, expired or already ours (or ``force``: take it over).

    Returns the hold in force afterwards, which is someone else's when they hold it.
    """
    query = select(Hold).where(Hold.inquiry_id == inquiry_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    hold = session.scalar(query)
    if hold is None:
        hold = Hold(inquiry_id=inquiry_id, user_id=actor.id, acquired_at=now, expires_at=now + hold_for)
        session.add(hold)
        session.flush()
    elif hold.user_id == actor.id or hold.expires_at <= now or force:
        if hold.user_id != actor.id:
            hold.acquired_at = now
        hold.user_id = actor.id
        hold.expires_at = now + hold_for
    else:
        view = current_hold(session, inquiry_id, actor, now)
        assert view is not None
        return view
    return HoldView(actor.id, actor.name, hold.expires_at, True)


def release_hold(session: Session, inquiry_id: int, actor: Actor) -> None:
    """Let go of our hold on a case (someone else's stays)."""
    session.execute(delete(Hold).where(Hold.inquiry_id == inquiry_id, Hold.user_id == actor.id))


def require_free(session: Session, inquiry_id: int, actor: Actor, now: datetime) -> None:
    """``Conflict`` when someone else holds the case: act only after taking it over."""
    hold = current_hold(session, inquiry_id, actor, now)
    if hold is not None and not hold.mine:
        raise Conflict(f"{hold.holder} is working on this case (held until {hold.expires_at:%H:%M} UTC); "
                       "take it over first if they are not")


VIEWING_FOR = timedelta(minutes=2)  # the page renews its marker every minute


def mark_viewing(session: Session, inquiry_id: int, actor: Actor, now: datetime) -> None:
    """Note that this person has the case's page open now (holds nothing)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(CaseViewer).values(inquiry_id=inquiry_id, user_id=actor.id, seen_at=now)
                    .on_conflict_do_update(index_elements=["inquiry_id", "user_id"], set_={"seen_at": now}))


def other_viewers(session: Session, inquiry_id: int, actor: Actor, now: datetime) -> tuple[str, ...]:
    """Who else has had the case's page open within the last couple of minutes, by name."""
    rows = session.execute(
        select(User.display_name, User.username).join(CaseViewer, CaseViewer.user_id == User.id)
        .where(CaseViewer.inquiry_id == inquiry_id, CaseViewer.user_id != actor.id,
               CaseViewer.seen_at > now - VIEWING_FOR)
        .order_by(CaseViewer.seen_at.desc()).limit(10)
    ).all()
    return tuple(display or username for display, username in rows)
