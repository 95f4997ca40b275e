"""The ``triage`` command line. Commands are thin: they load settings, call the service, print."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import click
from sqlalchemy import select

from pipeline.checks import run_checks
from pipeline.config import LoadedSettings, load_settings
from pipeline.errors import ConfigError, SourceError, TriageError
from pipeline.ingest import Ingestor, StoredOutcome, retry_quarantined
from pipeline.runtime import Runtime, configure_logging, open_runtime
from pipeline.sources.base import SourceItem, SourceProblem
from pipeline.sources.files import check_paths, iter_paths
from pipeline.store import repository as repo
from pipeline.store.db import current_revision, head_revision, upgrade_database
from pipeline.store.models import Inquiry, Message, QuarantineRecord

log = logging.getLogger("triage")


@dataclass
class CliState:
    """What the top-level options chose; settings are loaded on first use."""

    config_path: str | None
    log_level: str | None
    _loaded: LoadedSettings | None = None
    _runtime: Runtime | None = None
    cleanups: list[Any] = field(default_factory=list)

    def loaded(self) -> LoadedSettings:
        if self._loaded is None:
            self._loaded = load_settings(self.config_path)
            configure_logging(self._loaded.settings.logging, self.log_level)
        return self._loaded

    def runtime(self) -> Runtime:
        if self._runtime is None:
            self._runtime = open_runtime(self.loaded().settings)
        return self._runtime

    def close(self) -> None:
        if self._runtime is not None:
            self._runtime.close()


class TriageGroup(click.Group):
    """Turns the project's errors into one clear line on standard error and an exit code."""

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


pass_state = click.make_pass_decorator(CliState)


@main.command("check-config")
@pass_state
def check_config(state: CliState) -> None:
    """Validate the configuration; list every problem with its key."""
    try:
        loaded = state.loaded()
    except ConfigError as exc:
        problems = exc.problems
        where = state.config_path or "configuration"
    else:
        problems = run_checks(loaded)
        where = str(loaded.path) if loaded.path else "built-in defaults"
    for key, message in problems:
        click.echo(f"{where}: {key}: {message}" if key else f"{where}: {message}")
    if problems:
        click.echo(f"{len(problems)} problem(s) found", err=True)
        sys.exit(1)
    click.echo(f"{where}: configuration is valid")


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Migrate up to this revision.")
@pass_state
def db_upgrade(state: CliState, revision: str) -> None:
    """Apply database migrations."""
    from pipeline.store.db import create_db_engine

    engine = create_db_engine(state.loaded().settings.database)
    try:
        reached = upgrade_database(engine, revision)
    finally:
        engine.dispose()
    click.echo(f"database at revision {reached}")


@db.command("current")
@pass_state
def db_current(state: CliState) -> None:
    """Print the database's migration revision and the newest one."""
    from pipeline.store.db import create_db_engine

    engine = create_db_engine(state.loaded().settings.database)
    try:
        click.echo(f"current: {current_revision(engine) or 'empty'}  head: {head_revision()}")
    finally:
        engine.dispose()


def _with_progress(items: Iterator[SourceItem | SourceProblem], mode: str) -> Iterator[SourceItem | SourceProblem]:
    show = mode == "always" or (mode == "auto" and sys.stderr.isatty())
    if not show:
        yield from items
        return
    from tqdm import tqdm

    with tqdm(desc="ingest", unit="msg", file=sys.stderr, dynamic_ncols=True) as bar:
        for item in items:
            yield item
            bar.update(1)


