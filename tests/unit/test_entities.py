"""Reference numbers, amounts and dates: every kind of the taxonomy, normalised, with positions."""

from __future__ import annotations

import pytest

from classifiers.entities import ENTITY_KINDS, extract_entities

FOUND = [
    # registrations
    ("Renewal of DM/212 345", [("registration", "DM/212345")]),
    ("see DM/212345.", [("registration", "DM/212345")]),
    ("el registro DM/089 001 y el dm/219 300", [("registration", "DM/089001"), ("registration", "DM/219300")]),
    ("registration DM 212\u00a0345 lapsed", [("registration", "DM/212345")]),
    # applications and office references
    ("application A1234567 is pending", [("application", "A1234567")]),
    ("demande HA12345678 : irrégularité", [("application", "HA12345678")]),
    ("our file HA 12345678", [("application", "HA12345678")]),
    ("¿novedades de la solicitud A2899 990? la presentamos en mayo", [("application", "A2899990")]),
    ("A2899 9901 is not a number of ours", []),
    # the sender's own reference
    ("our ref. 2024-ACME-17", [("reference", "2024-ACME-17")]),
    ("Nuestra ref. MX-2024-311.", [("reference", "MX-2024-311")]),
    ("N/Réf. : AB12/34 - merci", [("reference", "AB12/34")]),
    ("Your reference: ZK-559 please", [("reference", "ZK-559")]),
    # patents
    ("annuity for EP 3 456 789", [("patent", "EP3456789")]),
    ("EP3456789 and US 10,123,456 B2", [("patent", "EP3456789"), ("patent", "US10123456B2")]),
    ("published as WO 2021/123456", [("patent", "WO2021123456")]),
    ("EP 3 456 789 B1 granted", [("patent", "EP3456789B1")]),
    # amounts
    ("we paid CHF 1,234.50 yesterday", [("amount", "CHF 1234.50")]),
    ("montant de 1 234,50 CHF", [("amount", "CHF 1234.50")]),
    ("EUR 300", [("amount", "EUR 300")]),
    ("une taxe de 300 € et 1.234,50 EUR", [("amount", "EUR 300"), ("amount", "EUR 1234.50")]),
    ("pagamos 150 francos suizos", [("amount", "CHF 150")]),
    ("a fee of $1,200", [("amount", "USD 1200")]),
    ("CHF 300.- for the renewal", [("amount", "CHF 300")]),
    # dates
    ("expires on 15 March 2025", [("date", "2025-03-15")]),
    ("on 15/03/2025", [("date", "2025-03-15")]),
    ("deadline 2025-03-15", [("date", "2025-03-15")]),
    ("avant le 15 mars 2025", [("date", "2025-03-15")]),
    ("antes del 15 de marzo de 2025", [("date", "2025-03-15")]),
    ("le 1er avril 2026", [("date", "2026-04-01")]),
    ("by March 15, 2025", [("date", "2025-03-15")]),
    ("US style 03/15/2025", [("date", "2025-03-15")]),
    ("am 15.03.2025", [("date", "2025-03-15")]),
    # several kinds at once, in order of position
    (
        "Ref: DM/212 345 - we paid 150 CHF on 4 August 2025",
        [("registration", "DM/212345"), ("amount", "CHF 150"), ("date", "2025-08-04")],
    ),
]

NOTHING = [
    "",
    "Call me on +41 22 338 91 11 tomorrow.",
    "We have 3 designs and 12 views.",
    "In 2025 we filed 40 applications.",
    "DM/12 is not a number",
    "the 31/02/2025 does not exist",
    "With reference to your letter, thanks.",
    "Version 2.5 of the portal",
]


@pytest.mark.parametrize(("text", "expected"), FOUND)
def test_finds_each_kind_normalised(text: str, expected: list[tuple[str, str]]) -> None:
    found = extract_entities(text)
    assert [(e.kind, e.value) for e in found] == expected


@pytest.mark.parametrize(("text", "expected"), FOUND)
def test_positions_point_at_the_text(text: str, expected: list[tuple[str, str]]) -> None:
    for entity in extract_entities(text):
        written = text[entity.start : entity.end]
        assert written.strip() == written and written
        assert entity.kind in ENTITY_KINDS


@pytest.mark.parametrize("text", NOTHING)
def test_finds_nothing_in_ordinary_numbers(text: str) -> None:
    assert extract_entities(text) == ()


def test_every_taxonomy_kind_is_covered() -> None:
    kinds = {kind for _, expected in FOUND for kind, _ in expected}
    assert kinds == set(ENTITY_KINDS)


def test_huge_text_is_cut_not_refused() -> None:
    text = ("DM/212 345 " + "x" * 1000 + " ") * 5000
    found = extract_entities(text, max_chars=50_000)
    assert found and all(e.end <= 50_000 for e in found)
