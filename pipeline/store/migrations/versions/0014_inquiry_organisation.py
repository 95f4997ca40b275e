"""Each inquiry records its sender's organisation (the client portfolios)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 09:00:00.000000

``inquiries.organisation`` is the registrable domain of the sender's address
(``anna@mail.example.co.uk`` -> ``example.co.uk``), NULL for free mail (people
writing for themselves) and for addresses that name no usable domain. Existing
rows are filled from their message's sender address, in batches, by the very
function ingest uses (``pipeline.mail.organisation.organisation_key``), so old
and new mail of one client fall under the same key.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pipeline.mail.organisation import organisation_key

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

_BATCH = 1000


def upgrade() -> None:
    op.add_column('inquiries', sa.Column('organisation', sa.String(length=255), nullable=True))

    connection = op.get_bind()
    inquiries = sa.table('inquiries', sa.column('id', sa.Integer), sa.column('message_pk', sa.Integer),
                         sa.column('organisation', sa.String))
    messages = sa.table('messages', sa.column('id', sa.Integer), sa.column('sender_address', sa.String))
    update = (sa.update(inquiries).where(inquiries.c.id == sa.bindparam('inquiry_id'))
              .values(organisation=sa.bindparam('key')))
    last_id = 0
    while True:
        rows = connection.execute(
            sa.select(inquiries.c.id, messages.c.sender_address)
            .join(messages, messages.c.id == inquiries.c.message_pk)
            .where(inquiries.c.id > last_id)
            .order_by(inquiries.c.id).limit(_BATCH)
        ).all()
        if not rows:
            break
        found = [{'inquiry_id': inquiry_id, 'key': key} for inquiry_id, address in rows
                 if (key := organisation_key(address)) is not None]
        if found:
            connection.execute(update, found)
        last_id = rows[-1][0]

    # After the backfill: one index build rather than one index write per row.
    op.create_index('ix_inquiries_organisation', 'inquiries', ['organisation'])


def downgrade() -> None:
    op.drop_index('ix_inquiries_organisation', table_name='inquiries')
    op.drop_column('inquiries', 'organisation')
