"""Benchmark: language detection on short and full texts, to choose a detector by measurement.

    .venv/bin/python bench/language.py

On the corpus's held-out split: 3-8 word runs of each message's own words (the
short notes a help desk gets) and the whole new text. Compares plain langdetect
(fixed seed), langdetect with the working languages as a prior, lingua
(when installed: ``pip install lingua-language-detector``) restricted to the
working languages and unrestricted, the character n-gram model alone, and what
triage uses (n-gram model, langdetect when unsure or the words are unknown).
Accuracy counts the exact code; one core.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from classifiers.config import load_triage_config, resolve  # noqa: E402
from classifiers.corpus import corpus_files, of_split, read_corpus  # noqa: E402
from classifiers.inputs import TriageInput, language_text  # noqa: E402
from classifiers.language import UND, clean_for_language, detect_languages, langdetect_probabilities  # noqa: E402
from classifiers.registry import load_or_train  # noqa: E402
from classifiers.training import short_snippets  # noqa: E402
from pipeline.config import load_settings  # noqa: E402


def measure(name: str, detect: Callable[[list[str]], list[str]], data: Sequence[tuple[str, str]]) -> None:
    texts = [text for text, _ in data]
    started = time.perf_counter()
    found = detect(texts)
    seconds = time.perf_counter() - started
    right = sum(f == expected for f, (_, expected) in zip(found, data)) / len(data)
    print(f"  {name:<44} accuracy {right:.4f}   {len(data) / seconds:>9,.0f} texts/s")


def main() -> None:
    os.chdir(ROOT)
    settings = load_settings().settings.triage
    config = load_triage_config(settings)
    model = load_or_train(settings, config)
    taxonomy = config.taxonomy
    working = taxonomy.working_languages
    examples, _ = read_corpus(corpus_files(resolve(settings.corpus)))
    held_out = of_split(examples, "test")
    rng = random.Random(11)
    full = [(language_text(TriageInput.from_text(e.subject, e.body)), e.language) for e in held_out]
    short = [(s, language) for text, language in full for s in short_snippets(text, rng, 3)
             if len(s.split()) >= 3]
    prior = {code: taxonomy.working_prior for code in working}

    def langdetect_plain(texts: list[str]) -> list[str]:
        out = []
        for text in texts:
            found = langdetect_probabilities(text)
            out.append(max(found, key=lambda c: found[c]) if found else UND)
        return out

    def langdetect_prior(texts: list[str]) -> list[str]:
        out = []
        for text in texts:
            found = langdetect_probabilities(clean_for_language(text), prior)
            out.append(max(found, key=lambda c: found[c]) if found else UND)
        return out

    def ngram_only(texts: list[str]) -> list[str]:
        return [str(c) for c in model.language.predict([clean_for_language(t) for t in texts])]

    def triage(texts: list[str]) -> list[str]:
        return [r.code for r in detect_languages(texts, model.language, working=working, min_letters=1,
                                                 working_prior=taxonomy.working_prior)]

    detectors: list[tuple[str, Callable[[list[str]], list[str]]]] = [
        ("langdetect (seed 0)", langdetect_plain),
        ("langdetect, working-language prior", langdetect_prior),
        ("character n-gram model alone", ngram_only),
        ("triage (n-gram model + langdetect when unsure)", triage),
    ]
    try:
        from lingua import IsoCode639_1, LanguageDetectorBuilder

        codes = [getattr(IsoCode639_1, code.upper()) for code in working]
        restricted = LanguageDetectorBuilder.from_iso_codes_639_1(*codes).build()
        everything = LanguageDetectorBuilder.from_all_languages().with_preloaded_language_models().build()

        def lingua(detector: object) -> Callable[[list[str]], list[str]]:
            def run(texts: list[str]) -> list[str]:
                found = [detector.detect_language_of(t) for t in texts]  # type: ignore[attr-defined]
                return [f.iso_code_639_1.name.lower() if f else UND for f in found]
            return run

        detectors.insert(2, ("lingua, working languages only", lingua(restricted)))
        detectors.insert(3, ("lingua, all languages", lingua(everything)))
    except ImportError:
        print("(lingua-language-detector is not installed: pip install lingua-language-detector to compare)")

    for title, data in ((f"3-8 word snippets of held-out messages ({len(short)})", short),
                        (f"whole new text of held-out messages ({len(full)})", full)):
        print(title)
        for name, detect in detectors:
            measure(name, detect, data)


if __name__ == "__main__":
    main()
