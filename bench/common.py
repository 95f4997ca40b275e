"""What the benchmarks share: the bare-parse reference and throw-away PostgreSQL databases."""

from __future__ import annotations

import time
import uuid
from email import policy
from email.parser import BytesParser


def bare_parse_rate(raws: list[bytes]) -> float:
    """Messages/s of BytesParser(policy=default) alone, reading headers as a client would."""
    parser = BytesParser(policy=policy.default)
    start = time.perf_counter()
    for raw in raws:
        message = parser.parsebytes(raw)
        for name in ("From", "Subject", "Message-ID"):
            try:
                message.get(name)
            except Exception:  # some real headers raise when read; counted as parsed
                pass
    return len(raws) / (time.perf_counter() - start)


def pg_database(admin: str) -> tuple[str, str]:
    """Create an empty PostgreSQL database; return its name and SQLAlchemy URL."""
    import psycopg

    name = "triage_bench_" + uuid.uuid4().hex[:8]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1) + "/" + name


def drop_pg(admin: str, name: str) -> None:
    """Drop a database made by ``pg_database``."""
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
