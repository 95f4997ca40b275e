"""decisions carry their intents and hold-back reason; the never-written template column goes

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 07:40:00.000000

``intents`` holds every intent with its probability (best first), ``answer_intents``
the ones a reply answers (empty when the case is held back), ``hold_reason`` the
code of why a person must look at it. Decisions made before have none of them:
their replies were chosen by topic, and a re-triage fills them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('decisions') as batch:
        batch.add_column(sa.Column('intents', sa.JSON(), nullable=False, server_default='[]'))
        batch.add_column(sa.Column('answer_intents', sa.JSON(), nullable=False, server_default='[]'))
        batch.add_column(sa.Column('hold_reason', sa.String(length=64), nullable=True))
        batch.drop_column('template')


def downgrade() -> None:
    with op.batch_alter_table('decisions') as batch:
        batch.add_column(sa.Column('template', sa.String(length=200), nullable=True))
        batch.drop_column('hold_reason')
        batch.drop_column('answer_intents')
        batch.drop_column('intents')
