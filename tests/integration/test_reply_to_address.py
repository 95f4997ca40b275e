"""A Reply-To whose display name holds an address, through real ingest, storage and the reply service.

Also the migration that split the old display-text column: it must fill the new columns from the
message's own header, not by parsing the old text again.
"""

from __future__ import annotations

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import select, text

from pipeline.config import DeliverySettings, MailboxSettings, Settings
from pipeline.runtime import Runtime
from pipeline.store.db import MIGRATIONS_DIR, _alembic_config, current_revision, head_revision, unit_of_work
from pipeline.store.models import Message
from webapp.services import suggestions as service
from responders.context import ReplyContext
from tests.support.mail import make_message
from tests.support.replies import store_triaged

TRICKY = '"x <other@evil.example>" <real@customer.example>'
REFUND = "We paid CHF 1,234.50 for A1234567 but only CHF 934.50 was due. Please refund the difference."


def _context() -> ReplyContext:
    mailbox = MailboxSettings(host="127.0.0.1", tls="none", user="desk@registry.example.org", password="x",  # type: ignore[arg-type]
                              delivery=DeliverySettings(mode="drafts"))  # type: ignore[arg-type]
    return ReplyContext.load(Settings(mailboxes={"desk": mailbox}))


def test_the_stored_suggestion_goes_to_the_reply_to_address(runtime: Runtime) -> None:
    raw = make_message(REFUND, subject="Refund", sender="Jane <jane@customer.example>",
                       message_id="<tricky-reply-to@customer.example>", headers={"Reply-To": TRICKY})
    inquiry_id = store_triaged(runtime, raw, text_for_entities=REFUND)
    with runtime.session_factory() as session:
        row = session.execute(select(Message.reply_to_name, Message.reply_to_address)).one()
    assert tuple(row) == ("x <other@evil.example>", "real@customer.example")
    with unit_of_work(runtime.session_factory) as session:
        info = service.suggest_for_inquiry(session, inquiry_id, _context(), actor="triage")
    assert isinstance(info, service.SuggestionInfo), info
    assert info.to == "real@customer.example"


def test_the_migration_fills_the_address_from_the_header_not_from_the_old_text(runtime: Runtime) -> None:
    raw = make_message(REFUND, sender="Jane <jane@customer.example>", message_id="<old-row@customer.example>",
                       headers={"Reply-To": TRICKY})
    plain = make_message(REFUND, sender="Jane <jane@customer.example>", message_id="<plain-row@customer.example>",
                         headers={"Reply-To": "Accounts <Accounts@Customer.example>"})
    store_triaged(runtime, raw, mailbox=None)
    store_triaged(runtime, plain, mailbox=None)
    before = ScriptDirectory(str(MIGRATIONS_DIR)).get_revision("0008").down_revision
    assert isinstance(before, str)
    command.downgrade(_alembic_config(runtime.engine), before)
    with runtime.engine.begin() as connection:
        # What the old code wrote: the display text, which parses back to the wrong address.
        connection.execute(text("UPDATE messages SET reply_to = :v WHERE message_id = 'old-row@customer.example'"),
                           {"v": "x <other@evil.example> <real@customer.example>"})
        connection.execute(text("UPDATE messages SET reply_to = :v WHERE message_id = 'plain-row@customer.example'"),
                           {"v": "Accounts <accounts@customer.example>"})
    command.upgrade(_alembic_config(runtime.engine), "head")
    assert current_revision(runtime.engine) == head_revision()
    with runtime.session_factory() as session:
        rows = dict((mid, (name, address)) for mid, name, address in session.execute(
            select(Message.message_id, Message.reply_to_name, Message.reply_to_address)))
    assert rows == {
        "old-row@customer.example": ("x <other@evil.example>", "real@customer.example"),
        "plain-row@customer.example": ("Accounts", "accounts@customer.example"),
    }
