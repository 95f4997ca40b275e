"""The admin screen for accounts: list, add, new password, queues (one by one or all of a desk), role, disable or
enable."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from webapp.auth import context, require_admin
from webapp.errors import WebError
from webapp.rendering import render
from webapp.responses import redirect
from webapp.services import users
from webapp.services.users import Actor

router = APIRouter(include_in_schema=False)


def _page(request: Request, *, error: str = "", status: int = 200) -> HTMLResponse:
    ctx = context(request)
    return render(request, "admin/users.html", {"users": users.list_users(ctx.db), "roles": users.ROLES,
                                                "error": error}, status=status)


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, actor: Actor = Depends(require_admin)) -> HTMLResponse:
    """Every account."""
    return _page(request)


@router.post("/admin/users")
async def users_change(request: Request, actor: Actor = Depends(require_admin),
                       op: str = Form(..., pattern="^(add|password|queues|role|disable|enable)$"),
                       username: str = Form(..., max_length=64)) -> Response:
    """One change to the accounts; the page again with the reason when it is refused."""
    ctx = context(request)
    form = await request.form()
    text = {key: value for key, value in form.multi_items() if isinstance(value, str)}
    chosen = [value for value in form.getlist("queues") if isinstance(value, str)]
    desks = [value for value in form.getlist("desks") if isinstance(value, str)]
    try:
        by_desk = {desk: ctx.vocabulary.declared_by(desk) for desk in ctx.vocabulary.desks}
        queues = users.with_desk_queues(chosen, desks, by_desk)
        if op == "add":
            users.add_user(ctx.db, username, text.get("password", ""), role=text.get("role", "staff"),
                           display_name=text.get("display_name", ""), queues=queues,
                           known_queues=list(ctx.vocabulary.queues))
        elif op == "password":
            users.set_password(ctx.db, username, text.get("password", ""))
        elif op == "queues":
            users.assign_queues(ctx.db, username, queues, list(ctx.vocabulary.queues))
        elif op == "role":
            if username.strip().lower() == actor.username:
                raise WebError("you cannot change your own role")
            users.set_role(ctx.db, username, text.get("role", ""))
        else:
            if username.strip().lower() == actor.username:
                raise WebError("you cannot disable your own account")
            users.set_active(ctx.db, username, op == "enable")
    except WebError as exc:
        return _page(request, error=str(exc), status=exc.status)
    return redirect(request, "/admin/users", text=f"{username}: {op} done")
