"""search: full text over inquiries, replies and notes; reference mentions; internal notes; ages from sending

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 08:10:00.000000

The full-text index lives outside the models (it is dialect specific): on SQLite
an FTS5 table ``search_text``, on PostgreSQL a table ``search_text`` with a
``tsvector`` column under a GIN index. Both are kept in step by triggers on
``inquiries``, ``suggestions`` and ``notes``, so every writer (bulk loads
included) keeps them current. A document's ``doc_id`` is its row's id times 4
plus its kind (0 inquiry, 1 reply, 2 note), so a trigger finds it by key.
On PostgreSQL punctuation becomes space before the text is parsed: its parser
would otherwise read ``<soon>`` as a tag and ``anna@example.org`` as one token,
and words would be found on one database and not on the other.

``reference_mentions`` is filled by a trigger on ``decisions`` from the
registration, patent and application numbers among a decision's entities.

A case's age now starts when its mail was sent, bounded by when it was
received: the received time of existing cases becomes the earlier of the two.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

REFERENCE_KINDS = "('registration', 'patent', 'application')"

_SQLITE = [
    "CREATE VIRTUAL TABLE search_text USING fts5("
    "inquiry_id UNINDEXED, subject, body, tokenize = 'unicode61 remove_diacritics 2')",
    """CREATE TRIGGER search_inquiries_ai AFTER INSERT ON inquiries BEGIN
        INSERT INTO search_text(rowid, inquiry_id, subject, body) VALUES (
            new.id * 4, new.id, coalesce((SELECT subject FROM messages WHERE id = new.message_pk), ''),
            coalesce(new.text, ''));
    END""",
    """CREATE TRIGGER search_inquiries_au AFTER UPDATE OF text ON inquiries BEGIN
        DELETE FROM search_text WHERE rowid = old.id * 4;
        INSERT INTO search_text(rowid, inquiry_id, subject, body) VALUES (
            new.id * 4, new.id, coalesce((SELECT subject FROM messages WHERE id = new.message_pk), ''),
            coalesce(new.text, ''));
    END""",
    """CREATE TRIGGER search_inquiries_ad AFTER DELETE ON inquiries BEGIN
        DELETE FROM search_text WHERE rowid = old.id * 4;
    END""",
    """CREATE TRIGGER search_suggestions_ai AFTER INSERT ON suggestions BEGIN
        INSERT INTO search_text(rowid, inquiry_id, subject, body)
        VALUES (new.id * 4 + 1, new.inquiry_id, coalesce(new.subject, ''), coalesce(new.body_text, ''));
    END""",
    """CREATE TRIGGER search_suggestions_au AFTER UPDATE OF subject, body_text ON suggestions BEGIN
        DELETE FROM search_text WHERE rowid = old.id * 4 + 1;
        INSERT INTO search_text(rowid, inquiry_id, subject, body)
        VALUES (new.id * 4 + 1, new.inquiry_id, coalesce(new.subject, ''), coalesce(new.body_text, ''));
    END""",
    """CREATE TRIGGER search_suggestions_ad AFTER DELETE ON suggestions BEGIN
        DELETE FROM search_text WHERE rowid = old.id * 4 + 1;
    END""",
    """CREATE TRIGGER search_notes_ai AFTER INSERT ON notes BEGIN
        INSERT INTO search_text(rowid, inquiry_id, subject, body)
        VALUES (new.id * 4 + 2, new.inquiry_id, '', coalesce(new.text, ''));
    END""",
    """CREATE TRIGGER search_notes_ad AFTER DELETE ON notes BEGIN
        DELETE FROM search_text WHERE rowid = old.id * 4 + 2;
    END""",
    f"""CREATE TRIGGER reference_mentions_ai AFTER INSERT ON decisions BEGIN
        INSERT OR IGNORE INTO reference_mentions(value, kind, inquiry_id)
        SELECT DISTINCT substr(upper(json_extract(e.value, '$.value')), 1, 100), json_extract(e.value, '$.kind'),
               new.inquiry_id
        FROM json_each(CASE WHEN json_valid(new.entities) AND json_type(new.entities) = 'array'
                            THEN new.entities ELSE '[]' END) AS e
        WHERE json_type(e.value) = 'object' AND json_extract(e.value, '$.kind') IN {REFERENCE_KINDS}
          AND json_type(e.value, '$.value') = 'text';
    END""",
    "INSERT INTO search_text(rowid, inquiry_id, subject, body) SELECT i.id * 4, i.id, coalesce(m.subject, ''), "
    "coalesce(i.text, '') FROM inquiries i JOIN messages m ON m.id = i.message_pk",
    "INSERT INTO search_text(rowid, inquiry_id, subject, body) SELECT id * 4 + 1, inquiry_id, coalesce(subject, ''), "
    "coalesce(body_text, '') FROM suggestions",
    f"""INSERT OR IGNORE INTO reference_mentions(value, kind, inquiry_id)
        SELECT DISTINCT substr(upper(json_extract(e.value, '$.value')), 1, 100), json_extract(e.value, '$.kind'),
               d.inquiry_id
        FROM decisions d, json_each(CASE WHEN json_valid(d.entities) AND json_type(d.entities) = 'array'
                                         THEN d.entities ELSE '[]' END) AS e
        WHERE json_type(e.value) = 'object' AND json_extract(e.value, '$.kind') IN {REFERENCE_KINDS}
          AND json_type(e.value, '$.value') = 'text'""",
]

_POSTGRES = [
    "CREATE TABLE search_text (doc_id BIGINT PRIMARY KEY, inquiry_id BIGINT NOT NULL, document TSVECTOR NOT NULL)",
    "CREATE INDEX ix_search_text_document ON search_text USING gin (document)",
    "CREATE INDEX ix_search_text_inquiry ON search_text (inquiry_id)",
    """CREATE FUNCTION search_text_put(p_doc_id BIGINT, p_inquiry_id BIGINT, p_subject TEXT, p_body TEXT)
    RETURNS void LANGUAGE sql AS $$
        INSERT INTO search_text(doc_id, inquiry_id, document)
        VALUES (p_doc_id, p_inquiry_id, to_tsvector('simple', regexp_replace(
                coalesce(p_subject, '') || ' ' || left(coalesce(p_body, ''), 500000), '[[:punct:]]+', ' ', 'g')))
        ON CONFLICT (doc_id) DO UPDATE SET inquiry_id = EXCLUDED.inquiry_id, document = EXCLUDED.document
    $$""",
    """CREATE FUNCTION search_inquiries_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            DELETE FROM search_text WHERE doc_id = OLD.id * 4;
            RETURN OLD;
        END IF;
        PERFORM search_text_put(NEW.id * 4, NEW.id,
                                (SELECT subject FROM messages WHERE id = NEW.message_pk), NEW.text);
        RETURN NEW;
    END $$""",
    """CREATE TRIGGER search_inquiries AFTER INSERT OR UPDATE OF text OR DELETE ON inquiries
       FOR EACH ROW EXECUTE FUNCTION search_inquiries_trigger()""",
    """CREATE FUNCTION search_suggestions_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            DELETE FROM search_text WHERE doc_id = OLD.id * 4 + 1;
            RETURN OLD;
        END IF;
        PERFORM search_text_put(NEW.id * 4 + 1, NEW.inquiry_id, NEW.subject, NEW.body_text);
        RETURN NEW;
    END $$""",
    """CREATE TRIGGER search_suggestions AFTER INSERT OR UPDATE OF subject, body_text OR DELETE ON suggestions
       FOR EACH ROW EXECUTE FUNCTION search_suggestions_trigger()""",
    """CREATE FUNCTION search_notes_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            DELETE FROM search_text WHERE doc_id = OLD.id * 4 + 2;
            RETURN OLD;
        END IF;
        PERFORM search_text_put(NEW.id * 4 + 2, NEW.inquiry_id, '', NEW.text);
        RETURN NEW;
    END $$""",
    """CREATE TRIGGER search_notes AFTER INSERT OR DELETE ON notes
       FOR EACH ROW EXECUTE FUNCTION search_notes_trigger()""",
    f"""CREATE FUNCTION reference_mentions_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO reference_mentions(value, kind, inquiry_id)
        SELECT DISTINCT left(upper(e->>'value'), 100), left(e->>'kind', 32), NEW.inquiry_id
        FROM json_array_elements(CASE WHEN json_typeof(NEW.entities) = 'array'
                                      THEN NEW.entities ELSE '[]'::json END) AS e
        WHERE json_typeof(e) = 'object' AND e->>'kind' IN {REFERENCE_KINDS} AND json_typeof(e->'value') = 'string'
        ON CONFLICT DO NOTHING;
        RETURN NEW;
    END $$""",
    """CREATE TRIGGER reference_mentions AFTER INSERT ON decisions
       FOR EACH ROW EXECUTE FUNCTION reference_mentions_trigger()""",
    "SELECT search_text_put(i.id * 4, i.id, m.subject, i.text) FROM inquiries i JOIN messages m ON m.id = i.message_pk",
    "SELECT search_text_put(id * 4 + 1, inquiry_id, subject, body_text) FROM suggestions",
    f"""INSERT INTO reference_mentions(value, kind, inquiry_id)
        SELECT DISTINCT left(upper(e->>'value'), 100), left(e->>'kind', 32), d.inquiry_id
        FROM decisions d, json_array_elements(CASE WHEN json_typeof(d.entities) = 'array'
                                                   THEN d.entities ELSE '[]'::json END) AS e
        WHERE json_typeof(e) = 'object' AND e->>'kind' IN {REFERENCE_KINDS} AND json_typeof(e->'value') = 'string'
        ON CONFLICT DO NOTHING""",
]

# Ages start when the mail was sent, never later than it was received.
_SENT_BEFORE_RECEIVED = """
    UPDATE cases SET received_at = (
        SELECT m.sent_at FROM inquiries i JOIN messages m ON m.id = i.message_pk
        WHERE i.id = cases.inquiry_id)
    WHERE EXISTS (
        SELECT 1 FROM inquiries i JOIN messages m ON m.id = i.message_pk
        WHERE i.id = cases.inquiry_id AND m.sent_at IS NOT NULL AND m.sent_at < cases.received_at)
