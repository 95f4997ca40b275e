"""Benchmark: training time and peak memory at 5k, 20k and 50k labelled messages, and how time grows with size.

    .venv/bin/python bench/train.py [--sizes 5000,20000,50000] [--path full,outofcore] [--cores 2]

Synthetic messages are made from the corpus's training examples (each one's
words reshuffled within sentences, numbers and references changed, so no two
are the same); every size and path runs in a fresh child process, so the
peak resident memory (``ru_maxrss``) is that run's alone. ``full`` is
``triage train``'s model (language, topics, flags, intents, hold-back);
``outofcore`` the hashing-features ``partial_fit`` topic learner, in batches of
2,000. Scored on the corpus's held-out split. Target: 50,000 messages in under
a minute on two cores. From 10,000 examples ``triage train`` uses its large-corpus
parameters (words only, one calibration hold-out), so growth is printed per set
of parameters; ``--sizes 10000,20000,50000`` shows how the large-corpus path grows.
"""

from __future__ import annotations

import os
import sys

if "--child" in sys.argv:
    cores = os.environ.get("BENCH_CORES", "2")
    for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_name] = cores

import argparse
import json
import math
import random
import re
import resource
import subprocess
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def synthetic(examples: list, count: int, seed: int = 11) -> list:  # type: ignore[type-arg]
    """``count`` training examples varied from the corpus's own, each with its own thread."""
    rng = random.Random(seed)
    made = []
    for index in range(count):
        base = examples[index % len(examples)]
        sentences = re.split(r"(?<=[.!?])\s+", base.body)
        varied = []
        for sentence in sentences:
            words = sentence.split()
            if len(words) > 4 and rng.random() < 0.5:
                middle = words[1:-1]
                rng.shuffle(middle)
                words = [words[0], *middle, words[-1]]
            varied.append(" ".join(re.sub(r"\d", lambda _: str(rng.randint(0, 9)), w) for w in words))
        made.append(replace(base, id=f"s{index}", body=" ".join(varied), thread=f"s{index}", split="train"))
    return made


def child(size: int, path: str) -> dict:  # type: ignore[type-arg]
    from classifiers.config import load_triage_config
    from classifiers.corpus import corpus_files, of_split, read_corpus
    from classifiers.evaluation import evaluate
    from classifiers.inputs import TriageInput, topic_text
    from classifiers.outofcore import HashingTopicLearner
    from classifiers.training import train_model
    from pipeline.config import TriageSettings

    settings = TriageSettings()
    config = load_triage_config(settings)
    examples, data_hash = read_corpus(corpus_files(ROOT / "data" / "corpus"))
    test = of_split(examples, "test")
    data = synthetic(of_split(examples, "train"), size)
    started = time.perf_counter()
    extra: dict = {}  # type: ignore[type-arg]
    if path == "full":
        from classifiers.training import LARGE_CORPUS_PARAMETERS, parameters_for

        extra["profile"] = "large" if parameters_for(size) is LARGE_CORPUS_PARAMETERS else "default"
        model = train_model(data, data_hash, config.taxonomy, trained_at=datetime.now(timezone.utc))
        seconds = time.perf_counter() - started
        report = evaluate(test, model, config)
        macro_f1 = report.overall.macro_f1
        if report.replies is not None:
            extra.update(intent_top1=round(report.replies.intent_top1, 4), hold_recall=round(report.replies.hold_recall, 4),
                         hold_precision=round(report.replies.hold_precision, 4))
    else:
        learner = HashingTopicLearner(list(config.taxonomy.topics))
        for start in range(0, len(data), 2000):
            batch = data[start:start + 2000]
            learner.partial_fit([topic_text(TriageInput.from_text(e.subject, e.body)) for e in batch], [e.topic for e in batch])
        seconds = time.perf_counter() - started
        predicted = learner.predict([topic_text(TriageInput.from_text(e.subject, e.body)) for e in test])
        from sklearn.metrics import f1_score

        macro_f1 = float(f1_score([e.topic for e in test], predicted, average="macro"))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"size": size, "path": path, "seconds": round(seconds, 1), "peak_mb": round(peak), "macro_f1": round(macro_f1, 4),
            **extra}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5000,20000,50000")
    parser.add_argument("--path", default="full,outofcore")
    parser.add_argument("--cores", default="2")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(int(args.sizes), args.path)))
        return
    results = []
    for path in args.path.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            out = subprocess.run([sys.executable, __file__, "--child", "--sizes", str(size), "--path", path],
                                 capture_output=True, text=True, env=os.environ | {"BENCH_CORES": args.cores})
            if out.returncode:
                print(f"{path} at {size}: failed\n{out.stderr[-2000:]}")
                continue
            result = json.loads(out.stdout.splitlines()[-1])
            results.append(result)
            profile = f" ({result['profile']} parameters)" if "profile" in result else ""
            print(f"{path:10} {size:>7} messages{profile}: {result['seconds']:>7.1f}s  peak {result['peak_mb']:>6} MB  "
                  f"held-out macro-F1 {result['macro_f1']:.4f}"
                  + "".join(f"  {k} {result[k]:.4f}" for k in ("intent_top1", "hold_recall", "hold_precision") if k in result),
                  flush=True)
        for profile in dict.fromkeys(r.get("profile") for r in results if r["path"] == path):
            timed = [r for r in results if r["path"] == path and r.get("profile") == profile]
            if len(timed) >= 2:  # growth within one set of parameters (the large-corpus ones learn less per text)
                first, last = timed[0], timed[-1]
                exponent = math.log(last["seconds"] / max(first["seconds"], 0.01)) / math.log(last["size"] / first["size"])
                print(f"{path}: time grows as size^{exponent:.2f} from {first['size']} to {last['size']}"
                      + (f" ({profile} parameters)" if profile else ""))


if __name__ == "__main__":
    main()
