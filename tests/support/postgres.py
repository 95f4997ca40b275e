"""A real PostgreSQL for tests: the one on 127.0.0.1:5432 when it answers, else a throw-away cluster.

Each test database is created fresh and dropped afterwards.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

DEFAULT_DSN = os.environ.get("TRIAGE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _answers(dsn: str) -> bool:
    try:
        with psycopg.connect(dsn, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def throwaway_cluster() -> Iterator[str]:
    """Start a private PostgreSQL cluster from Debian's binaries; yield its admin DSN."""
    initdb = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not initdb:
        raise RuntimeError("no PostgreSQL server answers on 127.0.0.1:5432 and Debian's postgresql is not installed")
    bindir = os.path.dirname(initdb[-1])
    workdir = tempfile.mkdtemp(prefix="triage-pg-")
    port = _free_port()
    user = "postgres"
    run_as: list[str] = []
    if os.geteuid() == 0:
        pw = pwd.getpwnam(user)
        os.chown(workdir, pw.pw_uid, pw.pw_gid)
        run_as = ["runuser", "-u", user, "--"]
    data = os.path.join(workdir, "data")
    subprocess.run([*run_as, f"{bindir}/initdb", "-D", data, "-U", "postgres", "-A", "trust"],
                   check=True, capture_output=True)
    subprocess.run([*run_as, f"{bindir}/pg_ctl", "-D", data, "-l", os.path.join(workdir, "log"), "-w",
                    "-o", f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1", "start"],
                   check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*run_as, f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def postgres_server() -> Iterator[str]:
    """The admin DSN of a running PostgreSQL."""
    if _answers(DEFAULT_DSN):
        yield DEFAULT_DSN
        return
    with throwaway_cluster() as dsn:
        for _ in range(50):
            if _answers(dsn):
                break
            time.sleep(0.1)
        yield dsn


def create_database(admin_dsn: str) -> str:
    """Create an empty database; return its SQLAlchemy URL."""
    name = "triage_test_" + uuid.uuid4().hex[:12]
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin_dsn.rsplit("/", 1)[0]
    return f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"


def drop_database(admin_dsn: str, url: str) -> None:
    """Drop a database made by ``create_database``, closing its connections first."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
