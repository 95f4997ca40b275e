"""quarantine reasons become codes: today's free-text reasons mapped to them

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 07:10:00.000000

The mapping is frozen here (it must not follow later changes of the code list):
a reason that is not recognised becomes ``unknown``; the full message stays in
``quarantine.error`` either way.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

CODES = frozenset({
    'empty', 'not_email', 'unreadable_bytes', 'too_large', 'too_deeply_nested', 'unparseable_mime',
    'storage_failed', 'fetch_refused', 'fetch_no_body', 'fetch_breaks_connection', 'unknown',
})

# Each code back to the text reason of revision 0004, for a downgrade.
_OLD_REASONS = {
    'empty': 'empty message',
    'not_email': 'not an email message',
    'unreadable_bytes': 'not an email message',
    'too_large': 'message too large',
    'too_deeply_nested': 'message nested too deeply to parse',
    'unparseable_mime': 'cannot parse message',
    'storage_failed': 'storage refused',
    'fetch_refused': 'imap fetch failed',
    'fetch_no_body': 'imap fetch failed',
    'fetch_breaks_connection': 'imap fetch failed',
}

_quarantine = sa.table('quarantine', sa.column('id', sa.BigInteger), sa.column('reason', sa.String),
                       sa.column('error', sa.Text))
_CHUNK = 500


def code_for(reason: str, error: str) -> str:
    """The code for a reason stored before codes (the error's text disambiguates); ``unknown`` when unrecognised."""
    reason = ' '.join((reason or '').split()).lower()
    error = (error or '').lower()
    if reason in CODES:
        return reason
    if reason.startswith('empty message'):
        return 'empty'
    if reason.startswith('not an email message'):
        return 'unreadable_bytes' if 'binary data' in error else 'not_email'
    if reason.startswith('message too large'):
        return 'too_large'
    if reason.startswith('message nested too deeply'):
        return 'too_deeply_nested'
    if reason.startswith('cannot parse message'):
        return 'unparseable_mime'
    if reason.startswith('storage refused'):
        return 'storage_failed'
    if reason.startswith('imap fetch failed'):
        if 'broke the connection' in error:
            return 'fetch_breaks_connection'
        if 'no body' in error:
            return 'fetch_no_body'
        return 'fetch_refused'
    return 'unknown'


def _rewrite(mapping) -> None:  # type: ignore[no-untyped-def]
    connection = op.get_bind()
    by_value: dict[str, list[int]] = {}
    rows = connection.execute(sa.select(_quarantine.c.id, _quarantine.c.reason,
                                        sa.func.substr(_quarantine.c.error, 1, 1000)))
    for row_id, reason, error in rows:
        value = mapping(reason or '', error or '')
        if value != reason:
            by_value.setdefault(value, []).append(row_id)
    for value, ids in by_value.items():
        for start in range(0, len(ids), _CHUNK):
            connection.execute(_quarantine.update().where(_quarantine.c.id.in_(ids[start:start + _CHUNK]))
                               .values(reason=value))


def upgrade() -> None:
    _rewrite(code_for)


def downgrade() -> None:
    _rewrite(lambda reason, _error: _OLD_REASONS.get(reason, reason))