"""


def upgrade() -> None:
    op.create_table(
        'reference_mentions',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('value', sa.String(length=100), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('inquiry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.ForeignKeyConstraint(['inquiry_id'], ['inquiries.id'],
                                name='fk_reference_mentions_inquiry_id_inquiries'),
        sa.PrimaryKeyConstraint('id', name='pk_reference_mentions'),
        sa.UniqueConstraint('value', 'inquiry_id', name='uq_reference_mentions_value_inquiry'),
    )
    op.create_index('ix_reference_mentions_inquiry_id', 'reference_mentions', ['inquiry_id'])
    op.create_table(
        'notes',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('inquiry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['inquiry_id'], ['inquiries.id'], name='fk_notes_inquiry_id_inquiries'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name='fk_notes_user_id_users'),
        sa.PrimaryKeyConstraint('id', name='pk_notes'),
    )
    op.create_index('ix_notes_inquiry', 'notes', ['inquiry_id', 'id'])
    for statement in _SQLITE if op.get_bind().dialect.name == 'sqlite' else _POSTGRES:
        op.execute(statement)
    op.execute(_SENT_BEFORE_RECEIVED)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        for trigger in ('search_inquiries_ai', 'search_inquiries_au', 'search_inquiries_ad', 'search_suggestions_ai',
                        'search_suggestions_au', 'search_suggestions_ad', 'search_notes_ai', 'search_notes_ad',
                        'reference_mentions_ai'):
            op.execute(f'DROP TRIGGER IF EXISTS {trigger}')
    else:
        for trigger, table in (('search_inquiries', 'inquiries'), ('search_suggestions', 'suggestions'),
                               ('search_notes', 'notes'), ('reference_mentions', 'decisions')):
            op.execute(f'DROP TRIGGER IF EXISTS {trigger} ON {table}')
            op.execute(f'DROP FUNCTION IF EXISTS {trigger}_trigger()')
        op.execute('DROP FUNCTION IF EXISTS search_text_put(BIGINT, BIGINT, TEXT, TEXT)')
    op.execute('DROP TABLE IF EXISTS search_text')
    op.drop_index('ix_notes_inquiry', table_name='notes')
    op.drop_table('notes')
    op.drop_index('ix_reference_mentions_inquiry_id', table_name='reference_mentions')
    op.drop_table('reference_mentions')
