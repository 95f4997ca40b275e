"""The daemon's commands: ``run`` (watch the IMAP mailboxes) and ``status``."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from pipeline.commands.state import CliState, pass_state

if TYPE_CHECKING:
    from pipeline.runtime import Runtime


def _reply_rounds(runtime: Runtime) -> Callable[[], object]:
    """The daemon's reply job; its worker (templates, transports) is built on first use and rebuilt after a failure."""
    from pipeline.rounds.replies import ReplyWorker

    workers: list[ReplyWorker] = []

    def round_() -> object:
        if not workers:
            workers.append(ReplyWorker.for_runtime(runtime))
        try:
            return workers[0].run_once()
        except Exception:
            workers.clear()
            raise

    return round_


@click.command("run")
@click.option("--once", is_flag=True, help="Sync every mailbox once and exit (no IDLE, no scheduler).")
@click.option("--json", "as_json", is_flag=True, help="With --once: end with one JSON line of counts.")
@pass_state
def run_command(state: CliState, once: bool, as_json: bool) -> None:
    """Watch the configured IMAP mailboxes and store every new message exactly once."""
    from pipeline.daemon import enabled_mailboxes, run_daemon, run_once

    if as_json and not once:
        raise click.UsageError("--json goes with --once")
    mailboxes = enabled_mailboxes(state.loaded().settings)
    runtime = state.runtime()
    if not once:
        sys.exit(run_daemon(runtime, mailboxes, reply_round=_reply_rounds(runtime)))
    result = run_once(runtime, mailboxes)
    stats = result.stats
    if as_json:
        click.echo(json.dumps(stats.as_json()))
    else:
        click.echo(f"seen {stats.seen}: stored {stats.stored}, duplicates {stats.duplicates}, "
                   f"quarantined {stats.quarantined}"
                   + (f"; {len(result.failures)} mailbox(es) failed" if result.failures else ""))
    if result.failures:
        sys.exit(1)


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per mailbox.")
@pass_state
def status_command(state: CliState, as_json: bool) -> None:
    """Show each mailbox's state: last sync, lag, last error, alerts.

    Exits 1 when a configured mailbox is in error or alerting, else 0.
    """
    from datetime import datetime, timezone

    from pipeline.mailbox_status import status_exit_code, status_json, status_lines
    from pipeline.store.sync_state import mailbox_reports

    runtime = state.runtime()
    reports = mailbox_reports(runtime.session_factory)
    now = datetime.now(timezone.utc)
    configured = [name for name, box in runtime.settings.mailboxes.items() if box.enabled]
    if as_json:
        for entry in status_json(reports, now):
            click.echo(json.dumps(entry, ensure_ascii=False))
    else:
        for line in status_lines(reports, configured, now):
            click.echo(line)
    _retraining_status(runtime, as_json)
    code = status_exit_code(reports, configured)
    if code:
        sys.exit(code)


def _retraining_status(runtime: "Runtime", as_json: bool) -> None:
    """The scheduled retraining's line (only when ``[retraining]`` is on): last run, result, next run."""
    from pipeline.store.retraining import retraining_state

    if not runtime.settings.retraining.enabled:
        return
    state = retraining_state(runtime.session_factory, runtime.settings.retraining)
    if as_json:
        click.echo(json.dumps({"retraining": state.as_dict()}, ensure_ascii=False))
        return
    last = f"last run {state.last_run:%Y-%m-%d %H:%M} UTC: {state.summary}" if state.last_run else "never run"
    upcoming = "due now" if state.due or state.next_run is None else f"{state.next_run:%Y-%m-%d %H:%M} UTC"
    click.echo(f"retraining: {state.schedule} (every {state.period_hours:g} h), auto-promote "
               f"{'on' if state.auto_promote else 'off'}; {last}; next run {upcoming}")
