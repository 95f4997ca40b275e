"""Benchmark: training time of the intent and hold-back models, and their figures on the held-out split.

    .venv/bin/python bench/intents.py [--folds 5]

Trains the whole model from data/corpus (language, topics, flags, intents,
hold-back), timing the intent and hold-back part on its own too, then triages
the held-out split (threads never shared with training) and prints intent
accuracy (exact set, in order, top-1), hold-back precision/recall, the right
section and references carried, overall and per language. Targets: held back
recognised >= 0.90, right section >= 0.85. With ``--folds N`` it also
cross-validates over the whole corpus, folds split by thread, for figures on
more held-back examples than the test split has.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def cross_validate(examples: list, data_hash: str, config, folds: int) -> None:  # type: ignore[no-untyped-def]
    """Train on all folds but one (split by thread), triage that one, and score every example once."""
    import hashlib

    from classifiers.evaluation import replies_json, score_replies
    from classifiers.inputs import TriageInput
    from classifiers.training import train_model
    from classifiers.triage import triage_inputs

    def fold_of(thread: str) -> int:
        return int.from_bytes(hashlib.sha256(thread.encode()).digest()[:4], "big") % folds

    scored, decisions = [], []
    for fold in range(folds):
        train = [replace(e, split="train") for e in examples if fold_of(e.thread_id) != fold]
        test = [e for e in examples if fold_of(e.thread_id) == fold]
        model = train_model(train, data_hash, config.taxonomy, trained_at=datetime.now(timezone.utc))
        decisions += triage_inputs([TriageInput.from_text(e.subject, e.body) for e in test], model, config)
        scored += test
        print(f"fold {fold + 1}/{folds} done", flush=True)
    result = replies_json(score_replies(scored, decisions))
    print(f"cross-validated ({folds} folds by thread, {len(scored)} examples): {result}")
    for language in config.taxonomy.working_languages:
        rows = [i for i, e in enumerate(scored) if e.language == language]
        part = replies_json(score_replies([scored[i] for i in rows], [decisions[i] for i in rows]))
        print(f"  {language}: " + ", ".join(f"{k} {part[k]}" for k in (
            "intent_exact_set", "intent_top1", "hold_precision", "hold_recall", "section_accuracy", "references")))


def main() -> None:
    from classifiers.config import load_triage_config
    from classifiers.corpus import corpus_files, of_split, read_corpus
    from classifiers.evaluation import evaluate, format_report
    from classifiers.training import train_intents, train_model
    from pipeline.config import TriageSettings

    parser = argparse.ArgumentParser()
    parser.add_argument("--folds", type=int, default=0)
    folds = parser.parse_args().folds

    config = load_triage_config(TriageSettings())
    examples, data_hash = read_corpus(corpus_files(ROOT / "data" / "corpus"))
    train = of_split(examples, "train")
    started = time.perf_counter()
    train_intents(train, config.taxonomy)
    intents_seconds = time.perf_counter() - started
    started = time.perf_counter()
    model = train_model(examples, data_hash, config.taxonomy, trained_at=datetime.now(timezone.utc))
    total_seconds = time.perf_counter() - started
    print(f"training: intents + hold-back {intents_seconds:.1f} s, whole model {total_seconds:.1f} s "
          f"({len(train)} training examples, load average {os.getloadavg()[0]:.1f})")
    report = evaluate(of_split(examples, "test"), model, config)
    for line in format_report(report).splitlines():
        if line.startswith(("replies", "  held back")):
            print(line)
    if folds > 1:
        cross_validate(examples, data_hash, config, folds)


if __name__ == "__main__":
    main()
