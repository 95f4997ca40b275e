"""API log-in and log-out, and who is logged in (with the CSRF token for changes)."""

from __future__ import annotations

import math

from fastapi import APIRouter, Depends, Request, Response

from webapp.api.schemas import ErrorOut, LoginIn, MeOut
from webapp.auth import SESSION_COOKIE, context, page_csrf, require_user, visitor
from webapp.errors import NotAuthenticated, TooManyAttempts
from webapp.security import csrf_token
from webapp.services.sessions import close_session, open_session
from webapp.services.users import Actor, authenticate
from webapp.throttle import login_keys

router = APIRouter(prefix="/api", tags=["session"], responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}})


def _me(actor: Actor, token: str, expires_at: object) -> MeOut:
    return MeOut(username=actor.username, display_name=actor.display_name, role=actor.role,
                 queues=sorted(actor.queues), csrf_token=token, expires_at=expires_at)  # type: ignore[arg-type]


@router.post("/session", response_model=MeOut)
def log_in(request: Request, response: Response, body: LoginIn) -> MeOut:
    """Log in: sets the session cookie; send the returned ``csrf_token`` as ``X-CSRF-Token`` with every change."""
    ctx = context(request)
    keys = login_keys(body.username, request.client.host if request.client else None)
    wait = ctx.throttle.retry_after(*keys)
    if wait:
        raise TooManyAttempts(f"too many failed log-ins; try again in {math.ceil(wait)} seconds")
    actor = authenticate(ctx.db, body.username, body.password)
    if actor is None:
        ctx.throttle.failed(*keys)
        raise NotAuthenticated("wrong user name or password, or the account is disabled")
    ctx.throttle.succeeded(keys[0])
    login = open_session(ctx.db, actor, ctx.session_lifetime)
    response.set_cookie(SESSION_COOKIE, login.token, httponly=True, samesite="lax", secure=ctx.web.cookie_secure,
                        path="/", max_age=int(ctx.session_lifetime.total_seconds()))
    return _me(actor, csrf_token(ctx.secret, login.session_id), login.expires_at)


@router.delete("/session", status_code=204)
def log_out(request: Request, response: Response, actor: Actor = Depends(require_user)) -> None:
    """Log out."""
    close_session(context(request).db, request.cookies.get(SESSION_COOKIE, ""))
    response.delete_cookie(SESSION_COOKIE, path="/")


@router.get("/me", response_model=MeOut)
def me(request: Request, actor: Actor = Depends(require_user)) -> MeOut:
    """The logged-in person and the CSRF token for changes."""
    found = visitor(request)
    assert found is not None
    return _me(actor, page_csrf(request), found.expires_at)
