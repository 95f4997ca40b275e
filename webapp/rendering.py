"""Server-side pages: one Jinja2 environment (autoescaped), a few display filters, one render function."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from webapp.auth import context, page_csrf, visitor
from webapp.highlight import highlight
from webapp.security import Flash

TEMPLATES = Path(__file__).with_name("templates")


def duration(value: timedelta | None) -> str:
    """A short human duration: 45 min, 3 h 20 min, 2 d 4 h."""
    if value is None:
        return ""
    minutes = max(0, int(value.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{mins} min"


def when(value: datetime | None) -> str:
    """A timestamp as staff read it (UTC)."""
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


def size(value: int | None) -> str:
    """A byte count as B, KB or MB."""
    number = float(value or 0)
    for unit in ("B", "KB", "MB"):
        if number < 1024 or unit == "MB":
            return f"{number:.0f} {unit}" if unit == "B" else f"{number:.1f} {unit}"
        number /= 1024
    return f"{number:.1f} GB"


def percent(value: float | None) -> str:
    """A confidence as a percentage."""
    return f"{(value or 0) * 100:.0f}%"


def make_environment() -> Environment:
    """The page templates' environment."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(duration=duration, when=when, size=size, percent=percent)
    env.globals["highlight"] = highlight
    return env


def render(request: Request, name: str, values: dict[str, Any], *, status: int = 200) -> HTMLResponse:
    """A page, with what every page needs: who is logged in, the CSRF token, the flash message."""
    env: Environment = request.app.state.pages
    found = visitor(request)
    ctx = context(request)
    flash = Flash(ctx.secret).loads(request.cookies.get(Flash.COOKIE))
    body = env.get_template(name).render(
        request=request, actor=found.actor if found else None, csrf=page_csrf(request), flash=flash,
        vocabulary=ctx.vocabulary, **values,
    )
    response = HTMLResponse(body, status_code=status)
    if flash is not None:
        response.delete_cookie(Flash.COOKIE, path="/")
    return response
