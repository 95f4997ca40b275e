"""Language detection: short notes in the working languages, other languages by their code, und for no text."""

from __future__ import annotations

import random

import pytest

from classifiers.inputs import TriageInput, language_text, looks_like_signature
from classifiers.language import (
    UND,
    clean_for_language,
    detect_languages,
    langdetect_probabilities,
    looks_like_garbage,
    script_shares,
)

WORKING = ("en", "fr", "es")

SHORT_NOTES = [
    ("Any news on my renewal?", "en"),
    ("Please call me back.", "en"),
    ("PLEASE CALL ME BACK ASAP", "en"),
    ("Thanks, received.", "en"),
    ("Where is my certificate?", "en"),
    ("Merci, bien reçu.", "fr"),
    ("Des nouvelles de notre demande ?", "fr"),
    ("MERCI DE ME RAPPELER RAPIDEMENT", "fr"),
    ("Le portail ne marche pas", "fr"),
    ("Où en est le renouvellement ?", "fr"),
    ("¿Alguna novedad sobre la renovación?", "es"),
    ("Gracias, recibido.", "es"),
    ("NO PUEDO ENTRAR AL PORTAL", "es"),
    ("¿Ya está inscrito el cambio?", "es"),
    ("Necesito la factura urgente", "es"),
]

OTHER_LANGUAGES = [
    ("Sehr geehrte Damen und Herren, wir möchten unsere Eintragung verlängern. Wie hoch ist die Gebühr?", "de"),
    ("Buongiorno, vorremmo rinnovare la registrazione internazionale. Qual è la tassa di rinnovo?", "it"),
    ("Bom dia, gostaríamos de renovar o registo internacional. Qual é o valor da taxa e até quando podemos pagar?", "pt"),
    ("Geachte heer, wij willen de internationale inschrijving verlengen. Wat zijn de kosten?", "nl"),
    ("国際登録の更新手数料について教えてください。よろしくお願いします。", "ja"),
    ("我们想续展国际注册，请问续展费用是多少？谢谢。", "zh-cn"),
    ("Здравствуйте, мы хотим продлить международную регистрацию. Сколько стоит продление?", "ru"),
]

UNDETERMINED = [
    "",
    "   \n\n  ",
    "DM/212 345",
    "+41 22 338 91 11",
    "ok",
    "https://example.org/file.pdf",
    "Привет 你好 مرحبا hello שלום",
]


@pytest.fixture(scope="module")
def detect(triage_model, triage_config):  # type: ignore[no-untyped-def]
    taxonomy = triage_config.taxonomy

    def run(texts: list[str]) -> list:
        return detect_languages(texts, triage_model.language, working=taxonomy.working_languages,
                                min_letters=taxonomy.min_letters, working_prior=taxonomy.working_prior)

    return run


@pytest.mark.parametrize(("text", "expected"), SHORT_NOTES)
def test_short_notes_in_working_languages(detect, text: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    assert detect([text])[0].code == expected


@pytest.mark.parametrize(("text", "expected"), OTHER_LANGUAGES)
def test_other_languages_keep_their_own_code(detect, text: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    assert detect([text])[0].code == expected


@pytest.mark.parametrize("text", UNDETERMINED)
def test_too_little_text_is_und_with_no_confidence(detect, text: str) -> None:  # type: ignore[no-untyped-def]
    found = detect([text])[0]
    assert (found.code, found.confidence) == (UND, 0.0)


def test_binary_garbage_is_und(detect) -> None:  # type: ignore[no-untyped-def]
    junk = random.Random(5).randbytes(4000)
    for text in (junk.decode("latin-1"), junk.decode("utf-8", "replace")):
        assert looks_like_garbage(text)
        assert detect([text])[0].code == UND


def test_detection_is_deterministic(detect) -> None:  # type: ignore[no-untyped-def]
    texts = ["Hola buenas", "ciao grazie mille a tutti", "Thanks a lot for the quick answer"]
    assert detect(texts) == detect(list(reversed(texts)))[::-1]
    probabilities = [langdetect_probabilities("una prueba corta de texto") for _ in range(3)]
    assert probabilities[0] == probabilities[1] == probabilities[2]


def test_batch_and_single_give_the_same_answer(detect) -> None:  # type: ignore[no-untyped-def]
    texts = [text for text, _ in SHORT_NOTES + OTHER_LANGUAGES]
    assert detect(texts) == [detect([t])[0] for t in texts]


def test_reply_above_a_quote_in_another_language_uses_the_new_text() -> None:
    body = ("Merci beaucoup, mais quel est le délai exact pour répondre ?\n\n"
            "On Mon, 3 Nov 2025 at 10:02, Help Desk <hd@example.org> wrote:\n"
            "> Dear Sir, thank you for your message about the refusal of your design.\n"
            "> The deadline is set by the designated office.\n")
    item = TriageInput.from_text("Re: Refusal DM/212 345", body)
    assert "Dear Sir" not in language_text(item)
    assert "délai" in language_text(item)


def test_short_new_text_borrows_the_subject() -> None:
    item = TriageInput.from_text("Renouvellement du DM/212 345", "Merci !")
    assert language_text(item).startswith("Renouvellement")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("John Smith\nSmith & Partners LLP\nLondon EC1A 1BB\n+44 20 7946 0000", True),
        ("Dr. Anna Schmidt\nSchmidt IP\nMünchen", True),
        ("Please renew DM/212 345.\nThanks", False),
        ("PLEASE CALL ME\nURGENT MATTER", False),
        ("Can you help?\nJohn", False),
        ("One line only", False),
    ],
)
def test_signature_blocks_are_recognised(text: str, expected: bool) -> None:
    assert looks_like_signature(text) is expected


def test_signature_only_mail_is_und(detect) -> None:  # type: ignore[no-untyped-def]
    item = TriageInput.from_text("", "Maria Lopez\nLopez & Asociados\nCalle Mayor 5, Madrid\nTel. +34 91 123 45 67")
    assert detect([language_text(item)])[0].code == UND


def test_cleaning_drops_numbers_addresses_and_case() -> None:
    cleaned = clean_for_language("See DM/212 345 at https://x.example/a and mail me@x.example NOW")
    assert cleaned == "see at and mail now"


def test_script_shares_group_japanese_scripts() -> None:
    assert script_shares("ひらがなカタカナ漢字") == {"CJK": 1.0}
    assert script_shares("plain") == {"LATIN": 1.0}
