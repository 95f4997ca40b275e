"""Who is asking: the session cookie, the log-in requirement, the admin role and the CSRF check of every form."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request

from webapp.context import WebContext
from webapp.errors import Forbidden, NotAuthenticated
from webapp.security import csrf_token, login_token, tokens_match
from webapp.services.sessions import SessionUser, session_user
from webapp.services.users import Actor

SESSION_COOKIE = "triage_session"
LOGIN_COOKIE = "triage_login"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_NO_SESSION_POSTS = frozenset({"/login", "/api/session"})
_FORGED = "the form's security token is missing or out of date: reload the page and try again"


def context(request: Request) -> WebContext:
    """The app's context."""
    ctx: WebContext = request.app.state.context
    return ctx


def visitor(request: Request) -> SessionUser | None:
    """The logged-in person behind the request's cookie, if any (looked up once per request)."""
    if not hasattr(request.state, "visitor"):
        token = request.cookies.get(SESSION_COOKIE, "")
        ctx = context(request)
        request.state.visitor = session_user(ctx.db, token, ctx.idle_timeout) if token else None
    found: SessionUser | None = request.state.visitor
    return found


def require_user(request: Request) -> Actor:
    """The logged-in person; ``NotAuthenticated`` (a redirect to /login for pages, 401 for the API)."""
    found = visitor(request)
    if found is None:
        raise NotAuthenticated("log in first")
    return found.actor


def require_admin(request: Request) -> Actor:
    """The logged-in admin; ``Forbidden`` for staff."""
    actor = require_user(request)
    if not actor.is_admin:
        raise Forbidden("this page is for admins")
    return actor


def page_csrf(request: Request) -> str:
    """The CSRF token to put in this visitor's forms."""
    found = visitor(request)
    return csrf_token(context(request).secret, found.session_id) if found else ""


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin or origin == "null":
        return origin != "null"
    parts = urlsplit(origin)
    return parts.netloc == request.headers.get("host", "") and parts.scheme in ("http", "https")


async def csrf_guard(request: Request) -> None:
    """Every state-changing request carries the session's token (form field or header) and comes from here."""
    if request.method in _SAFE_METHODS:
        return
    if not _same_origin(request):
        raise Forbidden("cross-site request refused")
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    secret = context(request).secret
    if request.method == "POST" and request.url.path in _NO_SESSION_POSTS:
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        if request.url.path == "/api/session":
            # JSON log-in: no session to bind a token to; a cross-site form cannot send JSON, and Origin is checked.
            if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
                raise Forbidden("log in to the API with a JSON body (Content-Type: application/json)")
            return
        if not nonce or not tokens_match(login_token(secret, nonce), given):
            raise Forbidden(_FORGED)
        return
    found = visitor(request)
    if found is None:
        raise NotAuthenticated("log in first")
    if not tokens_match(csrf_token(secret, found.session_id), given):
        raise Forbidden(_FORGED)
