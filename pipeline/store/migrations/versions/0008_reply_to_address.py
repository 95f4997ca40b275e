"""Reply-To kept as a name and an address apart (was display text, parsed again when read)

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-05 07:10:00.000000

The old column held ``str(Address)``: ``x <other@evil.example> <real@customer.example>``
for a Reply-To of ``"x <other@evil.example>" <real@customer.example>``, and
reading an address back out of that text picks the wrong one. The backfill
therefore never parses the stored text: it reads the Reply-To header of the
message's raw bytes through the email package's structured header (the
quoted display name stays a name). Where that header cannot be read, the
address stays empty and a reply goes to the sender, as if there were no Reply-To.
"""

from __future__ import annotations

from email import policy
from email.parser import BytesHeaderParser

import sqlalchemy as sa
from alembic import op


revision = '0008'
down_revision = '0006'
branch_labels = None
depends_on = None

_BATCH = 500


def _reply_to_of(raw: bytes) -> tuple[str, str | None]:
    """The first Reply-To of a raw message as (display name, lower-cased address)."""
    try:
        headers = BytesHeaderParser(policy=policy.default).parsebytes(raw)
        header = headers.get('Reply-To')
        addresses = getattr(header, 'addresses', ()) if header is not None else ()
        for address in addresses:
            spec = (address.addr_spec or '').strip().lower()
            if spec and spec != '<>':
                return (address.display_name or '')[:500], spec[:500]
            if address.display_name:
                return address.display_name[:500], None
    except Exception:  # the stdlib raises several types on hostile headers: the reply then goes to From
        pass
    return '', None


def upgrade() -> None:
    # Plain ALTER TABLE, also on SQLite (3.35+ drops columns): a batch copy of ``messages`` would
    # drop the table that other rows refer to, which enforced foreign keys refuse.
    op.add_column('messages', sa.Column('reply_to_name', sa.String(length=500), nullable=False, server_default=''))
    op.add_column('messages', sa.Column('reply_to_address', sa.String(length=500), nullable=True))

    connection = op.get_bind()
    messages = sa.table('messages', sa.column('id', sa.Integer), sa.column('raw_sha256', sa.String),
                        sa.column('reply_to', sa.String), sa.column('reply_to_name', sa.String),
                        sa.column('reply_to_address', sa.String))
    blobs = sa.table('raw_blobs', sa.column('sha256', sa.String), sa.column('data', sa.LargeBinary))
    last_id = 0
    while True:
        rows = connection.execute(
            sa.select(messages.c.id, blobs.c.data)
            .join(blobs, blobs.c.sha256 == messages.c.raw_sha256)
            .where(messages.c.reply_to.is_not(None), messages.c.id > last_id)
            .order_by(messages.c.id).limit(_BATCH)
        ).all()
        if not rows:
            break
        for message_pk, data in rows:
            name, address = _reply_to_of(bytes(data))
            connection.execute(
                sa.update(messages).where(messages.c.id == message_pk)
                .values(reply_to_name=name, reply_to_address=address)
            )
        last_id = rows[-1][0]

    op.drop_column('messages', 'reply_to')


def downgrade() -> None:
    op.add_column('messages', sa.Column('reply_to', sa.String(length=500), nullable=True))
    messages = sa.table('messages', sa.column('reply_to', sa.String), sa.column('reply_to_address', sa.String))
    # Only the address goes back: the display text is what made replies go astray.
    op.execute(sa.update(messages).values(reply_to=messages.c.reply_to_address))
    op.drop_column('messages', 'reply_to_address')
    op.drop_column('messages', 'reply_to_name')
