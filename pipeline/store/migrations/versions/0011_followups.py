"""follow-ups: a reply in the same thread from the same sender, while its case is open, joins that case

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 08:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE, not a batch copy: on SQLite a copy of `inquiries` breaks the foreign keys that point at it.
    # The link is an indexed id without a foreign-key constraint for the same reason (SQLite cannot drop such a
    # column again); the store only ever writes ids of existing inquiries into it.
    op.add_column('inquiries', sa.Column('follow_up_of', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                                         nullable=True))
    op.create_index('ix_inquiries_follow_up_of', 'inquiries', ['follow_up_of'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_inquiries_follow_up_of', table_name='inquiries')
    op.drop_column('inquiries', 'follow_up_of')
