"""Commands over stored mail: ``check-config``, ``db``, ``ingest``, ``inquiries`` and ``quarantine``."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator

from typing import TYPE_CHECKING

import click

from pipeline.commands.state import CliState, pass_state

if TYPE_CHECKING:
    from pipeline.ingest import StoredOutcome
    from pipeline.sources.base import SourceItem, SourceProblem

log = logging.getLogger("triage")


@click.command("check-config")
@pass_state
def check_config(state: CliState) -> None:
    """Validate the configuration; list every problem in one run, with its file and line where there is one."""
    from pipeline.checks import run_checks
    from pipeline.config import Settings, inspect_settings
    from pipeline.logs import configure_logging

    inspection = inspect_settings(state.config_path)
    problems = list(inspection.problems)
    if inspection.loaded is not None:
        configure_logging(inspection.loaded.settings.logging, state.log_level)
        problems += run_checks(inspection.loaded)
    fallback = str(inspection.path) if inspection.path else "built-in defaults"
    sections = set(Settings.model_fields)
    for key, message in problems:
        if key.split(".", 1)[0] in sections and ":" not in key:
            click.echo(f"{inspection.where(key) or fallback}: {key}: {message}")
        elif ":" in key or "/" in key:  # a file, or a file and line, named by the problem itself
            click.echo(f"{key}: {message}")
        else:
            click.echo(f"{fallback}: {key}: {message}" if key else f"{fallback}: {message}")
    if problems:
        click.echo(f"{len(problems)} problem(s) found", err=True)
        sys.exit(1)
    click.echo(f"{fallback}: configuration is valid")


@click.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Migrate up to this revision.")
@pass_state
def db_upgrade(state: CliState, revision: str) -> None:
    """Apply database migrations."""
    from pipeline.store.db import create_db_engine, upgrade_database
    from pipeline.store.sqlite_path import check_sqlite_location

    settings = state.loaded().settings.database
    new_file = check_sqlite_location(settings, create=True)
    if new_file is not None:
        click.echo(f"creating a new empty database at {new_file.resolve()}")
    engine = create_db_engine(settings)
    try:
        reached = upgrade_database(engine, revision)
    finally:
        engine.dispose()
    click.echo(f"database at revision {reached}")


@db.command("current")
@pass_state
def db_current(state: CliState) -> None:
    """Print the database's migration revision and the newest one."""
    from pipeline.store.db import create_db_engine, current_revision, head_revision
    from pipeline.store.sqlite_path import check_sqlite_location

    settings = state.loaded().settings.database
    check_sqlite_location(settings)
    engine = create_db_engine(settings)
    try:
        click.echo(f"current: {current_revision(engine) or 'empty'}  head: {head_revision()}")
    finally:
        engine.dispose()


def _with_progress(items: Iterator["SourceItem | SourceProblem"], mode: str) -> Iterator["SourceItem | SourceProblem"]:
    show = mode == "always" or (mode == "auto" and sys.stderr.isatty())
    if not show:
        yield from items
        return
    from tqdm import tqdm

    with tqdm(desc="ingest", unit="msg", file=sys.stderr, dynamic_ncols=True) as bar:
        for item in items:
            yield item
            bar.update(1)