@main.command("ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="End with one JSON line of counts.")
@click.option("--progress/--no-progress", default=None, help="Show a progress bar (default: on a terminal).")
@pass_state
def ingest(state: CliState, paths: tuple[str, ...], as_json: bool, progress: bool | None) -> None:
    """Store every message of .eml files, folders, mbox files and Maildirs, exactly once."""
    checked = check_paths(paths)
    runtime = state.runtime()
    settings = runtime.settings
    mode = settings.ingest.progress if progress is None else ("always" if progress else "never")
    from classifiers.service import LazyTriageSink

    ingestor = Ingestor(runtime.session_factory, limits=runtime.parse_limits, batch_size=settings.ingest.batch_size,
                        sink=LazyTriageSink(runtime))

    def report(outcomes: list[StoredOutcome]) -> None:
        for outcome in outcomes:
            if outcome.outcome == "quarantined":
                log.info("quarantined %s (%s)", outcome.origin.source, outcome.reason)

    stats = ingestor.ingest(_with_progress(iter_paths(checked), mode), on_batch=report)
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


@main.group()
def inquiries() -> None:
    """Look at stored inquiries."""


@inquiries.command("list")
@click.option("--state", "state_filter", help="Only inquiries in this state.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@pass_state
def inquiries_list(state: CliState, state_filter: str | None, limit: int, as_json: bool) -> None:
    """List stored inquiries, newest first."""
    runtime = state.runtime()
    with runtime.session_factory() as session:
        query = select(Inquiry, Message).join(Message, Inquiry.message_pk == Message.id)
        if state_filter:
            query = query.where(Inquiry.state == state_filter)
        rows = session.execute(query.order_by(Inquiry.id.desc()).limit(limit)).all()
        counts = repo.count_by_state(session)
    for inquiry, message in rows:
        flags = [name for name, on in (("auto-reply", message.is_auto_reply), ("bounce", message.is_bounce),
                                       ("list", message.is_mailing_list)) if on]
        if as_json:
            click.echo(json.dumps({
                "id": inquiry.id, "state": inquiry.state, "message_id": message.message_id,
                "from": message.sender_address, "subject": message.subject,
                "date": message.sent_at.isoformat() if message.sent_at else None,
                "flags": flags, "new_text": inquiry.new_text[:500],
            }, ensure_ascii=False))
        else:
            sender = (message.sender_address or "?")[:32]
            subject = " ".join((message.subject or "(no subject)").split())[:60]
            flag_text = f" [{', '.join(flags)}]" if flags else ""
            click.echo(f"#{inquiry.id:<5} {inquiry.state:<10} {sender:<32} {subject}{flag_text}")
    if not as_json:
        summary = ", ".join(f"{name} {count}" for name, count in sorted(counts.items())) or "none"
        click.echo(f"inquiries by state: {summary}")


@main.group()
def quarantine() -> None:
    """Inspect and retry quarantined messages."""


@quarantine.command("list")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
@pass_state
def quarantine_list(state: CliState, limit: int) -> None:
    """List quarantined items: reason code, source, and the error's message."""
    from pipeline.store.db import read_session
    from pipeline.quarantine import QuarantineReason

    runtime = state.runtime()
    with read_session(runtime.session_factory) as session:
        rows = session.scalars(
            select(QuarantineRecord).where(QuarantineRecord.released_at.is_(None))
            .order_by(QuarantineRecord.id.desc()).limit(limit)
        ).all()
    for row in rows:
        known = row.reason in {code.value for code in QuarantineReason}
        message = row.error or (QuarantineReason(row.reason).description if known else "")
        click.echo(f"#{row.id:<5} {row.reason:<24} {row.source}")
        click.echo(f"       {message[:200]}")
    click.echo(f"{len(rows)} quarantined item(s) shown")


@quarantine.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--json", "as_json", is_flag=True, help="End with one JSON line of counts.")
@pass_state
def quarantine_retry(state: CliState, ids: tuple[int, ...], as_json: bool) -> None:
    """Parse quarantined items again (all, or the given ids); release those that now store."""
    from classifiers.service import LazyTriageSink

    runtime = state.runtime()
    ingestor = Ingestor(runtime.session_factory, limits=runtime.parse_limits, sink=LazyTriageSink(runtime))
    stats = retry_quarantined(ingestor, ids or None)
    if as_json:
        click.echo(json.dumps(stats.as_json()))
    else:
        click.echo(f"retried {stats.seen}: stored {stats.stored}, duplicates {stats.duplicates}, "
                   f"still quarantined {stats.quarantined}")


def _reply_rounds(runtime: Runtime) -> Callable[[], object]:
    """The daemon's reply job; its worker (templates, transports) is built on first use and rebuilt after a failure."""
    from responders.worker import ReplyWorker

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


@main.command("run")
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


@main.command("status")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per mailbox.")
@pass_state
def status_command(state: CliState, as_json: bool) -> None:
    """Show each mailbox's state: last sync, lag, last error, alerts."""
    from datetime import datetime, timezone

    from pipeline.mailbox_status import status_json, status_lines
    from pipeline.store.sync_state import mailbox_reports

    runtime = state.runtime()
    reports = mailbox_reports(runtime.session_factory)
    now = datetime.now(timezone.utc)
    if as_json:
        for entry in status_json(reports, now):
            click.echo(json.dumps(entry, ensure_ascii=False))
        return
    configured = [name for name, box in runtime.settings.mailboxes.items() if box.enabled]
    for line in status_lines(reports, configured, now):
        click.echo(line)


def run() -> None:
    """Entry point of the ``triage`` console script."""
    main(prog_name="triage")


from classifiers.cli import classify, evaluate_command, retriage, train  # noqa: E402  (triage commands, issue 3)

main.add_command(classify)
main.add_command(evaluate_command)
main.add_command(train)
main.add_command(retriage)

from responders.cli import replies, suggest  # noqa: E402  (reply commands, issue 4)

main.add_command(suggest)
main.add_command(replies)

from webapp.cli import serve, user  # noqa: E402  (review app commands, issue 5)

main.add_command(serve)
main.add_command(user)
