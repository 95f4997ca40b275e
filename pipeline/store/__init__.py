"""Storage: SQLAlchemy models, the database bootstrap, migrations and repositories."""
