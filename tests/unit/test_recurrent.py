"""Recurrent issues (pure): similar inquiries of a topic grouped, with telling words, examples and growth."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from pipeline.recurrent import Doc, find_groups

NOW = datetime(2026, 12, 5, tzinfo=timezone.utc)
REFUND = "We paid the renewal invoice twice by mistake; please refund the double payment to our account."
LOGIN = "The eservices portal rejects our password at login; the account seems locked since yesterday."


def test_groups_split_by_meaning_with_their_words_examples_and_growth() -> None:
    docs = [Doc(n, "fees", NOW - timedelta(days=1 + n % 5), f"{REFUND} Case {n}.") for n in range(12)]
    docs += [Doc(100 + n, "fees", NOW - timedelta(days=8 + n % 5), f"{LOGIN} Ticket {n}.") for n in range(12)]
    docs += [Doc(200 + n, "renewal", NOW, "Only two here") for n in range(2)]  # too few to group
    groups = find_groups(docs, NOW, max_groups=2)
    assert {g.topic for g in groups} == {"fees"}
    by_word = {("refund" in g.words): g for g in groups}
    refund, login = by_word[True], by_word[False]
    assert refund.size == 12 and all(i < 100 for i in refund.examples) and len(refund.examples) == 3
    assert set(login.words) <= set(LOGIN.lower().replace(";", " ").replace(".", " ").split()) | {"ticket"}
    assert set(refund.words) <= set(REFUND.lower().replace(";", " ").replace(".", " ").split()) | {"case"}
    assert refund.growing and (refund.recent, refund.earlier) == (12, 0)
    assert not login.growing and login.recent == 0


def test_nothing_to_group_gives_no_group() -> None:
    assert find_groups([], NOW) == []
    assert find_groups([Doc(n, "fees", NOW, "1 2 3") for n in range(10)], NOW) == []
