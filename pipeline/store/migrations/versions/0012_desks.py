"""Each inquiry records the desk it belongs to

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 08:20:00.000000

Inquiries stored before desks existed keep NULL: they belong to the default desk.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('inquiries', sa.Column('desk', sa.String(length=64), nullable=True))
    op.create_index('ix_inquiries_desk', 'inquiries', ['desk'])


def downgrade() -> None:
    op.drop_index('ix_inquiries_desk', table_name='inquiries')
    op.drop_column('inquiries', 'desk')
