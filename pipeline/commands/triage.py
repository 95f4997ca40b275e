"""The triage commands: ``classify`` (files, no database), ``eval`` and ``retriage`` (``train`` is in ``models``).

Loaded by ``pipeline.cli`` when one of them runs. The output
of ``classify --json`` is a contract others depend on: one JSON object per
message per line with at least ``file``, ``message_id``, ``language``,
``topic``, ``confidence``, ``standard``, ``queue``, ``reason``, ``entities``
(``kind`` and ``value``) and ``template``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

# The models pull in scikit-learn (a second to import): commands import them when they run,
# so `triage inquiries list` and friends stay quick.
if TYPE_CHECKING:
    from classifiers.config import TriageConfig
    from classifiers.decision import Decision
    from classifiers.model import TriageModel
    from pipeline.commands.state import CliState
    from pipeline.config import TriageSettings
    from pipeline.errors import ParseError
    from pipeline.mail.parse import ParseLimits
    from pipeline.sources.base import SourceItem

_BATCH = 200


DESK_OPTION = click.option("--desk", "desk", default=None, metavar="ID",
                           help="The desk whose taxonomy, rules and model to use (default: the default desk).")


def desk_triage_settings(state: "CliState", desk: str | None) -> "TriageSettings":
    """The triage settings of a desk named on the command line (the default desk's when none is named)."""
    from pipeline.desks import all_desks, default_desk

    settings = state.loaded().settings
    desks = all_desks(settings)
    chosen = desk or default_desk(settings)
    if chosen not in desks:
        raise click.BadParameter(f"unknown desk {chosen!r}; known: {', '.join(desks)}", param_hint="--desk")
    return desks[chosen].triage


def _triage_setup(state: "CliState", desk: str | None = None) -> tuple[TriageConfig, TriageModel]:
    from classifiers.config import load_triage_config
    from classifiers.registry import load_or_train

    settings = desk_triage_settings(state, desk)
    config = load_triage_config(settings)
    return config, load_or_train(settings, config)


def _unparseable(decision: Decision, error: ParseError) -> Decision:
    from dataclasses import replace

    return replace(
        decision,
        reason=f"Not usable mail ({error}): a person looks at it.",
        rule_id="unparseable",
        standard=False,
    )


def classify_items(
    items: Iterator[SourceItem], model: TriageModel, config: TriageConfig, limits: ParseLimits
) -> Iterator[tuple[SourceItem, str | None, Decision]]:
    """Parse and triage each item, in batches; an item that is not mail still gets a decision."""
    from classifiers.inputs import TriageInput
    from classifiers.triage import triage_inputs
    from pipeline.errors import ParseError
    from pipeline.mail.parse import parse_message

    batch: list[tuple[SourceItem, str | None, TriageInput, ParseError | None]] = []

    def flush() -> Iterator[tuple[SourceItem, str | None, Decision]]:
        decisions = triage_inputs([entry[2] for entry in batch], model, config)
        for (item, message_id, _, error), decision in zip(batch, decisions):
            yield item, message_id, _unparseable(decision, error) if error else decision
        batch.clear()

    for item in items:
        try:
            parsed = parse_message(item.raw, limits)
            batch.append((item, parsed.message_id, TriageInput.from_parsed(parsed), None))
        except ParseError as exc:
            batch.append((item, None, TriageInput(subject="", new_text=""), exc))
        if len(batch) >= _BATCH:
            yield from flush()
    if batch:
        yield from flush()


def contract_json(file: str, message_id: str | None, decision: Decision) -> dict[str, Any]:
    """One line of ``triage classify --json``."""
    return {"file": file, "message_id": message_id, **decision.as_json()}


@click.command("classify")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="One JSON object per message per line.")
@DESK_OPTION
@click.pass_obj
def classify(state: "CliState", paths: tuple[str, ...], as_json: bool, desk: str | None) -> None:
    """Triage .eml files, folders of them or mbox files, without touching the database."""
    from pipeline.mail.parse import parse_limits_for
    from pipeline.sources.base import SourceProblem
    from pipeline.sources.files import check_paths, iter_paths

    checked = check_paths(paths)
    settings = state.loaded().settings
    config, model = _triage_setup(state, desk)
    problems: list[Any] = []

    def readable() -> Iterator[SourceItem]:
        for item in iter_paths(checked):
            if isinstance(item, SourceProblem):
                problems.append(item)
                click.echo(f"triage: error: {item.source}: {item.error}", err=True)
            else:
                yield item

    # The "template" key (a kept contract) names the template of the first intent a reply answers, or null.
    from responders.offline import template_finder

    find_template = template_finder(settings)
    for item, message_id, decision in classify_items(readable(), model, config, parse_limits_for(settings.ingest)):
        line = contract_json(item.origin.source, message_id, decision) | {"template": find_template(decision)}
        if as_json:
            click.echo(json.dumps(line, ensure_ascii=False))
        else:
            kind = "standard" if decision.standard else "non-standard"
            click.echo(
                f"{item.origin.source}: {decision.language} {decision.topic} ({decision.topic_confidence:.2f}) "
                f"-> {decision.queue} [{kind}, {decision.rule_id}] {decision.reason}"
            )
    if problems:
        sys.exit(1)


