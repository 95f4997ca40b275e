"""The model registry commands: ``train`` (a new version from the corpus and staff corrections) and ``models``
(``list``, ``compare``, ``promote``, ``rollback``).

Training never changes the live model; promotion does, gated on the held-out
figures, and every process that triages notices the new live pointer on its
next batch. ``train --json`` ends with one JSON line with at least
``version``, ``macro_f1``, ``per_topic``, ``per_language`` and ``seconds``.
"""

from __future__ import annotations

import getpass
import json
import logging
import sys
import time
from typing import TYPE_CHECKING, Any

import click

from pipeline.commands.triage import DESK_OPTION, desk_triage_settings

if TYPE_CHECKING:
    from classifiers.config import TriageConfig
    from classifiers.corrections import Correction
    from classifiers.model import TriageModel
    from classifiers.versions import ModelRegistry
    from pipeline.commands.state import CliState
    from pipeline.config import TriageSettings

log = logging.getLogger(__name__)


def registry_of(settings: "TriageSettings") -> "ModelRegistry":
    """The registry next to the configured model file."""
    from classifiers.registry import model_location
    from classifiers.versions import ModelRegistry

    return ModelRegistry(model_location(settings.model_path).parent)


def load_corrections(state: "CliState", desk: str | None = None) -> list["Correction"]:
    """The staff corrections of a desk's inquiries (the default desk's: also those stored before desks), as the
    classifiers take them; none when there is no database yet."""
    from classifiers.corrections import corrections_of
    from pipeline.desks import default_desk
    from pipeline.store.retraining import desk_labelled_inquiries
    from pipeline.store.sqlite_path import sqlite_file_of

    settings = state.loaded().settings
    database = sqlite_file_of(settings.database.url)
    if database is not None and not database.exists():
        return []  # no database yet, so no corrections: do not create an empty one just to look
    with state.runtime().session_factory() as session:
        fallback = default_desk(settings)
        return corrections_of(desk_labelled_inquiries(session, [desk or fallback], fallback))


def _actor(given: str | None) -> str:
    if given:
        return given
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _audit(state: "CliState", event: str, actor: str, details: dict[str, Any]) -> None:
    """Record a registry change in the audit log when there is a database; the registry's history has it anyway."""
    from pipeline.errors import TriageError
    from pipeline.store import repository as repo
    from pipeline.store.db import unit_of_work

    try:
        with unit_of_work(state.runtime().session_factory) as session:
            repo.record_event(session, event, actor=actor, details=details)
    except TriageError as exc:
        click.echo(f"triage: warning: not recorded in the audit log ({exc})", err=True)


class _Bar:
    """Training stages on a progress bar when stderr is a terminal, silent otherwise."""

    def __init__(self, total: int) -> None:
        self.bar: Any = None
        self.started = False
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc="training", unit="step", file=sys.stderr, leave=False)

    def __call__(self, stage: str) -> None:
        if self.bar is not None:
            if self.started:
                self.bar.update(1)
            self.started = True
            self.bar.set_description(stage)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.update(self.bar.total - self.bar.n)
            self.bar.close()


@click.command("train")
@click.option("--json", "as_json", is_flag=True, help="End with one JSON line describing the new version.")
@click.option("--corpus-only", is_flag=True, help="Leave the staff corrections in the database out.")
@click.option("--by", "trained_by", help="Who trains (default: the login name).")
@DESK_OPTION
@click.pass_obj
def train(state: "CliState", as_json: bool, corpus_only: bool, trained_by: str | None, desk: str | None) -> None:
    """Train a new model version from the corpus and staff corrections; it is stored, not made live."""
    from classifiers.config import load_triage_config
    from classifiers.retrain import STAGES, train_candidate

    settings = desk_triage_settings(state, desk)
    config = load_triage_config(settings)
    started = time.perf_counter()
    corrections = [] if corpus_only else load_corrections(state, desk)
    bar = _Bar(len(STAGES) + 1)
    try:
        trained = train_candidate(settings, config, corrections, progress=bar)
        bar("saving")
        registry = registry_of(settings)
        entry = registry.add(trained.model, trained_by=_actor(trained_by),
                             extra={"corrections": trained.data.used, "skipped": trained.data.notes()})
    finally:
        bar.close()
    seconds = time.perf_counter() - started
    model = trained.model
    metrics = dict(model.info.metrics)
    path = registry.folder(entry.version)
    for note in trained.data.notes():
        click.echo(f"triage: note: {note}", err=True)
    info = model.info.as_dict() | {
        "path": str(path),
        "seconds": round(seconds, 1),
        "macro_f1": metrics.get("macro_f1"),
        "per_topic": {t: s["f1"] for t, s in metrics.get("per_topic", {}).items()},
        "per_language": metrics.get("per_language", {}),
        "corrections": trained.data.used,
        "skipped_unknown_topic": trained.data.unknown_topic,
        "skipped_too_few": trained.data.too_few,
        "live": registry.live(),
    }
    if as_json:
        click.echo(json.dumps(info, ensure_ascii=False))
        return
    click.echo(f"model {info['version']} saved to {path} in {seconds:.1f}s (not live: `triage models promote "
               f"{info['version']}` makes it live)")
    click.echo(f"trained on {info['examples']} examples with {trained.data.used} staff corrections "
               f"(data {info['data_hash'][:12]}), {len(info['topics'])} topics, languages {', '.join(info['languages'])}")
    if metrics:
        click.echo(f"held-out: macro-F1 {metrics['macro_f1']:.4f}, language accuracy {metrics['language_accuracy']:.4f} "
                   f"on {metrics['test_examples']} examples")


