"""Property-based: random and mutated bytes never make the parser fail in any way but ParseError."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.errors import ParseError
from pipeline.mail import ParsedMessage, parse_message
from pipeline.mail.quotes import split_reply
from pipeline.mail.text import decode_bytes, html_to_text

REAL_MAIL = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "real-mail"
SEEDS = [p.read_bytes() for p in sorted(REAL_MAIL.glob("*.eml")) if p.stat().st_size < 20_000][:60]


def _parse_or_refuse(raw: bytes) -> None:
    try:
        parsed = parse_message(raw)
    except ParseError as exc:
        assert str(exc)
        return
    assert isinstance(parsed, ParsedMessage)
    assert "\x00" not in parsed.text
    parsed.text.encode("utf-8")  # no stray surrogates
    parsed.subject.encode("utf-8")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_random_bytes(raw: bytes) -> None:
    _parse_or_refuse(raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_random_bytes_after_a_valid_header(raw: bytes) -> None:
    _parse_or_refuse(b"From: a@example.com\nSubject: x\n" + raw)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SEEDS),
    st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255), st.sampled_from(["flip", "cut", "insert", "dup"])),
             min_size=1, max_size=12),
)
def test_mutated_real_messages(seed: bytes, mutations: list[tuple[float, int, str]]) -> None:
    data = bytearray(seed)
    for where, byte, how in mutations:
        if not data:
            break
        at = int(where * (len(data) - 1))
        if how == "flip":
            data[at] = byte
        elif how == "cut":
            del data[at : at + byte]
        elif how == "insert":
            data[at:at] = bytes([byte]) * (byte % 7 + 1)
        else:
            data[at:at] = data[at : at + byte]
    _parse_or_refuse(bytes(data))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=3000))
def test_text_helpers_never_fail(text: str) -> None:
    parts = split_reply(text)
    assert isinstance(parts.new_text, str)
    assert isinstance(html_to_text(text), str)
    decoded, _, _ = decode_bytes(text.encode("utf-8", "surrogatepass"), "bogus")
    decoded.encode("utf-8")
