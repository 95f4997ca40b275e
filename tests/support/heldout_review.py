"""Drafts for a fixed sample of the corpus' held-out split, made as ``triage suggest --json`` makes them.

The held-out split (``split = "test"``) shares no thread with the training split. ``review_sample``
picks a deterministic sample spread over languages and over standard / held-back cases in the split's
proportions; ``message_for`` turns an example into the mail a sender would write (subject, body, a
From in the example's language, a Message-ID); ``review_records`` trains a model from the training
split with the project's own code and runs the real offline pipeline (parse with the configured
limits, triage in one batch, suggest with the configured templates, policy and register).

``python -m tests.support.heldout_review [--out DIR] [--size N] [--model PATH] [--check-cli] [--exclude GRADES]`` writes
``records.jsonl`` (one record per example: labels, decision, draft) and ``drafts.txt`` (the same, to
read) into DIR (default ``var/draft_review``); the grades of a reading are in
``tests/data/draft_review_heldout*.toml``; ``--grades [FILE]`` prints their counts next to the figures, and
``--exclude FILE`` leaves a reading's examples out, for a fresh sample read blind after changes made with it.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import tomllib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from classifiers.corpus import Example, corpus_files, of_split, read_corpus
from tests.support.mail import make_message

ROOT = Path(__file__).resolve().parents[2]
GRADES_FILE = ROOT / "tests" / "data" / "draft_review_heldout.toml"
GRADES = ("send", "edit", "wrong", "harmful")
WORKING = ("en", "fr", "es")
SAMPLE_SIZE = 100
# The corpus' writers date their cases in the first half of 2025; a message sent then keeps near deadlines near.
SENT_ON = datetime(2025, 5, 15, 9, 30, tzinfo=timezone.utc)

_SENDERS = {
    "en": ("Jane Porter <jane.porter@porter-designs.example.com>", "Oliver Grant <o.grant@grant-ip.example.co.uk>",
           "Priya Shah <priya@shah-studio.example.com>"),
    "fr": ("Claire Lefèvre <claire.lefevre@cabinet-lefevre.example.fr>",
           "Julien Moreau <j.moreau@moreau-design.example.fr>", "Sophie Girard <sophie.girard@atelier-girard.example.ch>"),
    "es": ("Lucía Fernández <lucia.fernandez@estudio-fernandez.example.es>",
           "Javier Ortega <jortega@ortega-pi.example.es>", "María López <maria.lopez@disenos-lopez.example.mx>"),
    "de": ("Jonas Weber <j.weber@weber-design.example.de>",),
    "it": ("Giulia Romano <giulia.romano@studio-romano.example.it>",),
    "pt": ("João Silva <joao.silva@silva-design.example.pt>",),
    "nl": ("Sanne de Vries <sanne@devries-ontwerp.example.nl>",),
    "ca": ("Jordi Puig <jordi.puig@puig-disseny.example.cat>",),
    "ro": ("Andrei Popescu <andrei.popescu@popescu-design.example.ro>",),
    "pl": ("Katarzyna Nowak <k.nowak@nowak-wzory.example.pl>",),
    "sv": ("Erik Lindqvist <erik@lindqvist-form.example.se>",),
    "da": ("Mette Jensen <mette.jensen@jensen-design.example.dk>",),
    "cs": ("Jan Novák <jan.novak@novak-design.example.cz>",),
    "tr": ("Ayşe Yılmaz <ayse.yilmaz@yilmaz-tasarim.example.com.tr>",),
}


def _key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def stratum(example: Example) -> tuple[str, bool]:
    """The sampling cell of an example: its language (other languages together) and whether it is standard."""
    return (example.language if example.language in WORKING else "other", example.standard)


def review_sample(held_out: Sequence[Example], size: int = SAMPLE_SIZE) -> list[Example]:
    """A fixed sample of the held-out examples, each cell of ``stratum`` in its share of the split.

    Cells get their share by largest remainder; inside a cell examples are taken in the order of a hash of
    their id, so the sample does not depend on file order and is the same on every machine.
    """
    cells: dict[tuple[str, bool], list[Example]] = {}
    for example in held_out:
        cells.setdefault(stratum(example), []).append(example)
    total = len(held_out)
    size = min(size, total)
    exact = {cell: len(members) * size / total for cell, members in cells.items()}
    counts = {cell: int(share) for cell, share in exact.items()}
    for cell in sorted(exact, key=lambda c: (counts[c] - exact[c], str(c)))[: size - sum(counts.values())]:
        counts[cell] += 1
    chosen = [e for cell, members in cells.items() for e in sorted(members, key=lambda e: _key(e.id))[: counts[cell]]]
    return sorted(chosen, key=lambda e: e.id)


def held_out_examples(corpus: Path = ROOT / "data" / "corpus") -> list[Example]:
    """The corpus' held-out split."""
    examples, _ = read_corpus(corpus_files(corpus))
    return of_split(examples, "test")


