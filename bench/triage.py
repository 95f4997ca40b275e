"""Benchmark: triage throughput per stage and end to end, against langdetect alone, on one core.

    .venv/bin/python bench/triage.py [--messages 6000]

Builds the messages from the labelled corpus (every shape a help desk sees:
plain, HTML only, replies above a quote in another language, forwards, short
notes, empty, attachment-only and garbage mail), then times parse, language,
topic, entities and routing, the whole pipeline (parse + triage, in batches as
ingest runs it), and plain langdetect (fixed seed) on each message's whole body
as the reference. Prints messages/s, peak RSS, the ratio end-to-end /
langdetect-alone (target >= 1.0) and the language accuracy of both.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # one core, as measured in the issue

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BATCH = 200


def peak_rss_mb() -> float:
    """The process's peak resident set size so far, in MB (VmHWM on Linux: ru_maxrss survives exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(label: str, count: int, func, results: dict) -> object:
    started = time.perf_counter()
    value = func()
    seconds = time.perf_counter() - started
    results[label] = {"messages": count, "seconds": round(seconds, 3), "per_second": round(count / seconds, 1)}
    print(f"{label:<26} {count / seconds:>10,.0f} msg/s   ({seconds:.2f} s, peak RSS {peak_rss_mb():.0f} MB)", flush=True)
    return value


def batches(items: list, size: int = BATCH):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def parse_all(raws: list[bytes]) -> list:
    from pipeline.errors import ParseError
    from pipeline.mail.parse import parse_message

    parsed = []
    for raw in raws:
        try:
            parsed.append(parse_message(raw))
        except ParseError:
            parsed.append(None)
    return parsed


def langdetect_reference(texts_file: str) -> None:
    """Run in a separate process that imports langdetect only: its rate, peak RSS and answers, as JSON."""
    from langdetect import PROFILES_DIRECTORY, DetectorFactory
    from langdetect.lang_detect_exception import LangDetectException

    texts = json.loads(Path(texts_file).read_text(encoding="utf-8"))
    factory = DetectorFactory()
    factory.load_profile(PROFILES_DIRECTORY)
    factory.seed = 0

    def detect(text: str) -> str:
        detector = factory.create()
        detector.append(text)
        try:
            return str(detector.detect())
        except LangDetectException:
            return "und"

    started = time.perf_counter()
    codes = [detect(t) for t in texts]
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "per_second": len(texts) / seconds, "peak_rss_mb": peak_rss_mb(), "codes": codes}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=6000)
    parser.add_argument("--langdetect-only", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.langdetect_only:
        langdetect_reference(args.langdetect_only)
        return

    from corpus_mail import build_messages

    from classifiers.config import load_triage_config, resolve
    from classifiers.corpus import corpus_files, read_corpus
    from classifiers.inputs import TriageInput
    from classifiers.registry import load_or_train
    from classifiers.triage import classify_item_topics, decide, detect_item_languages, find_entities, triage_inputs
    from pipeline.config import load_settings

    os.chdir(ROOT)
    settings = load_settings().settings.triage
    config = load_triage_config(settings)
    model = load_or_train(settings, config)
    examples, _ = read_corpus(corpus_files(resolve(settings.corpus)))
    messages = build_messages(examples, args.messages)
    raws = [raw for raw, _ in messages]
    expected = [language for _, language in messages]
    print(f"{len(raws)} messages ({sum(map(len, raws)) / 1e6:.1f} MB), model {model.version}, one core")
    results: dict = {}

    parsed = timed("parse", len(raws), lambda: parse_all(raws), results)
    items = [TriageInput.from_parsed(p) if p is not None else TriageInput("", "") for p in parsed]

    found_languages = timed("language", len(items),
                            lambda: [r for c in batches(items) for r in detect_item_languages(c, model, config)], results)
    topics = timed("topic (+ learned signals)", len(items),
                   lambda: [r for c in batches(items) for r in classify_item_topics(c, model)], results)
    entities = timed("entities", len(items), lambda: [find_entities(i) for i in items], results)
    timed("signals + routing", len(items), lambda: [
        decide(item, language, topic, learned, found, config, model.version)
        for item, language, (topic, learned), found in zip(items, found_languages, topics, entities)
    ], results)

    def end_to_end():
        decisions = []
        for chunk in batches(raws):
            decisions += triage_inputs([TriageInput.from_parsed(p) if p else TriageInput("", "")
                                        for p in parse_all(chunk)], model, config)
        return decisions

    decisions = timed("end to end (parse+triage)", len(raws), end_to_end, results)
    pipeline_peak = peak_rss_mb()

    texts_file = ROOT / "var" / "bench-langdetect-texts.json"
    texts_file.parent.mkdir(parents=True, exist_ok=True)
    texts_file.write_text(json.dumps([p.text if p is not None else "" for p in parsed]), encoding="utf-8")
    reference = json.loads(subprocess.run(
        [sys.executable, __file__, "--langdetect-only", str(texts_file)], check=True, capture_output=True, text=True,
    ).stdout)
    texts_file.unlink()
    print(f"{'langdetect alone (ref.)':<26} {reference['per_second']:>10,.0f} msg/s   "
          f"({reference['seconds']:.2f} s, peak RSS {reference['peak_rss_mb']:.0f} MB, separate process)")

    ours = sum(d.language == e for d, e in zip(decisions, expected)) / len(expected)
    theirs = sum(c == e for c, e in zip(reference["codes"], expected)) / len(expected)
    ratio = results["end to end (parse+triage)"]["per_second"] / reference["per_second"]
    print(f"peak RSS of the pipeline process: {pipeline_peak:.0f} MB")
    print(f"language accuracy on these messages: triage {ours:.4f}, langdetect alone on the whole body {theirs:.4f}")
    print(f"ratio end-to-end / langdetect-alone: {ratio:.2f} (target >= 1.0)")
    share = sum(1 for r in found_languages if r.method in ("langdetect", "ngram+langdetect")) / len(found_languages)
    print(f"messages that needed langdetect inside triage: {share:.1%}")


if __name__ == "__main__":
    main()
