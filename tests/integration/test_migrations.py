"""Every schema change is a migration: the migrated database matches the models, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from pipeline.runtime import Runtime
from pipeline.store.models import Base


def _differences(runtime: Runtime) -> list[object]:
    with runtime.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        found = compare_metadata(context, Base.metadata)
    # Server defaults and index options are written per dialect; tables and columns must match exactly.
    return [diff for diff in found
            if not (isinstance(diff, tuple) and diff and diff[0] in ("add_index", "remove_index"))
            and not _search_index(diff)]


def _search_index(diff: object) -> bool:
    # The full-text index is dialect specific and kept by triggers, not a model: an FTS5 table and its
    # shadow tables on SQLite, a tsvector table on PostgreSQL, all named ``search_text*``.
    return (isinstance(diff, tuple) and len(diff) == 2 and diff[0] == "remove_table"
            and str(getattr(diff[1], "name", "")).startswith("search_text"))


def test_migrations_build_exactly_the_models_tables_and_columns(runtime: Runtime) -> None:
    assert _differences(runtime) == []
