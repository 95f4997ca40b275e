"""The reply commands: ``suggest`` (files, no database) and ``replies run|deliver|recover`` (the database and servers).

They are registered on the ``triage`` group in ``pipeline/cli.py``. The output
of ``suggest --json`` is a contract: one JSON object per message per line with
at least ``file``, ``language``, ``topic``, ``template`` (id or null),
``subject`` and ``body`` (empty when no reply is suggested, with ``reason``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from classifiers.decision import Decision
    from pipeline.commands.state import CliState
    from pipeline.mail.model import ParsedMessage
    from responders.suggest import NoReply, Reply

_BATCH = 200


def suggestion_json(file: str, parsed: ParsedMessage | None, decision: Decision | None,
                    reply: Reply | NoReply) -> dict[str, Any]:
    """One line of ``triage suggest --json``."""
    from responders.suggest import Reply

    return {
        "file": file,
        "message_id": parsed.message_id if parsed is not None else None,
        "language": decision.language if decision is not None else None,
        "topic": decision.topic if decision is not None else None,
        "standard": decision.standard if decision is not None else False,
        "queue": decision.queue if decision is not None else None,
        "template": reply.template_id if isinstance(reply, Reply) else None,
        "template_version": reply.template_version if isinstance(reply, Reply) else None,
        "variant": reply.variant if isinstance(reply, Reply) else None,
        "to": reply.to_address if isinstance(reply, Reply) else None,
        "subject": reply.subject if isinstance(reply, Reply) else "",
        "body": reply.text if isinstance(reply, Reply) else "",
        "reason": None if isinstance(reply, Reply) else reply.reason,
        "intents": list(reply.intents) if isinstance(reply, Reply) else [],
        "blanks": list(reply.blanks) if isinstance(reply, Reply) else [],
        "staff_note": reply.staff_note if isinstance(reply, Reply) else None,
        "route_to": reply.route_to if isinstance(reply, Reply) else None,
    }


@click.command("suggest")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="One JSON object per message per line.")
@click.option("--desk", "desk", default=None, metavar="ID",
              help="The desk that answers: its taxonomy, model, templates and identity (default: the default desk).")
@click.pass_obj
def suggest(state: CliState, paths: tuple[str, ...], as_json: bool, desk: str | None) -> None:
    """Suggest replies for .eml files, folders of them or mbox files, without touching the database."""
    from classifiers.config import load_triage_config
    from classifiers.registry import load_or_train
    from classifiers.triage import triage_messages
    from pipeline.commands.triage import desk_triage_settings
    from pipeline.errors import ParseError
    from pipeline.mail.parse import parse_message
    from pipeline.mail.parse import parse_limits_for
    from pipeline.sources.base import SourceItem, SourceProblem
    from pipeline.sources.files import check_paths, iter_paths
    from responders.context import ReplyContext
    from responders.facts import facts_from_parsed
    from responders.suggest import NoReply, suggest_reply

    checked = check_paths(paths)
    settings = state.loaded().settings
    triage_settings = desk_triage_settings(state, desk)
    context = ReplyContext.load(settings).for_desk(desk)
    config = load_triage_config(triage_settings)
    model = load_or_train(triage_settings, config)
    limits = parse_limits_for(settings.ingest)
    unreadable = 0

    def emit(file: str, parsed: ParsedMessage | None, decision: Decision | None, reply: Reply | NoReply) -> None:
        line = suggestion_json(file, parsed, decision, reply)
        if as_json:
            click.echo(json.dumps(line, ensure_ascii=False))
            return
        click.echo(f"== {file}: {line['language']} {line['topic']} -> template {line['template'] or '-'}")
        click.echo(f"Subject: {line['subject']}\n\n{line['body']}" if line["template"] else f"no reply: {line['reason']}")

    def flush(batch: list[tuple[SourceItem, ParsedMessage | ParseError]]) -> None:
        parsed_only = [p for _, p in batch if not isinstance(p, ParseError)]
        decisions = iter(triage_messages(parsed_only, model, config))
        for item, parsed in batch:
            if isinstance(parsed, ParseError):
                emit(item.origin.source, None, None, NoReply(f"not usable mail: {parsed}"))
                continue
            decision = next(decisions)
            reply = suggest_reply(decision, facts_from_parsed(parsed), context.library, context.policy,
                                  case_facts=context.case_facts)
            emit(item.origin.source, parsed, decision, reply)
        batch.clear()

    def items() -> Iterator[SourceItem]:
        nonlocal unreadable
        for item in iter_paths(checked):
            if isinstance(item, SourceProblem):
                unreadable += 1
                click.echo(f"triage: error: {item.source}: {item.error}", err=True)
            else:
                yield item

    batch: list[tuple[SourceItem, ParsedMessage | ParseError]] = []
    for item in items():
        try:
            batch.append((item, parse_message(item.raw, limits)))
        except ParseError as exc:
            batch.append((item, exc))
        if len(batch) >= _BATCH:
            flush(batch)
    flush(batch)
    if unreadable:
        sys.exit(1)


@click.group("replies")
def replies() -> None:
    """Deliver approved replies and finish deliveries a stopped process left halfway."""


def _print_outcomes(outcomes: list[Any], as_json: bool, extra: dict[str, int] | None = None) -> None:
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.outcome] = counts.get(outcome.outcome, 0) + 1
        if not as_json:
            click.echo(f"#{outcome.suggestion_id:<6} {outcome.outcome:<9} {outcome.message_id or '-'} {outcome.detail}")
    if as_json:
        click.echo(json.dumps({**(extra or {}), "deliveries": len(outcomes), **counts}))
    else:
        click.echo(", ".join(f"{name} {count}" for name, count in sorted(counts.items())) or "nothing to deliver")


@replies.command("deliver")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="End with one JSON line of counts.")
@click.pass_obj
def replies_deliver(state: CliState, limit: int, as_json: bool) -> None:
    """Send (or put into Drafts) the approved replies waiting, each exactly once."""
    from responders.context import ReplyContext
    from pipeline.rounds.replies import deliver_approved
    from responders.mailboxes import MailboxTransports

    runtime = state.runtime()
    context = ReplyContext.load(runtime.settings)
    outcomes = deliver_approved(runtime.session_factory, context, MailboxTransports(runtime.settings), limit=limit)
    _print_outcomes(outcomes, as_json)


@replies.command("recover")
@click.option("--json", "as_json", is_flag=True, help="End with one JSON line of counts.")
@click.pass_obj
def replies_recover(state: CliState, as_json: bool) -> None:
    """Finish deliveries left pending by a process that stopped (looks for the Message-ID first)."""
    from responders.context import ReplyContext
    from pipeline.rounds.replies import recover_deliveries
    from responders.mailboxes import MailboxTransports

    runtime = state.runtime()
    context = ReplyContext.load(runtime.settings)
    outcomes = recover_deliveries(runtime.session_factory, context, MailboxTransports(runtime.settings))
    _print_outcomes(outcomes, as_json)


@replies.command("run")
@click.option("--json", "as_json", is_flag=True, help="End with one JSON line of counts.")
@click.pass_obj
def replies_run(state: CliState, as_json: bool) -> None:
    """One round: suggest replies for triaged inquiries, finish stopped deliveries, acknowledge, deliver."""
    from pipeline.rounds.replies import ReplyWorker

    result = ReplyWorker.for_runtime(state.runtime()).run_once()
    acknowledged = sum(1 for outcome in result.acknowledged if outcome.outcome == "sent")
    if not as_json:
        click.echo(f"suggested {result.suggested} (to staff without one: {result.unanswerable}), "
                   f"recovered {len(result.recovered)}, acknowledged {acknowledged}")
    _print_outcomes([*result.recovered, *result.delivered], as_json,
                    {"suggested": result.suggested, "to_staff": result.unanswerable, "acknowledged": acknowledged})


COMMANDS = (suggest, replies)
