"""review app: users, queue assignments, sessions, cases, holds, action history

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 09:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('users',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    op.create_table('case_feed',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('last_audit_id', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_feed'))
    )
    op.create_table('cases',
    sa.Column('inquiry_id', _ID, autoincrement=False, nullable=False),
    sa.Column('queue', sa.String(length=64), nullable=False),
    sa.Column('topic', sa.String(length=64), nullable=False),
    sa.Column('language', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=32), nullable=False),
    sa.Column('is_open', sa.Boolean(), nullable=False),
    sa.Column('urgent', sa.Boolean(), nullable=False),
    sa.Column('complaint', sa.Boolean(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decision_id', sa.BigInteger(), nullable=True),
    sa.Column('queue_set_by', sa.String(length=200), nullable=True),
    sa.Column('labelled_by', sa.String(length=200), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['inquiry_id'], ['inquiries.id'], name=op.f('fk_cases_inquiry_id_inquiries')),
    sa.PrimaryKeyConstraint('inquiry_id', name=op.f('pk_cases'))
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index('ix_cases_queue_open_received', ['queue', 'is_open', 'received_at', 'topic', 'language',
                                                               'urgent', 'complaint'], unique=False)
        batch_op.create_index('ix_cases_queue_received', ['queue', 'received_at', 'topic', 'language', 'urgent',
                                                          'complaint'], unique=False)
        batch_op.create_index('ix_cases_queue_state_received', ['queue', 'state', 'received_at', 'topic', 'language',
                                                                'urgent', 'complaint'], unique=False)

    op.create_table('case_actions',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('inquiry_id', _ID, nullable=False),
    sa.Column('user_id', _ID, nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('before', sa.JSON(), nullable=False),
    sa.Column('after', sa.JSON(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('undone_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('undone_by', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['inquiry_id'], ['inquiries.id'], name=op.f('fk_case_actions_inquiry_id_inquiries')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_case_actions_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_actions'))
    )
    with op.batch_alter_table('case_actions', schema=None) as batch_op:
        batch_op.create_index('ix_case_actions_inquiry', ['inquiry_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_case_actions_user_id'), ['user_id'], unique=False)

    op.create_table('holds',
    sa.Column('inquiry_id', _ID, autoincrement=False, nullable=False),
    sa.Column('user_id', _ID, nullable=False),
    sa.Column('acquired_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['inquiry_id'], ['inquiries.id'], name=op.f('fk_holds_inquiry_id_inquiries')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_holds_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('inquiry_id', name=op.f('pk_holds'))
    )
    with op.batch_alter_table('holds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_holds_user_id'), ['user_id'], unique=False)

    op.create_table('user_queues',
    sa.Column('user_id', _ID, nullable=False),
    sa.Column('queue', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_queues_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'queue', name=op.f('pk_user_queues'))
    )
    op.create_table('web_sessions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('user_id', _ID, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_web_sessions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_web_sessions'))
    )
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_web_sessions_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_web_sessions_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_web_sessions_user_id'))
        batch_op.drop_index(batch_op.f('ix_web_sessions_expires_at'))
    op.drop_table('web_sessions')
    op.drop_table('user_queues')
    with op.batch_alter_table('holds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_holds_user_id'))
    op.drop_table('holds')
    with op.batch_alter_table('case_actions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_actions_user_id'))
        batch_op.drop_index('ix_case_actions_inquiry')
    op.drop_table('case_actions')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_queue_state_received')
        batch_op.drop_index('ix_cases_queue_received')
        batch_op.drop_index('ix_cases_queue_open_received')
    op.drop_table('cases')
    op.drop_table('case_feed')
    op.drop_table('users')
