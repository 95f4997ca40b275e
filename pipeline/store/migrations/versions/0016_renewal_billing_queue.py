"""The renewal desk's finance queue is called billing: its existing decisions and cases move there

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 04:00:00.000000

Queue ids are office-wide, and the shipped patent-renewal desk (``renewals``)
called its invoices-and-payments queue ``finance``, the id of the design
registry's finance section (another team). The desk's taxonomy now calls it
``billing``; the current decisions and the review app's cases of inquiries
filed to that desk follow, so they do not show up in the registry's finance
queue. The registry's own ``finance`` cases (desk NULL or another) stay.
Members of staff assigned ``finance`` keep it: whether they are the registry's
or the renewal service's is for an admin to say on the users page.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

_DESK = 'renewals'


def _move(old: str, new: str) -> None:
    inquiries = sa.table('inquiries', sa.column('id', sa.Integer), sa.column('desk', sa.String))
    of_desk = sa.select(inquiries.c.id).where(inquiries.c.desk == _DESK)
    for name in ('decisions', 'cases'):
        table = sa.table(name, sa.column('inquiry_id', sa.Integer), sa.column('queue', sa.String))
        op.execute(sa.update(table).where(table.c.queue == old, table.c.inquiry_id.in_(of_desk)).values(queue=new))


def upgrade() -> None:
    _move('finance', 'billing')


def downgrade() -> None:
    _move('billing', 'finance')
