"""The organisation of a sender, from the From address alone: registrable domain, free mail, bad input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.mail.organisation import (
    MAX_KEY_CHARS,
    Organisation,
    display_name,
    is_free_mail,
    normalise_key,
    organisation_key,
    organisation_of,
)


@pytest.mark.parametrize("sender, key", [
    ("anna@example.org", "example.org"),
    ("anna@mail.example.co.uk", "example.co.uk"),
    ("anna@a.b.mail.example.co.uk", "example.co.uk"),
    ("bo@sydney.office.example.com.au", "example.com.au"),
    ("ken@tokyo.example.co.jp", "example.co.jp"),
    ("ana@example.com.br", "example.com.br"),
    ("luis@mx.example.com.mx", "example.com.mx"),
    ("pilar@oepm.gob.es", "oepm.gob.es"),
    ("jean@dgfip.finances.gouv.fr", "finances.gouv.fr"),
    ("kim@law.example.ac.uk", "example.ac.uk"),
    ("luc@cabinet-martin.fr", "cabinet-martin.fr"),
    ("x@renewals.patent-firm.de", "patent-firm.de"),
    ("x@example.com.", "example.com"),  # a fully qualified name's final dot
    ("x@co.example", "co.example"),  # "co" is a suffix only under a country listed
])
def test_the_registrable_domain_drops_subdomains(sender: str, key: str) -> None:
    assert organisation_key(sender) == key


@pytest.mark.parametrize("sender", [
    "ANNA@MAIL.EXAMPLE.CO.UK", "Anna@Mail.Example.Co.Uk", "Anna Schmidt <anna@mail.example.co.uk>",
    '"Schmidt, Anna (a@b.example)" <Anna@Example.CO.UK>', "  anna@example.co.uk  ", "<anna@example.co.uk>",
])
def test_case_display_names_and_brackets_do_not_matter(sender: str) -> None:
    assert organisation_of(sender) == Organisation("example.co.uk", "example.co.uk")


@pytest.mark.parametrize("sender", [
    "jane@gmail.com", "jane@GoogleMail.com", "jane@hotmail.com", "jane@hotmail.co.uk", "jane@hotmail.fr",
    "jane@outlook.com", "jane@outlook.de", "jane@yahoo.com", "jane@mail.yahoo.co.uk", "jane@yahoo.co.jp",
    "jane@gmx.de", "jane@gmx.net", "jane@gmx.at", "jane@web.de", "jane@orange.fr", "jane@free.fr",
    "jane@icloud.com", "jane@proton.me", "jane@protonmail.com", "jane@aol.com", "jane@live.com",
    "jane@t-online.de", "jane@libero.it", "jane@yandex.ru", "jane@uol.com.br",
])
def test_free_mail_is_an_individual_not_an_organisation(sender: str) -> None:
    assert organisation_of(sender) is None


@pytest.mark.parametrize("sender", [
    None, "", "   ", "no address at all", "anna", "anna@", "@", "@example.com@", "anna@localhost",
    "anna@[192.0.2.1]", "anna@192.0.2.1", "anna@example..com", "anna@.example.com", "anna@-bad-.com",
    "anna@exa_mple.com", "anna@exa mple.com", "anna@co.uk", "anna@com.au", "anna@" + "a" * 64 + ".com",
    "anna@" + ".".join(["abc"] * 80) + ".com", "anna@xn--zz.com", "anna@example.123", "Anna <>",
    "anna@example.com'; DROP TABLE inquiries; --",
])
def test_malformed_or_missing_addresses_give_no_organisation(sender: str | None) -> None:
    assert organisation_of(sender) is None


def test_international_domains_have_one_ascii_key_and_a_unicode_name() -> None:
    for sender in ("x@bücher.de", "x@BÜCHER.DE", "x@mail.bücher.de", "x@xn--bcher-kva.de", "x@XN--BCHER-KVA.DE"):
        assert organisation_of(sender) == Organisation("xn--bcher-kva.de", "bücher.de"), sender
    assert organisation_key("x@例え.テスト") == "xn--r8jz45g.xn--zckzah"
    assert display_name("xn--r8jz45g.xn--zckzah") == "例え.テスト"
    assert organisation_key("x@beispiel。example。com") == "example.com"  # an ideographic full stop


def test_keys_from_an_address_bar_are_normalised_or_refused() -> None:
    assert normalise_key("example.co.uk") == "example.co.uk"
    assert normalise_key("Mail.Example.CO.UK") == "example.co.uk"
    assert normalise_key("bücher.de") == "xn--bcher-kva.de"
    for odd in ("", "co.uk", "gmail.com", "anna@example.org", "' OR 1=1 --", "example.org/../x", "%", "a" * 5000,
                "example.org\x00", "<script>", "example.org;", "..", "example"):
        assert normalise_key(odd) is None, odd


def test_free_mail_families_cover_every_suffix() -> None:
    assert is_free_mail("hotmail.es") and is_free_mail("yahoo.com.ar") and is_free_mail("gmx.ch")
    assert not is_free_mail("example.com") and not is_free_mail("gmailer.com")


@given(st.text(max_size=300))
def test_any_text_gives_a_valid_key_or_none(text: str) -> None:
    key = organisation_key(text)
    if key is not None:
        assert len(key) <= MAX_KEY_CHARS and key == key.lower() and key.isascii()
        assert normalise_key(key) == key  # a key names itself
        assert organisation_key(f"someone@{key}") == key
