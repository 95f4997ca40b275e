"""Staff corrections as training data: the correction wins, threads stay in one split, bad labels are counted."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

import pytest

from classifiers.corpus import Example, thread_split, threads_in_both_splits
from classifiers.corrections import Correction, correction_example, merge_corrections
from classifiers.training import DEFAULT_PARAMETERS, train_model


def _correction(inquiry_id: int, thread: str = "", **labels: object) -> Correction:
    return Correction(inquiry_id=inquiry_id, thread=thread or str(inquiry_id), subject="Renewal",
                      body="Please renew our design registration DM/212 345 before it expires.",
                      language="en", topic="renewal", labels=dict(labels))


def test_the_labelled_value_wins_over_the_decision(triage_config) -> None:  # type: ignore[no-untyped-def]
    example = correction_example(_correction(7, topic="fees", language="FR"), triage_config.taxonomy)
    assert (example.id, example.topic, example.language) == ("inquiry:7", "fees", "fr")
    untouched = correction_example(_correction(8, intents=["renewal_deadline"]), triage_config.taxonomy)
    assert (untouched.topic, untouched.language, untouched.intents) == ("renewal", "en", ("renewal_deadline",))
    assert untouched.standard and untouched.queue is None


def test_a_reassignment_teaches_the_hold_back_and_its_section(triage_config) -> None:  # type: ignore[no-untyped-def]
    taxonomy = triage_config.taxonomy
    other = next(s for s in {taxonomy.section_of(t) for t in taxonomy.topics} if s != taxonomy.section_of("renewal"))
    moved = correction_example(_correction(9, queue=other), taxonomy)
    assert not moved.standard and moved.queue == other and moved.hold_reason
    same = correction_example(_correction(10, queue=taxonomy.section_of("renewal")), taxonomy)
    assert same.standard


def test_corrections_of_one_thread_share_a_split_and_never_cross_the_corpus(triage_config) -> None:  # type: ignore[no-untyped-def]
    corpus = [Example(id=f"c{i}", language="en", topic="renewal", subject="", body="renew it", split="train")
              for i in range(6)]
    corrections = [_correction(i, thread=str(i // 3)) for i in range(60)]
    merged = merge_corrections(corpus, "h", corrections, triage_config.taxonomy, min_per_topic=1)
    made = [e for e in merged.examples if e.id.startswith("inquiry:")]
    assert len(made) == 60 and threads_in_both_splits(merged.examples) == []
    by_thread: dict[str, set[str]] = {}
    for example in made:
        by_thread.setdefault(example.thread_id, set()).add(example.split)
        assert example.split == thread_split(example.thread_id)
    assert all(len(s) == 1 for s in by_thread.values())
    assert {s for splits in by_thread.values() for s in splits} == {"train", "test"}


def test_topics_no_longer_known_are_skipped_and_counted(triage_config) -> None:  # type: ignore[no-untyped-def]
    corpus = [Example(id=f"c{i}", language="en", topic="renewal", subject="", body="renew", split="train") for i in range(6)]
    merged = merge_corrections(corpus, "h", [_correction(1, topic="retired_topic"), _correction(2, topic="gone"),
                                             _correction(3)], triage_config.taxonomy, min_per_topic=1)
    assert merged.unknown_topic == 2 and merged.used == 1
    assert "2 correction(s) name topics the taxonomy no longer has" in merged.notes()[0]
    assert {e.topic for e in merged.examples} == {"renewal"}


def test_a_topic_with_one_example_is_left_out_with_a_message_not_a_crash(triage_config) -> None:  # type: ignore[no-untyped-def]
    corpus = [Example(id=f"c{i}", language="en", topic="renewal", subject="", body="renew", split="train") for i in range(6)]
    corrections = [_correction(i, topic="fees") for i in range(40) if thread_split(str(i)) == "train"][:1]
    merged = merge_corrections(corpus, "h", corrections, triage_config.taxonomy, min_per_topic=5)
    assert merged.too_few == {"fees": 1} and merged.used == 0
    assert "too few examples" in merged.notes()[0] and "fees (1)" in merged.notes()[0]


def test_the_data_hash_names_the_corrections(triage_config) -> None:  # type: ignore[no-untyped-def]
    taxonomy = triage_config.taxonomy
    plain = merge_corrections([], "h", [], taxonomy)
    one = merge_corrections([], "h", [_correction(1, topic="fees")], taxonomy, min_per_topic=0)
    other = merge_corrections([], "h", [_correction(1, topic="renewal")], taxonomy, min_per_topic=0)
    assert plain.data_hash == "h" and len({plain.data_hash, one.data_hash, other.data_hash}) == 3


def test_training_with_corrections_uses_them_and_a_lone_class_does_not_crash(triage_config) -> None:  # type: ignore[no-untyped-def]
    from classifiers.config import resolve
    from classifiers.corpus import corpus_files, read_corpus
    from pipeline.config import TriageSettings

    examples, data_hash = read_corpus(corpus_files(resolve(TriageSettings().corpus)))
    by_topic: Counter[tuple[str, str]] = Counter()
    small = []
    for example in examples:  # a small corpus: quick to train, every topic still learnable
        key = (example.topic, example.language)
        if example.split == "train" and by_topic[key] < 8 and example.language in ("en", "fr"):
            by_topic[key] += 1
            small.append(example)
    trained_topic = next(iter(by_topic))[0]
    removed = next(t for t in triage_config.taxonomy.topics if t != trained_topic)
    small = [e for e in small if e.topic != removed]
    ids = [i for i in range(200) if thread_split(f"inquiry-thread:{i}") == "train"]
    corrections = [_correction(i, thread=str(i), topic=trained_topic) for i in ids[:5]]
    corrections.append(_correction(ids[5], thread=str(ids[5]), topic=removed))  # a lone example of a topic
    corrections.append(_correction(ids[6], thread=str(ids[6]), topic="no_such_topic"))
    folds = int(DEFAULT_PARAMETERS["topics"]["calibration_folds"])
    merged = merge_corrections(small, data_hash, corrections, triage_config.taxonomy, min_per_topic=folds)
    assert merged.used == 5 and merged.too_few == {removed: 1} and merged.unknown_topic == 1
    model = train_model(merged.examples, merged.data_hash, triage_config.taxonomy,
                        trained_at=datetime(2026, 1, 1, tzinfo=timezone.utc), extra_labels=merged.extra_labels)
    assert model.info.examples == len(small) + 5 and removed not in model.info.topics


@pytest.mark.parametrize("value", [["a", "b"], "a, b", ("a", "b")])
def test_intent_labels_in_any_stored_shape(triage_config, value: object) -> None:  # type: ignore[no-untyped-def]
    assert correction_example(_correction(1, intents=value), triage_config.taxonomy).intents == ("a", "b")
