"""API log-in and log-out, and who is logged in (with the CSRF token for changes)."""

from __future__ import annotations

import logging
import math

from fastapi import APIRouter, Depends, Request, Response

from webapp.api.schemas import ErrorOut, LoginIn, MeOut
from webapp.auth import SESSION_COOKIE, context, page_csrf, require_user, visitor
from webapp.client import client_address, over_tls
from webapp.errors import NotAuthenticated, TooManyAttempts
from webapp.security import csrf_token
from webapp.services.sessions import close_session, open_session
from webapp.services.users import Actor, authenticate

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api", tags=["session"], responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}})


def _me(actor: Actor, token: str, expires_at: object) -> MeOut:
    return MeOut(username=actor.username, display_name=actor.display_name, role=actor.role,
                 queues=sorted(actor.queues), csrf_token=token, expires_at=expires_at)  # type: ignore[arg-type]


@router.post("/session", response_model=MeOut)
def log_in(request: Request, response: Response, body: LoginIn) -> MeOut:
    """Log in: sets the session cookie; send the returned ``csrf_token`` as ``X-CSRF-Token`` with every change."""
    ctx = context(request)
    address = client_address(request, ctx.web)
    wait = ctx.login_throttle.reserve(body.username, address)
    if wait:
        log.warning("API log-in refused: too many attempts for %r from %s", body.username[:64], address)
        raise TooManyAttempts(f"too many failed log-ins; try again in {math.ceil(wait)} seconds")
    actor = authenticate(ctx.db, body.username, body.password)
    if actor is None:
        log.warning("failed API log-in for %r from %s", body.username[:64], address)
        raise NotAuthenticated("wrong user name or password, or the account is disabled")
    ctx.login_throttle.succeeded(body.username, address)
    login = open_session(ctx.db, actor, ctx.session_lifetime)
    response.set_cookie(SESSION_COOKIE, login.token, httponly=True, samesite="lax", secure=over_tls(request, ctx.web),
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
