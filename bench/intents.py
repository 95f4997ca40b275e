"""Benchmark: training time of the intent and hold-back models, and their figures on the held-out split.

    .venv/bin/python bench/intents.py

Trains the whole model from data/corpus (language, topics, flags, intents,
hold-back), timing the intent and hold-back part on its own too, then triages
the held-out split (threads never shared with training) and prints intent
accuracy (exact set, in order, top-1), hold-back precision/recall, the right
section and references carried, overall and per language. Targets: held back
recognised >= 0.90, right section >= 0.85.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    from classifiers.config import load_triage_config
    from classifiers.corpus import corpus_files, of_split, read_corpus
    from classifiers.evaluation import evaluate, format_report
    from classifiers.training import train_intents, train_model
    from pipeline.config import TriageSettings

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


if __name__ == "__main__":
    main()
