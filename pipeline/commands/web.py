"""The review app's commands: ``triage serve`` and ``triage user add/list/passwd/assign/role/disable/enable``.

Loaded by ``pipeline.cli`` when one of them runs.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from pipeline.commands.state import CliState
    from webapp.vocabulary import Vocabulary


def _vocabulary(state: "CliState") -> "Vocabulary":
    from classifiers.config import load_triage_config
    from webapp.vocabulary import desks_vocabulary

    settings = state.loaded().settings
    return desks_vocabulary(settings, load_triage_config(settings.triage).taxonomy)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@click.command("serve")
@click.option("--host", help="Address to listen on (default: web.host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port to listen on (default: web.port, 8080).")
@click.pass_obj
def serve(state: "CliState", host: str | None, port: int | None) -> None:
    """Run the staff review app (queues, inquiries, replies) until stopped."""
    import uvicorn

    from webapp.app import create_app
    from webapp.context import build_context
    from webapp.services.cases import rebuild_cases

    runtime = state.runtime()
    ctx = build_context(runtime.settings, runtime.session_factory)
    rebuild_cases(ctx.db)
    web = runtime.settings.web
    host, port = host or web.host, port or web.port
    click.echo(f"triage: review app on http://{host if ':' not in host else f'[{host}]'}:{port}/", err=True)
    uvicorn.run(create_app(ctx), host=host, port=port, log_level=runtime.settings.logging.level.lower(),
                access_log=False, server_header=False, proxy_headers=False, log_config=None)


@click.group("user")
def user() -> None:
    """Manage the review app's accounts."""


@user.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(["staff", "admin"]), default="staff", show_default=True)
@click.option("--name", "display_name", default="", help="The name others see.")
@click.option("--queue", "queues", multiple=True, help="A queue this person works (repeat for several).")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@click.pass_obj
def user_add(state: "CliState", username: str, role: str, display_name: str, queues: tuple[str, ...],
             password_stdin: bool) -> None:
    """Create an account."""
    from webapp.services.users import add_user

    vocabulary = _vocabulary(state)
    view = add_user(state.runtime().session_factory, username, _password(password_stdin), role=role,
                    display_name=display_name, queues=queues, known_queues=list(vocabulary.queues))
    click.echo(f"user {view.username} added ({view.role}; queues: {', '.join(view.queues) or 'none'})")


@user.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_obj
def user_list(state: "CliState", as_json: bool) -> None:
    """List the accounts."""
    from webapp.services.users import list_users

    for view in list_users(state.runtime().session_factory):
        if as_json:
            click.echo(json.dumps({"username": view.username, "display_name": view.display_name, "role": view.role,
                                   "active": view.active, "queues": list(view.queues),
                                   "last_login_at": view.last_login_at.isoformat() if view.last_login_at else None}))
        else:
            status = "" if view.active else "  [disabled]"
            click.echo(f"{view.username:<24} {view.role:<6} {', '.join(view.queues) or '-'}{status}")


@user.command("passwd")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@click.pass_obj
def user_passwd(state: "CliState", username: str, password_stdin: bool) -> None:
    """Set a new password (the account's sessions end)."""
    from webapp.services.users import set_password

    set_password(state.runtime().session_factory, username, _password(password_stdin))
    click.echo(f"password of {username} changed")


@user.command("assign")
@click.argument("username")
@click.argument("queues", nargs=-1)
@click.option("--add", "mode", flag_value="add", help="Add these queues to the ones the person has.")
@click.option("--remove", "mode", flag_value="remove", help="Take these queues away.")
@click.pass_obj
def user_assign(state: "CliState", username: str, queues: tuple[str, ...], mode: str | None) -> None:
    """Set the queues a member of staff works (or --add / --remove some)."""
    from webapp.services.users import assign_queues

    vocabulary = _vocabulary(state)
    view = assign_queues(state.runtime().session_factory, username, queues, list(vocabulary.queues),
                         mode=mode or "set")
    click.echo(f"{view.username}: {', '.join(view.queues) or 'no queues'}")


@user.command("role")
@click.argument("username")
@click.argument("role", type=click.Choice(["staff", "admin"]))
@click.pass_obj
def user_role(state: "CliState", username: str, role: str) -> None:
    """Make an account staff or admin."""
    from webapp.services.users import set_role

    view = set_role(state.runtime().session_factory, username, role)
    click.echo(f"{view.username} is {view.role}")


@user.command("disable")
@click.argument("username")
@click.pass_obj
def user_disable(state: "CliState", username: str) -> None:
    """Disable an account: it cannot log in, and its sessions end at once."""
    from webapp.services.users import set_active

    set_active(state.runtime().session_factory, username, False)
    click.echo(f"{username} disabled")


@user.command("enable")
@click.argument("username")
@click.pass_obj
def user_enable(state: "CliState", username: str) -> None:
    """Enable a disabled account again."""
    from webapp.services.users import set_active

    set_active(state.runtime().session_factory, username, True)
    click.echo(f"{username} enabled")
