"""Each triaged inquiry's pay/let-lapse instruction per patent, so later mail of the thread or client is compared

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 09:00:00.000000

``instructions`` holds one row per inquiry, patent (normalised, without its kind
code) and instruction (``pay`` or ``abandon``), with the time it was said (the
message's Date, else when it was stored). Triage writes it with each decision
and a re-triage replaces an inquiry's rows. Thread and organisation are read
through the inquiry, so they never go stale. Inquiries triaged before this
revision have no rows until they are triaged again (``triage retriage --since``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'instructions',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('inquiry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('patent', sa.String(length=100), nullable=False),
        sa.Column('instruction', sa.String(length=16), nullable=False),
        sa.Column('said_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['inquiry_id'], ['inquiries.id'], name='fk_instructions_inquiry_id_inquiries'),
        sa.PrimaryKeyConstraint('id', name='pk_instructions'),
    )
    op.create_index('ix_instructions_inquiry_id', 'instructions', ['inquiry_id'])
    op.create_index('ix_instructions_patent_said', 'instructions', ['patent', 'said_at'])


def downgrade() -> None:
    op.drop_index('ix_instructions_patent_said', table_name='instructions')
    op.drop_index('ix_instructions_inquiry_id', table_name='instructions')
    op.drop_table('instructions')
