"""Holds: who is working on a case right now. Opening a case takes its hold when it is free; it expires by itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from pipeline.store.models import Hold, User
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
