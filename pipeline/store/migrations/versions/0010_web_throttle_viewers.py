"""review app: log-in counters shared by every process, case viewers, the session's last use

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 08:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('login_counters',
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_login_counters'))
    )
    op.create_table('case_viewers',
    sa.Column('inquiry_id', _ID, autoincrement=False, nullable=False),
    sa.Column('user_id', _ID, nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['inquiry_id'], ['inquiries.id'], name=op.f('fk_case_viewers_inquiry_id_inquiries')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_case_viewers_user_id_users'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('inquiry_id', 'user_id', name=op.f('pk_case_viewers'))
    )
    with op.batch_alter_table('web_sessions') as batch:
        batch.add_column(sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('web_sessions') as batch:
        batch.drop_column('last_seen_at')
    op.drop_table('case_viewers')
    op.drop_table('login_counters')