def message_for(example: Example) -> bytes:
    """The mail a sender would have written: the example's subject and body, a From in its language, a Message-ID."""
    senders = _SENDERS.get(example.language, _SENDERS["en"])
    sender = senders[int(_key(example.id), 16) % len(senders)]
    return make_message(example.body, subject=example.subject or "(no subject)", sender=sender,
                        message_id=f"<heldout.{example.id}@mail.example.net>", date=SENT_ON)


@dataclass(frozen=True)
class ReviewRecord:
    """One example of the sample: its labels, the triage decision and the draft (or why there is none)."""

    id: str
    language: str
    subject: str
    text: str
    labels: dict[str, Any]
    decision: dict[str, Any]
    draft: str | None
    no_reply: str | None
    blanks: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """The record as JSON-ready data."""
        return {"id": self.id, "language": self.language, "subject": self.subject, "text": self.text,
                "labels": self.labels, "decision": self.decision, "draft": self.draft, "no_reply": self.no_reply,
                "blanks": list(self.blanks)}


def train_into(path: Path) -> None:
    """Train the configured model from the corpus (training split only) and save it at ``path``, as ``triage train``."""
    from classifiers.config import load_triage_config
    from classifiers.registry import build_model, save_model
    from pipeline.config import load_settings

    settings = load_settings(None).settings.triage
    save_model(build_model(settings, load_triage_config(settings)), path)


def review_records(sample: Sequence[Example], model_path: Path) -> list[ReviewRecord]:
    """The decision and draft of each example, by the steps of ``triage suggest`` (model read from ``model_path``)."""
    from classifiers.config import load_triage_config
    from classifiers.registry import load_model
    from classifiers.triage import triage_messages
    from pipeline.config import load_settings
    from pipeline.mail.parse import parse_limits_for, parse_message
    from responders.context import ReplyContext
    from responders.facts import facts_from_parsed
    from responders.suggest import Reply, suggest_reply

    settings = load_settings(None).settings
    context = ReplyContext.load(settings)
    config = load_triage_config(settings.triage)
    model = load_model(model_path)
    limits = parse_limits_for(settings.ingest)
    parsed = [parse_message(message_for(example), limits) for example in sample]
    records = []
    for example, message, decision in zip(sample, parsed, triage_messages(parsed, model, config)):
        reply = suggest_reply(decision, facts_from_parsed(message), context.library, context.policy,
                              case_facts=context.case_facts)
        records.append(ReviewRecord(
            id=example.id, language=example.language, subject=example.subject, text=example.body,
            labels={"topic": example.topic, "intents": list(example.intents or ()), "standard": example.standard,
                    "queue": example.queue, "hold_reason": example.hold_reason},
            decision={"language": decision.language, "topic": decision.topic,
                      "answer_intents": list(decision.answer_intents), "standard": decision.standard,
                      "queue": decision.queue, "reason": decision.reason, "hold_reason": decision.hold_reason,
                      "rule_id": decision.rule_id, "intents": [[i, round(p, 3)] for i, p in decision.intents[:4]]},
            draft=reply.text if isinstance(reply, Reply) else None,
            no_reply=None if isinstance(reply, Reply) else reply.reason,
            blanks=reply.blanks if isinstance(reply, Reply) else (),
        ))
    return records


def check_with_cli(sample: Sequence[Example], records: Sequence[ReviewRecord], model_path: Path, folder: Path) -> int:
    """Run ``triage suggest --json`` on the sample's .eml files; the number of drafts that differ from ``records``."""
    mail = folder / "eml"
    mail.mkdir(parents=True, exist_ok=True)
    for example in sample:
        (mail / f"{example.id}.eml").write_bytes(message_for(example))
    env = {**os.environ, "TRIAGE_TRIAGE__MODEL_PATH": str(model_path), "TRIAGE_TRIAGE__AUTO_TRAIN": "false"}
    output = subprocess.run([str(Path(sys.executable).parent / "triage"), "suggest", "--json", str(mail)], cwd=ROOT, env=env,
                            check=True, capture_output=True, text=True).stdout
    by_id = {Path(line["file"]).stem: line for line in map(json.loads, output.splitlines())}
    differ = 0
    for record in records:
        line = by_id[record.id]
        if (line["body"] or None) != record.draft or line["queue"] != record.decision["queue"]:
            differ += 1
            print(f"differs from `triage suggest`: {record.id}", file=sys.stderr)
    return differ