@click.command("ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="End with one JSON line of counts.")
@click.option("--progress/--no-progress", default=None, help="Show a progress bar (default: on a terminal).")
@click.option("--desk", "desk", default=None, metavar="ID",
              help="The desk these messages belong to (default: the desk of their receiving address, else the default desk).")
@pass_state
def ingest(state: CliState, paths: tuple[str, ...], as_json: bool, progress: bool | None, desk: str | None) -> None:
    """Store every message of .eml files, folders, mbox files and Maildirs, exactly once.

    A path that is missing or unreadable is reported and makes the exit status 1; the others are
    stored all the same. When none of the paths can be used, nothing is opened or written.
    """
    from itertools import chain

    from pipeline.desks import all_desks, desk_assigner
    from pipeline.ingest import Ingestor, StoredOutcome
    from pipeline.rounds.triage import LazyTriageSink
    from pipeline.sources.files import iter_paths, usable_paths

    if desk is not None and desk not in all_desks(state.loaded().settings):
        raise click.BadParameter(f"unknown desk {desk!r}; known: {', '.join(all_desks(state.loaded().settings))}",
                                 param_hint="--desk")
    checked, missing = usable_paths(paths)
    if not checked:
        for problem in missing:
            click.echo(f"triage: error: {problem.source}: {problem.error}", err=True)
        sys.exit(1)
    runtime = state.runtime()
    settings = runtime.settings
    mode = settings.ingest.progress if progress is None else ("always" if progress else "never")
    ingestor = Ingestor(runtime.session_factory, limits=runtime.parse_limits, batch_size=settings.ingest.batch_size,
                        sink=LazyTriageSink(runtime), desk_for=desk_assigner(settings, desk))

    def report(outcomes: "list[StoredOutcome]") -> None:
        for outcome in outcomes:
            if outcome.outcome == "quarantined":
                log.info("quarantined %s (%s)", outcome.origin.source, outcome.reason)

    stats = ingestor.ingest(_with_progress(chain(missing, iter_paths(checked)), mode), on_batch=report)
    for problem in stats.unreadable:
        click.echo(f"triage: error: {problem.source}: {problem.error}", err=True)
    if as_json:
        click.echo(json.dumps(stats.as_json()))
    else:
        click.echo(
            f"seen {stats.seen}: stored {stats.stored}, duplicates {stats.duplicates}, "
            f"quarantined {stats.quarantined}"
            + (f"; {len(stats.unreadable)} unreadable" if stats.unreadable else "")
        )
    if stats.unreadable:
        sys.exit(1)


@click.group()
def inquiries() -> None:
    """Look at stored inquiries."""


@inquiries.command("list")
@click.option("--state", "state_filter", help="Only inquiries in this state.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@pass_state
def inquiries_list(state: CliState, state_filter: str | None, limit: int, as_json: bool) -> None:
    """List stored inquiries, newest first."""
    from pipeline.store import repository as repo

    runtime = state.runtime()
    with runtime.session_factory() as session:
        rows = repo.list_inquiries(session, state=state_filter, limit=limit)
        counts = repo.count_by_state(session)
    for row in rows:
        if as_json:
            click.echo(json.dumps({
                "id": row.id, "state": row.state, "message_id": row.message_id,
                "from": row.sender_address, "subject": row.subject,
                "date": row.sent_at.isoformat() if row.sent_at else None,
                "flags": list(row.flags), "new_text": row.new_text[:500],
            }, ensure_ascii=False))
        else:
            sender = (row.sender_address or "?")[:32]
            subject = " ".join((row.subject or "(no subject)").split())[:60]
            flag_text = f" [{', '.join(row.flags)}]" if row.flags else ""
            click.echo(f"#{row.id:<5} {row.state:<10} {sender:<32} {subject}{flag_text}")
    if not as_json:
        summary = ", ".join(f"{name} {count}" for name, count in sorted(counts.items())) or "none"
        click.echo(f"inquiries by state: {summary}")


@click.group()
def quarantine() -> None:
    """Inspect and retry quarantined messages."""


@quarantine.command("list")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
@pass_state
def quarantine_list(state: CliState, limit: int) -> None:
    """List quarantined items: reason code, source, and the error's message."""
    from pipeline.store import repository as repo
    from pipeline.store.db import read_session
    from pipeline.quarantine import QuarantineReason

    runtime = state.runtime()
    with read_session(runtime.session_factory) as session:
        rows = repo.open_quarantine(session, limit=limit)
    known = {code.value for code in QuarantineReason}
    for row in rows:
        message = row.error or (QuarantineReason(row.reason).description if row.reason in known else "")
        click.echo(f"#{row.id:<5} {row.reason:<24} {row.source}")
        click.echo(f"       {message[:200]}")
    click.echo(f"{len(rows)} quarantined item(s) shown")


@quarantine.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--json", "as_json", is_flag=True, help="End with one JSON line of counts.")
@pass_state
def quarantine_retry(state: CliState, ids: tuple[int, ...], as_json: bool) -> None:
    """Parse quarantined items again (all, or the given ids); release those that now store."""
    from pipeline.desks import desk_assigner
    from pipeline.ingest import Ingestor, retry_quarantined
    from pipeline.rounds.triage import LazyTriageSink

    runtime = state.runtime()
    ingestor = Ingestor(runtime.session_factory, limits=runtime.parse_limits, sink=LazyTriageSink(runtime),
                        desk_for=desk_assigner(runtime.settings))
    stats = retry_quarantined(ingestor, ids or None)
    if as_json:
        click.echo(json.dumps(stats.as_json()))
    else:
        click.echo(f"retried {stats.seen}: stored {stats.stored}, duplicates {stats.duplicates}, "
                   f"still quarantined {stats.quarantined}")
