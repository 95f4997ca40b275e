"""``triage stats``: volumes, response and closing times against the SLA, drafts and routing rules."""

from __future__ import annotations

import json
import os
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import click

from pipeline.commands.state import CliState, pass_state


def _day(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.combine(date.fromisoformat(value), time.min, tzinfo=timezone.utc)
    except ValueError:
        raise click.BadParameter(f"a date is written YYYY-MM-DD, not {value!r}", param_hint=name) from None


@click.command("stats")
@click.option("--since", help="First day (YYYY-MM-DD); default: --days before today.")
@click.option("--until", help="Last day, included (YYYY-MM-DD); default: today.")
@click.option("--days", type=click.IntRange(1, 3660), default=30, show_default=True, help="Days back from --until.")
@click.option("--queue", "queues", multiple=True, help="Only these queues (repeat the option).")
@click.option("--table", "only", help="Only this table (inquiries_per_day, inquiries_per_week, response_times, "
              "drafts, routing_rules, recurrent_issues).")
@click.option("--recurrent", is_flag=True, help="Add the recurrent issues: similar inquiries grouped per topic "
              "(takes a few seconds).")
@click.option("--json", "as_json", is_flag=True, help="Print the tables as JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print the tables as CSV (each after a '# name' line), or "
              "write one file per table with --out.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="With --csv: a folder for the files.")
@click.option("--xlsx", "xlsx", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the tables to this Excel workbook (.xlsx), one worksheet per table.")
@pass_state
def stats(state: CliState, since: str | None, until: str | None, days: int, queues: tuple[str, ...],
          only: str | None, recurrent: bool, as_json: bool, as_csv: bool, out: Path | None,
          xlsx: Path | None) -> None:
    """The desk's figures for a period: volumes, times against the SLA, drafts, routing rules."""
    from pipeline.desks import default_desk
    from pipeline.store.stats import build_tables, read_facts, table_csv
    from webapp.desk_sla import office_sla

    if as_json and as_csv:
        raise click.UsageError("choose --json or --csv, not both")
    if out is not None and not as_csv:
        raise click.UsageError("--out goes with --csv")
    if xlsx is not None and (as_json or as_csv):
        raise click.UsageError("--xlsx writes a workbook: not with --json or --csv")
    end = (_day(until, "--until") or datetime.combine(date.today(), time.min, tzinfo=timezone.utc)) \
        + timedelta(days=1)
    start = _day(since, "--since") or end - timedelta(days=days)
    if start >= end:
        raise click.UsageError("--since is after --until")
    settings = state.loaded().settings
    sla = office_sla(settings)  # each queue's target from its desk's SLA file
    with state.runtime().session_factory() as session:
        facts = read_facts(session, start, end, queues or None, default_desk=default_desk(settings))
    tables = build_tables(facts, lambda queue: sla.target(queue).total_seconds() / 3600)
    if recurrent or only == "recurrent_issues":
        from pipeline.recurrent import Doc, find_groups
        from pipeline.store.stats import read_texts, recurrent_table

        with state.runtime().session_factory() as session:
            texts = read_texts(session, start, end, queues or None)
        tables.append(recurrent_table(find_groups([Doc(*row) for row in texts], end)))
    if only is not None:
        tables = [t for t in tables if t.name == only]
        if not tables:
            raise click.UsageError(f"no table {only!r}")
    if xlsx is not None:
        from pipeline.store.stats import write_xlsx

        xlsx.parent.mkdir(parents=True, exist_ok=True)
        partial = xlsx.with_name(f".{xlsx.name}.partial")
        try:
            write_xlsx(tables, partial)
            os.replace(partial, xlsx)
        finally:
            partial.unlink(missing_ok=True)
        click.echo(f"{xlsx}: {len(tables)} table{'' if len(tables) == 1 else 's'}, "
                   f"{sum(len(t.rows) for t in tables)} rows")
        return
    if as_json:
        click.echo(json.dumps({"since": start.date().isoformat(), "until": (end - timedelta(days=1)).date().isoformat(),
                               "tables": [t.as_json() for t in tables]}))
        return
    if as_csv:
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            for table in tables:
                (out / f"{table.name}.csv").write_text(table_csv(table), encoding="utf-8")
                click.echo(f"{out / (table.name + '.csv')}: {len(table.rows)} rows")
            return
        for n, table in enumerate(tables):
            click.echo(("\n" if n else "") + f"# {table.name}")
            click.echo(table_csv(table), nl=False)
        return
    click.echo(f"{start.date()} to {(end - timedelta(days=1)).date()}: {len(facts.cases)} cases")
    for table in tables:
        click.echo(f"\n{table.title}")
        widths = [max(len(str(c)), *(len("" if r[i] is None else str(r[i])) for r in table.rows))
                  for i, c in enumerate(table.columns)] if table.rows else [len(c) for c in table.columns]
        click.echo("  ".join(c.ljust(w) for c, w in zip(table.columns, widths)))
        for row in table.rows[:200]:
            click.echo("  ".join(("" if v is None else str(v)).ljust(w) for v, w in zip(row, widths)))
        if len(table.rows) > 200:
            click.echo(f"... {len(table.rows) - 200} more rows (--csv for all)")
