"""suggested replies and their deliveries

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 10:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('suggestions',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('inquiry_id', _ID, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.String(length=200), nullable=True),
    sa.Column('template_version', sa.Integer(), nullable=True),
    sa.Column('template_digest', sa.String(length=64), nullable=True),
    sa.Column('language', sa.String(length=16), nullable=False),
    sa.Column('variables', sa.JSON(), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('body_text', sa.Text(), nullable=False),
    sa.Column('body_html', sa.Text(), nullable=True),
    sa.Column('to_address', sa.String(length=500), nullable=False),
    sa.Column('to_name', sa.String(length=500), nullable=False),
    sa.Column('in_reply_to', sa.String(length=600), nullable=True),
    sa.Column('references', sa.JSON(), nullable=False),
    sa.Column('mailbox', sa.String(length=200), nullable=True),
    sa.Column('message_id', sa.String(length=600), nullable=True),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('approved_by', sa.String(length=200), nullable=True),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['inquiry_id'], ['inquiries.id'], name=op.f('fk_suggestions_inquiry_id_inquiries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_suggestions')),
    sa.UniqueConstraint('message_id', name=op.f('uq_suggestions_message_id'))
    )
    with op.batch_alter_table('suggestions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_suggestions_inquiry_id'), ['inquiry_id'], unique=False)
        batch_op.create_index('ix_suggestions_status_id', ['status', 'id'], unique=False)

    op.create_table('deliveries',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('suggestion_id', _ID, nullable=False),
    sa.Column('message_id', sa.String(length=600), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('mailbox', sa.String(length=200), nullable=False),
    sa.Column('folder', sa.String(length=500), nullable=True),
    sa.Column('recipient', sa.String(length=500), nullable=False),
    sa.Column('automatic', sa.Boolean(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('raw', sa.LargeBinary(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['suggestion_id'], ['suggestions.id'], name=op.f('fk_deliveries_suggestion_id_suggestions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deliveries')),
    sa.UniqueConstraint('message_id', name=op.f('uq_deliveries_message_id')),
    sa.UniqueConstraint('suggestion_id', name=op.f('uq_deliveries_suggestion_id'))
    )
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_deliveries_recipient_created', ['recipient', 'created_at'], unique=False)
        batch_op.create_index('ix_deliveries_state_updated', ['state', 'updated_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_state_updated')
        batch_op.drop_index('ix_deliveries_recipient_created')

    op.drop_table('deliveries')
    with op.batch_alter_table('suggestions', schema=None) as batch_op:
        batch_op.drop_index('ix_suggestions_status_id')
        batch_op.drop_index(batch_op.f('ix_suggestions_inquiry_id'))

    op.drop_table('suggestions')
