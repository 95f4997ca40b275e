"""folder leases: one daemon syncs a mailbox folder at a time, expiring by the database's clock

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 07:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('folder_leases',
    sa.Column('mailbox', sa.String(length=200), nullable=False),
    sa.Column('folder', sa.String(length=500), nullable=False),
    sa.Column('holder', sa.String(length=200), nullable=False),
    sa.Column('acquired_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('mailbox', 'folder', name=op.f('pk_folder_leases'))
    )
    with op.batch_alter_table('folder_leases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_folder_leases_expires_at'), ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('folder_leases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_folder_leases_expires_at'))
    op.drop_table('folder_leases')