@click.group("models")
def models() -> None:
    """The model registry: list versions, compare two, promote one, roll back."""


def _figure(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "-"


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per version per line.")
@DESK_OPTION
@click.pass_obj
def list_versions(state: "CliState", as_json: bool, desk: str | None) -> None:
    """The stored versions, newest first, with their held-out figures; the live one is marked."""
    registry = registry_of(desk_triage_settings(state, desk))
    live = registry.live()
    entries = registry.versions()
    for entry in entries:
        metrics = entry.metrics
        if as_json:
            click.echo(json.dumps(entry.as_dict() | {"live": entry.version == live}, ensure_ascii=False))
            continue
        mark = "*" if entry.version == live else " "
        click.echo(f"{mark} {entry.version}  {entry.created_at}  by {entry.trained_by or '?'}  macro-F1 "
                   f"{_figure(metrics.get('macro_f1'))}  hold recall {_figure(metrics.get('hold_recall'))}  "
                   f"corrections {entry.extra.get('corrections', 0)}")
    if not entries and not as_json:
        click.echo(f"no model versions in {registry.root}; `triage train` makes one")


def _resolve(registry: "ModelRegistry", name: str) -> str:
    from pipeline.errors import ClassifierError

    if name == "live":
        live = registry.live()
        if live is None:
            raise ClassifierError("no model is live yet; `triage models promote VERSION` makes one live")
        return live
    return name


def decision_changes(state: "CliState", first: "TriageModel", second: "TriageModel", config: "TriageConfig",
                     limit: int) -> list[dict[str, Any]]:
    """The stored inquiries (newest ``limit``) whose decision differs between the two models."""
    from classifiers.retrain import changed_decisions
    from pipeline.rounds.triage import stored_input
    from pipeline.store.labels import recent_inquiries

    with state.runtime().session_factory() as session:
        rows = recent_inquiries(session, limit)
        items = [(inquiry.id, message.subject, stored_input(inquiry, message)) for inquiry, message in rows]
    return changed_decisions(items, first, second, config)


@models.command("compare")
@click.argument("first")
@click.argument("second")
@click.option("--limit", default=500, show_default=True, help="How many recent inquiries to triage with both.")
@click.option("--corpus-only", is_flag=True, help="Hold out the corpus's test split only (no corrections, no database).")
@click.option("--json", "as_json", is_flag=True, help="The comparison as one JSON object.")
@click.pass_obj
@DESK_OPTION
def compare(state: "CliState", first: str, second: str, limit: int, corpus_only: bool, as_json: bool,
            desk: str | None) -> None:
    """Both models' figures on the same held-out data, and the stored inquiries whose decision would change.

    FIRST and SECOND are version names, or ``live``.
    """
    from classifiers.config import load_triage_config
    from classifiers.retrain import held_out, score

    settings = desk_triage_settings(state, desk)
    config = load_triage_config(settings)
    registry = registry_of(settings)
    names = [_resolve(registry, first), _resolve(registry, second)]
    loaded = [registry.load(n) for n in names]
    corrections = [] if corpus_only else load_corrections(state, desk)
    examples = held_out(settings, config, corrections)
    if not examples:
        raise click.UsageError("there are no held-out examples to compare on")
    figures = [score(m, examples, config) for m in loaded]
    changes = [] if corpus_only else decision_changes(state, loaded[0], loaded[1], config, limit)
    if as_json:
        click.echo(json.dumps({"held_out": len(examples), "models": dict(zip(names, figures)), "changes": changes},
                              ensure_ascii=False))
        return
    click.echo(f"on {len(examples)} held-out examples:")
    click.echo(f"{'':28}{names[0]:>20}{names[1]:>20}")
    for key in ("macro_f1", "topic_accuracy", "language_accuracy", "hold_recall", "hold_precision", "section_accuracy"):
        click.echo(f"{key:28}{_figure(figures[0].get(key)):>20}{_figure(figures[1].get(key)):>20}")
    for language in sorted(set(figures[0]["per_language"]) | set(figures[1]["per_language"])):
        a, b = (f["per_language"].get(language, {}).get("macro_f1") for f in figures)
        click.echo(f"{'macro_f1 ' + language:28}{_figure(a):>20}{_figure(b):>20}")
    for topic in sorted(set(figures[0]["per_topic"]) | set(figures[1]["per_topic"])):
        a, b = (f["per_topic"].get(topic, {}).get("f1") for f in figures)
        click.echo(f"{'f1 ' + topic:28}{_figure(a):>20}{_figure(b):>20}")
    if corpus_only:
        return
    click.echo(f"{len(changes)} of the latest {limit} inquiries would be decided differently")
    for change in changes:
        what = ", ".join(f"{f} {a} -> {b}" for f, (a, b) in change["changes"].items())
        click.echo(f"  #{change['inquiry_id']} {change['subject'][:50]!r}: {what}")


@models.command("promote")
@click.argument("version")
@click.option("--force", is_flag=True, help="Promote even when it is worse than the live model.")
@click.option("--margin", type=float, default=0.0, show_default=True,
              help="How much lower macro-F1 and hold-back recall may be than the live model's.")
@click.option("--by", "actor", help="Who promotes (default: the login name).")
@DESK_OPTION
@click.pass_obj
def promote(state: "CliState", version: str, force: bool, margin: float, actor: str | None, desk: str | None) -> None:
    """Make VERSION the live model (daemons and the app switch on their next batch)."""
    registry = registry_of(desk_triage_settings(state, desk))
    who = _actor(actor)
    event = registry.promote(version, actor=who, force=force, margin=margin)
    _audit(state, "model_promoted", who, event)
    click.echo(f"model {version} is live (was {event['previous'] or 'none'})" + (" - forced past the gate" if force else ""))


@models.command("rollback")
@click.option("--by", "actor", help="Who rolls back (default: the login name).")
@DESK_OPTION
@click.pass_obj
def rollback(state: "CliState", actor: str | None, desk: str | None) -> None:
    """Make the previously live model live again."""
    registry = registry_of(desk_triage_settings(state, desk))
    who = _actor(actor)
    event = registry.rollback(actor=who)
    _audit(state, "model_rolled_back", who, event)
    click.echo(f"model {event['version']} is live again (was {event['previous']})")


@click.command("label")
@click.argument("inquiry_id", type=int, required=False)
@click.option("--next", "offer", is_flag=True, help="List the inquiries whose labels would teach the model most.")
@click.option("--limit", default=10, show_default=True, help="How many to list with --next.")
@click.option("--topic", help="The right topic of INQUIRY_ID.")
@click.option("--language", help="The right language of INQUIRY_ID.")
@click.option("--queue", help="The right queue of INQUIRY_ID.")
@click.option("--by", "actor", help="Who labels (default: the login name).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_obj
def label(state: "CliState", inquiry_id: int | None, offer: bool, limit: int, topic: str | None, language: str | None,
          queue: str | None, actor: str | None, as_json: bool) -> None:
    """Offer inquiries to label (least confident first, then corrected ones), or label INQUIRY_ID directly."""
    from classifiers.config import load_triage_config
    from classifiers.corrections import LabelError, checked_labels
    from pipeline.store.db import unit_of_work
    from pipeline.store.labels import NoSuchInquiry, give_labels, label_candidates

    if offer:
        with state.runtime().session_factory() as session:
            found = label_candidates(session, limit)
        for c in found:
            if as_json:
                click.echo(json.dumps(c.__dict__, ensure_ascii=False))
            else:
                mark = "corrected" if c.corrected else "unsure"
                click.echo(f"#{c.inquiry_id}  {c.language} {c.topic} ({c.confidence:.2f}) -> {c.queue}  [{mark}]  {c.subject[:60]}")
        if not found and not as_json:
            click.echo("nothing to label: no triaged inquiries")
        return
    if inquiry_id is None or not (topic or language or queue):
        raise click.UsageError("give --next, or INQUIRY_ID with --topic, --language and/or --queue")
    config = load_triage_config(state.loaded().settings.triage)
    try:
        given = checked_labels(config.taxonomy, topic=topic, language=language, queue=queue)
    except LabelError as exc:
        raise click.BadParameter(str(exc)) from exc
    who = _actor(actor)
    try:
        with unit_of_work(state.runtime().session_factory) as session:
            give_labels(session, inquiry_id, given, who)
    except NoSuchInquiry as exc:
        raise click.BadParameter(str(exc), param_hint="INQUIRY_ID") from exc
    click.echo(f"inquiry {inquiry_id} labelled: " + ", ".join(f"{k} {v}" for k, v in given.items()))
