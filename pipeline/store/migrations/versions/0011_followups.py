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
    with op.batch_alter_table('inquiries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('follow_up_of', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                                      nullable=True))
        batch_op.create_index(batch_op.f('ix_inquiries_follow_up_of'), ['follow_up_of'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_inquiries_follow_up_of_inquiries'), 'inquiries',
                                    ['follow_up_of'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('inquiries', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_inquiries_follow_up_of_inquiries'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_inquiries_follow_up_of'))
        batch_op.drop_column('follow_up_of')
