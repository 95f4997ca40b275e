"""The sample of held-out drafts a desk member reads, and the file of their grades."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from classifiers.corpus import Example
from tests.support.heldout_review import (
    GRADES, GRADES_FILE, SAMPLE_SIZE, figures, grade_counts, held_out_examples, load_grades, message_for, review_sample, stratum,
)
from pipeline.mail.parse import parse_message


@pytest.fixture(scope="module")
def held_out() -> list[Example]:
    return held_out_examples()


def test_the_sample_is_fixed_and_keeps_the_split_proportions(held_out: list[Example]) -> None:
    sample = review_sample(held_out)
    assert [e.id for e in sample] == [e.id for e in review_sample(list(reversed(held_out)))]
    assert len({e.id for e in sample}) == SAMPLE_SIZE
    assert all(e.split == "test" for e in sample)
    cells, chosen = Counter(map(stratum, held_out)), Counter(map(stratum, sample))
    for cell, count in cells.items():
        assert abs(chosen[cell] - count * SAMPLE_SIZE / len(held_out)) < 1, cell


def test_a_small_sample_gives_every_cell_its_share() -> None:
    examples = [Example(id=f"e{i}", language=lang, topic="fees", subject="", body="x", standard=std, split="test")
                for i, (lang, std) in enumerate([("en", True)] * 6 + [("fr", False)] * 3 + [("de", False)])]
    sample = review_sample(examples, 5)
    assert Counter(map(stratum, sample)) == {("en", True): 3, ("fr", False): 2}


def test_the_mail_of_an_example_reads_like_the_sender_wrote_it(held_out: list[Example]) -> None:
    example = next(e for e in held_out if e.language == "fr")
    parsed = parse_message(message_for(example))
    assert parsed.message_id == f"heldout.{example.id}@mail.example.net"
    assert parsed.sender is not None and parsed.sender.address.endswith((".fr", ".ch"))
    assert parsed.subject == example.subject.strip()


READINGS = sorted(GRADES_FILE.parent.glob("draft_review_heldout*.toml"))


def test_there_is_a_reading() -> None:
    assert GRADES_FILE in READINGS


@pytest.mark.parametrize("path", READINGS, ids=lambda p: p.stem)
def test_every_graded_draft_is_a_held_out_example_and_says_why(path: Path, held_out: list[Example]) -> None:
    # The sample is drawn by the labels' cells: a reading stays valid when labels are corrected later.
    grades = load_grades(path)
    assert {g["id"] for g in grades} <= {e.id for e in held_out}, "a graded example is not in the held-out split"
    assert len({g["id"] for g in grades}) == len(grades)
    for item in grades:
        for field, why in (("grade", "why"), ("blind_grade", "blind_why")):
            assert item[field] in GRADES, item["id"]
            assert (item[field] == "send") != bool(item[why].strip()), f"{item['id']}: a non-send grade needs its why"
    assert sum(grade_counts(grades)["all"].values()) == SAMPLE_SIZE


def test_readings_are_of_different_examples() -> None:
    seen: set[str] = set()
    for path in READINGS:
        ids = {g["id"] for g in load_grades(path)}
        assert not ids & seen, f"{path.name} re-reads examples of an earlier reading: it would not be blind"
        seen |= ids


def test_figures_count_held_back_cases_and_their_sections() -> None:
    from tests.support.heldout_review import ReviewRecord

    def record(standard: bool, queue: str, decided: bool, decided_queue: str) -> ReviewRecord:
        return ReviewRecord("x", "en", "", "", {"standard": standard, "queue": queue},
                            {"standard": decided, "queue": decided_queue}, None, "held", ())

    result = figures([record(False, "legal", False, "legal"), record(False, "it", False, "operations"),
                      record(False, "finance", True, "customer_service"), record(True, "customer_service", False, "it")])
    assert result["non_standard_recall"] == round(2 / 3, 3)
    assert result["right_section"] == 0.5
    assert result["non_standard_precision"] == round(2 / 3, 3)
