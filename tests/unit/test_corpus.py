"""The labelled corpus: readable by admins, large enough, with a fixed held-out split."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from classifiers.config import SOURCE_ROOT, load_triage_config
from classifiers.corpus import corpus_files, of_split, parse_examples, read_corpus
from pipeline.config import TriageSettings
from pipeline.errors import ClassifierError

CORPUS = SOURCE_ROOT / "data" / "corpus"


def test_every_topic_has_enough_examples_in_every_working_language() -> None:
    examples, _ = read_corpus(corpus_files(CORPUS))
    taxonomy = load_triage_config(TriageSettings()).taxonomy
    counts = Counter((e.language, e.topic) for e in examples)
    held_out = Counter((e.language, e.topic) for e in of_split(examples, "test"))
    for language in taxonomy.working_languages:
        for topic in taxonomy.topics:
            assert counts[(language, topic)] >= 60, (language, topic)
            assert held_out[(language, topic)] >= 10, (language, topic)
    assert {e.topic for e in examples} <= set(taxonomy.topics)


def test_ids_are_unique() -> None:
    examples, _ = read_corpus(corpus_files(CORPUS))
    ids = Counter(e.id for e in examples)
    assert [i for i, n in ids.items() if n > 1] == []


def test_jsonl_and_csv_read_alike() -> None:
    jsonl = '{"id": "a", "language": "en", "topic": "fees", "subject": "s", "body": "b", "also": ["renewal"], "split": "test"}\n'
    csv = 'id,language,topic,subject,body,also,split,complaint\na,en,fees,s,b,renewal,test,false\n'
    assert parse_examples(jsonl, "x.jsonl") == parse_examples(csv, "x.csv")


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"id": "a", "language": "en", "topic": "fees", "body": "b"}\n{oops\n', "x.jsonl:2"),
        ('{"id": "a", "language": "en", "body": "b"}\n', "x.jsonl:1"),
        ('{"id": "a", "language": "en", "topic": "fees", "body": "b", "split": "dev"}\n', "x.jsonl:1"),
    ],
)
def test_bad_lines_are_named(text: str, where: str) -> None:
    with pytest.raises(ClassifierError, match=where):
        parse_examples(text, "x.jsonl")


def test_data_hash_follows_the_content(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"language": "en", "topic": "fees", "body": "b"}\n', encoding="utf-8")
    first = read_corpus([path])[1]
    assert read_corpus([path])[1] == first
    path.write_text('{"language": "en", "topic": "fees", "body": "c"}\n', encoding="utf-8")
    assert read_corpus([path])[1] != first


def test_missing_corpus_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ClassifierError, match="triage.corpus"):
        corpus_files(tmp_path / "nowhere")
