"""The log-in page, log-out, and the site's root."""

from __future__ import annotations

import logging
import math

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from webapp.auth import LOGIN_COOKIE, SESSION_COOKIE, context, visitor
from webapp.client import client_address, over_tls
from webapp.rendering import render
from webapp.responses import local_path, redirect
from webapp.security import login_token, new_nonce
from webapp.services.sessions import close_session, open_session
from webapp.services.users import authenticate

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)


def _login_page(request: Request, *, error: str = "", username: str = "", status: int = 200) -> HTMLResponse:
    nonce = request.cookies.get(LOGIN_COOKIE) or new_nonce()
    response = render(request, "login.html", {
        "login_csrf": login_token(context(request).secret, nonce), "error": error, "username": username[:64],
        "next": local_path(request.query_params.get("next")),
    }, status=status)
    response.set_cookie(LOGIN_COOKIE, nonce, httponly=True, samesite="strict",
                        secure=over_tls(request, context(request).web), path="/", max_age=3600)
    return response


@router.get("/")
def root() -> RedirectResponse:
    """The site's root: the queues."""
    return RedirectResponse("/queues", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    """The log-in form (or straight to the queues when logged in already)."""
    if visitor(request) is not None:
        return RedirectResponse(local_path(request.query_params.get("next")), status_code=303)
    return _login_page(request)


@router.post("/login")
def login(request: Request, username: str = Form("", max_length=200), password: str = Form("", max_length=2000),
          next: str = Form("/queues", max_length=2000)) -> Response:
    """Check the name and password; open a session and go on, or show the form again."""
    ctx = context(request)
    address = client_address(request, ctx.web)
    wait = ctx.login_throttle.reserve(username, address)
    if wait:
        log.warning("log-in refused: too many attempts for %r from %s", username[:64], address)
        page = _login_page(request, error=f"Too many failed log-ins. Try again in {math.ceil(wait / 60)} minute(s).",
                           username=username, status=429)
        page.headers["Retry-After"] = str(math.ceil(wait))
        return page
    actor = authenticate(ctx.db, username, password)
    if actor is None:
        log.warning("failed log-in for %r from %s", username[:64], address)
        return _login_page(request, error="Wrong user name or password, or the account is disabled.",
                           username=username, status=401)
    ctx.login_throttle.succeeded(username, address)
    login_ = open_session(ctx.db, actor, ctx.session_lifetime)
    response = RedirectResponse(local_path(next), status_code=303)
    response.set_cookie(SESSION_COOKIE, login_.token, httponly=True, samesite="lax", secure=over_tls(request, ctx.web),
                        path="/", max_age=int(ctx.session_lifetime.total_seconds()))
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    """End the session."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        close_session(context(request).db, token)
    response = redirect(request, "/login", text="You are logged out.")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
