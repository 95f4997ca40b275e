"""The ``triage`` command line: the composition root's front door.

Commands are thin: they load settings, call the service, print. Each area's
commands live in a module of ``pipeline.commands`` that is imported only when
one of its commands runs (or help lists it), so ``triage classify`` never
imports the web framework and ``triage --help`` imports no model.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from pipeline.commands.state import CliState
from pipeline.errors import ConfigError, TriageError

# Command name -> "module:attribute", in the order help lists them.
COMMAND_MODULES: dict[str, str] = {
    "check-config": "pipeline.commands.store:check_config",
    "db": "pipeline.commands.store:db",
    "ingest": "pipeline.commands.store:ingest",
    "inquiries": "pipeline.commands.store:inquiries",
    "quarantine": "pipeline.commands.store:quarantine",
    "run": "pipeline.commands.daemon:run_command",
    "status": "pipeline.commands.daemon:status_command",
    "classify": "pipeline.commands.triage:classify",
    "eval": "pipeline.commands.triage:evaluate_command",
    "train": "pipeline.commands.models:train",
    "models": "pipeline.commands.models:models",
    "label": "pipeline.commands.models:label",
    "retriage": "pipeline.commands.triage:retriage",
    "suggest": "pipeline.commands.replies:suggest",
    "stats": "pipeline.commands.stats:stats",
    "replies": "pipeline.commands.replies:replies",
    "serve": "pipeline.commands.web:serve",
    "user": "pipeline.commands.web:user",
}


class TriageGroup(click.Group):
    """Loads each command's module on demand, and turns the project's errors into one clear line and an exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMAND_MODULES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMAND_MODULES.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            for key, message in exc.problems:
                click.echo(f"triage: config error: {key}: {message}" if key else f"triage: config error: {message}", err=True)
            sys.exit(2)
        except TriageError as exc:
            click.echo(f"triage: error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=TriageGroup)
@click.option("--config", "config_path", envvar="TRIAGE_CONFIG", type=click.Path(dir_okay=False),
              help="Configuration file (default: config/triage.toml).")
@click.option("--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
              help="Override logging.level.")
@click.version_option(package_name="triage")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, log_level: str | None) -> None:
    """Email ingestion and auto-triage for an intellectual-property office's help desk."""
    state = CliState(config_path=config_path, log_level=log_level.upper() if log_level else None)
    ctx.obj = state
    ctx.call_on_close(state.close)


def run() -> None:
    """Entry point of the ``triage`` console script."""
    main(prog_name="triage")
