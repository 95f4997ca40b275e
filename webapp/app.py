"""The review app: routes, middleware, and one mapping from service errors to HTTP responses."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipeline.errors import ConfigError, IllegalTransition, ReplyError, StaleSuggestionError, StorageError, TriageError
from webapp.api import clients as api_clients
from webapp.api import inquiries as api_inquiries
from webapp.api import queues as api_queues
from webapp.api import session as api_session
from webapp.auth import csrf_guard
from webapp.context import WebContext
from webapp.errors import NotAuthenticated, WebError, refused_move
from webapp.ids import ids_in_range
from webapp.rendering import make_environment, render
from webapp.routes import (
    admin_labels,
    admin_models,
    admin_queues,
    api_docs,
    admin_routing,
    admin_templates,
    admin_users,
    clients,
    health,
    inquiry,
    inquiry_actions,
    login,
    queues,
    search,
    stats,
)
from webapp.security import BodyLimit, SecurityHeaders

log = logging.getLogger(__name__)
STATIC = Path(__file__).with_name("static")


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _error(request: Request, status: int, message: str) -> Response:
    if _wants_json(request):
        return JSONResponse({"error": message, "status": status}, status_code=status)
    try:
        return render(request, "error.html", {"status": status, "message": message}, status=status)
    except Exception:  # the error page itself failed (e.g. the database is down): plain text, no details
        log.exception("cannot render the error page")
        return HTMLResponse(f"<!doctype html><title>{status}</title><p>Error {status}.</p>", status_code=status)


async def _web_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, NotAuthenticated) and not _wants_json(request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        from urllib.parse import quote

        return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)
    status = exc.status if isinstance(exc, WebError) else 400
    return _error(request, status, str(exc))


async def _illegal_transition(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, IllegalTransition)
    refused = refused_move(exc)
    return _error(request, refused.status, str(refused))


async def _reply_error(request: Request, exc: Exception) -> Response:
    status = 409 if isinstance(exc, StaleSuggestionError) else 422
    return _error(request, status, str(exc))


async def _triage_error(request: Request, exc: Exception) -> Response:
    log.error("%s %s: %s", request.method, request.url.path, exc)
    status = 503 if isinstance(exc, StorageError) else 500
    message = "the database is busy or unavailable; try again in a moment" if status == 503 else \
        "something went wrong on our side; it is logged"
    return _error(request, status, message)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors()[:5]:
        where = ".".join(str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path"))
        problems.append(f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg", "invalid")))
    path_error = any(error.get("loc", ("",))[0] == "path" for error in exc.errors())
    return _error(request, 404 if path_error else 400, "invalid request: " + "; ".join(problems))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    messages = {404: "no such page", 405: "this address does not accept that method"}
    return _error(request, exc.status_code, messages.get(exc.status_code, str(exc.detail)))


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("%s %s failed", request.method, request.url.path)
    return _error(request, 500, "something went wrong on our side; it is logged")


def create_app(ctx: WebContext) -> FastAPI:
    """The review app for a context (settings, database, vocabulary, SLAs, signing key)."""
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if ctx.deliverer is not None:
            ctx.deliverer.close()

    app = FastAPI(
        lifespan=lifespan,
        title="triage review app",
        summary="Queues, inquiries, suggested replies and corrections of the help desk",
        version="1",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # served behind log-in by routes.api_docs
        dependencies=[Depends(ids_in_range), Depends(csrf_guard)],
    )
    app.state.context = ctx
    app.state.pages = make_environment()
    for router in (health.router, login.router, queues.router, inquiry.router, inquiry_actions.router,
                   admin_users.router, admin_queues.router, admin_templates.router, admin_routing.router,
                   admin_models.router, admin_labels.router, search.router, stats.router, clients.router,
                   api_session.router, api_queues.router, api_inquiries.router, api_clients.router, api_docs.router):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_exception_handler(WebError, _web_error)
    app.add_exception_handler(ReplyError, _reply_error)
    app.add_exception_handler(IllegalTransition, _illegal_transition)
    app.add_exception_handler(ConfigError, _triage_error)
    app.add_exception_handler(TriageError, _triage_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
    app.add_middleware(SecurityHeaders, hsts=ctx.web.cookie_secure)
    app.add_middleware(BodyLimit, max_bytes=ctx.web.max_form_bytes)
    return app