def load_grades(path: Path = GRADES_FILE) -> list[dict[str, Any]]:
    """The graded drafts of ``path`` (``[[draft]]`` tables: id, grade, why, and the blind first pass)."""
    return list(tomllib.loads(path.read_text(encoding="utf-8")).get("draft", []))


def figures(records: Sequence[ReviewRecord]) -> dict[str, Any]:
    """Non-standard recall, precision and right section (held-back cases) of the records against their labels."""
    held = [r for r in records if not r.labels["standard"]]
    caught = [r for r in held if not r.decision["standard"]]
    flagged = [r for r in records if not r.decision["standard"]]
    section = [r for r in caught if r.decision["queue"] == r.labels["queue"]]
    return {"held_back": len(held), "recognised": len(caught), "flagged": len(flagged),
            "non_standard_recall": round(len(caught) / len(held), 3) if held else None,
            "non_standard_precision": round(len(caught) / len(flagged), 3) if flagged else None,
            "right_section": round(len(section) / len(caught), 3) if caught else None,
            "right_section_all_held": round(len(section) / len(held), 3) if held else None}


def grade_counts(grades: Sequence[dict[str, Any]], field: str = "grade") -> dict[str, dict[str, int]]:
    """Counts of each grade, in all and per language (``field``: ``grade`` or ``blind_grade``)."""
    counts: dict[str, Counter[str]] = {"all": Counter()}
    for item in grades:
        counts["all"][item[field]] += 1
        counts.setdefault(item.get("language", "?"), Counter())[item[field]] += 1
    return {group: {g: counter[g] for g in GRADES} for group, counter in counts.items()}


def readable(record: ReviewRecord) -> str:
    """The record as a desk member reads it."""
    labels, decision = record.labels, record.decision
    labelled = ("standard " + ", ".join(labels["intents"]) if labels["standard"]
                else f"HELD {labels['hold_reason']} -> {labels['queue']}")
    decided = ("standard " + ", ".join(decision["answer_intents"]) if decision["standard"]
               else f"HELD {decision['hold_reason']} -> {decision['queue']}")
    body = record.draft if record.draft is not None else f"NO REPLY: {record.no_reply}"
    return (f"{'=' * 100}\n## {record.id} [{record.language}]  label: {labelled}\n   decision: {decided} | "
            f"{decision['reason']}\n--- {record.subject}\n{record.text.strip()}\n--- draft:\n{body}\n")


def main(argv: Sequence[str]) -> None:
    """Write the sample's records and a readable copy; optionally compare with ``triage suggest --json``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tests.support.heldout_review")
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "draft_review")
    parser.add_argument("--size", type=int, default=SAMPLE_SIZE)
    parser.add_argument("--model", type=Path, help="a model file to use (default: train one into a temporary folder)")
    parser.add_argument("--check-cli", action="store_true", help="also run `triage suggest --json` and compare")
    parser.add_argument("--grades", type=Path, nargs="?", const=GRADES_FILE, default=None,
                        help="print the counts of a grades file (default: the first reading's)")
    parser.add_argument("--exclude", type=Path, action="append", default=[],
                        help="leave out the examples of this grades file (a fresh sample for a new blind reading)")
    args = parser.parse_args(argv)
    excluded = {item["id"] for path in args.exclude for item in load_grades(path)}
    sample = review_sample([e for e in held_out_examples() if e.id not in excluded], args.size)
    with tempfile.TemporaryDirectory(prefix="draft-review-") as scratch:
        model_path = args.model or Path(scratch) / "model.skops"
        if args.model is None:
            train_into(model_path)
        records = review_records(sample, model_path)
        if args.check_cli and check_with_cli(sample, records, model_path, Path(scratch)):
            raise SystemExit("the drafts differ from those of `triage suggest --json`")
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "records.jsonl").open("w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record.as_dict(), ensure_ascii=False) + "\n")
    (args.out / "drafts.txt").write_text("".join(readable(r) for r in records), encoding="utf-8")
    print(json.dumps({"sample": len(records), "cells": {f"{lang}/{'standard' if std else 'held'}": n for (lang, std), n
                                                       in sorted(Counter(stratum(e) for e in sample).items())},
                      **figures(records)}))
    if args.grades is not None and args.grades.is_file():
        grades = load_grades(args.grades)
        print(json.dumps({"grades": grade_counts(grades),
                          "blind": grade_counts(grades, "blind_grade") if all("blind_grade" in g for g in grades)
                          else None}))


if __name__ == "__main__":
    main(sys.argv[1:])
