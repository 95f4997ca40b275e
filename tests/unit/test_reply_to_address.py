"""A Reply-To is stored as a name and an address apart, and the reply goes to that address.

A display name may itself look like an address (``"x <other@evil.example>" <real@customer.example>``):
text made from it and parsed again would pick the address inside the name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from classifiers.entities import extract_entities
from pipeline.config import Settings
from pipeline.mail.parse import parse_message
from pipeline.sources.base import Origin
from pipeline.store import repository as repo
from pipeline.store.models import Message
from responders.facts import facts_from_parsed, facts_from_stored
from responders.policy import ReplyPolicy
from responders.render import Library, load_library
from responders.suggest import Reply, suggest_reply
from tests.support.mail import make_message

ROOT = Path(__file__).resolve().parents[2]
TRICKY = '"x <other@evil.example>" <real@customer.example>'
TEXT = "We paid twice for A1234567, please refund the difference."


class _Collecting:
    """Stands in for a session: ``add_message`` only hands it the row."""

    def __init__(self) -> None:
        self.added: list[Any] = []

    def add(self, row: Any) -> None:
        self.added.append(row)


class _Decision:
    language, topic, standard, reason = "en", "fees", True, "standard"
    entities = tuple(extract_entities(TEXT))


@pytest.fixture(scope="module")
def library() -> Library:
    return load_library(ROOT / "config" / "templates")


def _stored_row(raw: bytes) -> Message:
    parsed = parse_message(raw)
    message, _ = repo.add_message(_Collecting(), parsed, repo.new_thread(parsed.subject, parsed.thread_key),  # type: ignore[arg-type]
                                  Origin("file", "/x.eml"))
    return message


def _facts_of(message: Message) -> Any:
    return facts_from_stored(
        inquiry_id=7, new_text=TEXT, message_id=message.message_id, references=message.references,
        subject=message.subject, sender_name=message.sender_name, sender_address=message.sender_address,
        reply_to=message.reply_to_address, recipients=message.recipients, sent_at=message.sent_at,
        is_auto_reply=False, is_bounce=False, is_mailing_list=False, automation_reason=None, mailbox=None,
    )


def test_a_reply_to_is_stored_as_name_and_address_apart() -> None:
    message = _stored_row(make_message(TEXT, sender="Jane <jane@customer.example>", headers={"Reply-To": TRICKY}))
    assert message.reply_to_address == "real@customer.example"
    assert message.reply_to_name == "x <other@evil.example>"
    assert message.reply_to == "real@customer.example"  # the name older readers use is the address too


def test_the_stored_suggestion_goes_to_the_reply_to_address_not_to_one_in_its_name(library: Library) -> None:
    raw = make_message(TEXT, subject="Refund", sender="Jane <jane@customer.example>", headers={"Reply-To": TRICKY})
    policy = ReplyPolicy.from_settings(Settings())
    stored = suggest_reply(_Decision(), _facts_of(_stored_row(raw)), library, policy)
    offline = suggest_reply(_Decision(), facts_from_parsed(parse_message(raw), inquiry_id=7), library, policy)
    assert isinstance(stored, Reply) and isinstance(offline, Reply)
    assert stored.to_address == offline.to_address == "real@customer.example"


def test_without_a_reply_to_the_reply_goes_to_the_sender() -> None:
    message = _stored_row(make_message(TEXT, sender="Jane <jane@customer.example>"))
    assert (message.reply_to_name, message.reply_to_address) == ("", None)
    assert _facts_of(message).reply_address == "jane@customer.example"