@click.command("eval")
@click.option("--data", "data", type=click.Path(exists=True, dir_okay=True, path_type=Path),
              help="A JSONL/CSV file (or folder) of labelled examples; default: the corpus's test split.")
@click.option("--split", type=click.Choice(["test", "train", "all"]), default=None,
              help="Which examples to score (default: test for the corpus, all for --data).")
@click.option("--json", "as_json", is_flag=True, help="The whole report as one JSON object.")
@DESK_OPTION
@click.pass_obj
def evaluate_command(state: "CliState", data: Path | None, split: str | None, as_json: bool,
                     desk: str | None) -> None:
    """Score triage on held-out examples: per-topic P/R/F1, macro-F1, languages, confusion, bands."""
    from classifiers.config import resolve
    from classifiers.corpus import corpus_files, of_split, read_corpus
    from classifiers.evaluation import evaluate, format_report, report_json

    settings = desk_triage_settings(state, desk)
    config, model = _triage_setup(state, desk)
    examples, _ = read_corpus(corpus_files(data if data is not None else resolve(settings.corpus)))
    chosen = split or ("all" if data is not None else "test")
    if chosen != "all":
        examples = of_split(examples, chosen)
    if not examples:
        raise click.UsageError(f"no examples in the {chosen} split")
    report = evaluate(examples, model, config)
    click.echo(json.dumps(report_json(report), ensure_ascii=False) if as_json else format_report(report))


def _parse_since(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD) or an ISO date-time") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@click.command("retriage")
@click.option("--since", "since", help="Triage again every inquiry stored since this date (YYYY-MM-DD or ISO time).")
@click.option("--pending", is_flag=True, help="Triage the inquiries still waiting in state new.")
@click.option("--json", "as_json", is_flag=True, help="End with one JSON line of counts.")
@click.pass_obj
def retriage(state: "CliState", since: str | None, pending: bool, as_json: bool) -> None:
    """Triage stored inquiries again (after a model or rules change), or those still new."""
    from pipeline.rounds.triage import TriageStats, triage_service

    if not since and not pending:
        raise click.UsageError("give --since DATE or --pending")
    moment = _parse_since(since) if since else None
    runtime = state.runtime()
    service = triage_service(runtime)
    stats = TriageStats()
    if moment is not None:
        stats = service.retriage_since(moment)
    if pending:
        while True:
            turn = service.triage_pending()
            stats.triaged += turn.triaged
            for queue, count in turn.by_queue.items():
                stats.by_queue[queue] = stats.by_queue.get(queue, 0) + count
            if turn.triaged == 0:
                break
    if as_json:
        click.echo(json.dumps(stats.as_json() | {"model_version": service.model.version}))
    else:
        queues = ", ".join(f"{q} {n}" for q, n in sorted(stats.by_queue.items())) or "none"
        click.echo(f"triaged {stats.triaged} inquiries with model {service.model.version}: {queues}")
    if stats.failed:
        for error in stats.errors:
            click.echo(f"triage: error: {error}", err=True)
        sys.exit(1)

