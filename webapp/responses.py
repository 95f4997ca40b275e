"""Redirects after a form (with a flash message) and where a log-in may send the visitor back to."""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse

from webapp.client import over_tls
from webapp.auth import context
from webapp.security import Flash

_LOCAL_PATH = re.compile(r"^/(?![/\\])[A-Za-z0-9/_.,;=&?%+-]*$")


def local_path(value: str | None, default: str = "/queues") -> str:
    """``value`` when it is a path of this site (never another site, never a scheme), else ``default``."""
    if value and len(value) <= 2000 and _LOCAL_PATH.match(value):
        return value
    return default


def redirect(request: Request, url: str, *, kind: str = "ok", text: str = "",
             extra: dict[str, Any] | None = None) -> RedirectResponse:
    """303 See Other to a page of this site, with an optional flash message for it."""
    response = RedirectResponse(local_path(url), status_code=303)
    if text:
        response.set_cookie(Flash.COOKIE, Flash(context(request).secret).dumps(kind, text, extra), max_age=120,
                            httponly=True, samesite="lax", secure=over_tls(request, context(request).web), path="/")
    return response
