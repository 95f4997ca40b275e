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


class Cluster:
    """A private PostgreSQL cluster (Debian's binaries) that can be stopped and started again.

    The data directory and port stay the same across ``stop()``/``start()``, so clients reconnect to
    the same DSN once it is back, as after a server restart in production.
    """

    def __init__(self, bindir: str, workdir: str, port: int, run_as: list[str]) -> None:
        self.bindir = bindir
        self.workdir = workdir
        self.data = os.path.join(workdir, "data")
        self.port = port
        self.run_as = run_as

    @property
    def dsn(self) -> str:
        """The admin DSN (user ``postgres``, trust authentication)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([*self.run_as, f"{self.bindir}/pg_ctl", "-D", self.data, *args],
                              check=check, capture_output=True, timeout=60)

    def initdb(self) -> None:
        """Create the cluster's data directory."""
        subprocess.run([*self.run_as, f"{self.bindir}/initdb", "-D", self.data, "-U", "postgres", "-A", "trust"],
                       check=True, capture_output=True)

    def start(self) -> None:
        """Start the server; return once it accepts connections."""
        self._pg_ctl("-l", os.path.join(self.workdir, "log"), "-w",
                     "-o", f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` (roll back open transactions, close connections) or ``immediate``
        (abort at once, like a crash: recovery replays the WAL at the next start); return once it is down."""
        self._pg_ctl("-m", mode, "-w", "stop")

    def restart(self, mode: str = "immediate") -> None:
        """Stop the server (``mode`` as for ``stop``) and start it again on the same port and data."""
        self.stop(mode)
        self.start()


@contextmanager
def throwaway_server() -> Iterator[Cluster]:
    """Start a private PostgreSQL cluster from Debian's binaries; yield it (stopped and removed afterwards)."""
    initdb = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not initdb:
        raise RuntimeError("no PostgreSQL server answers on 127.0.0.1:5432 and Debian's postgresql is not installed")
    bindir = os.path.dirname(initdb[-1])
    workdir = tempfile.mkdtemp(prefix="triage-pg-")
    user = "postgres"
    run_as: list[str] = []
    if os.geteuid() == 0:
        pw = pwd.getpwnam(user)
        os.chown(workdir, pw.pw_uid, pw.pw_gid)
        run_as = ["runuser", "-u", user, "--"]
    cluster = Cluster(bindir, workdir, _free_port(), run_as)
    try:
        cluster.initdb()
        cluster.start()
        yield cluster
    finally:
        cluster._pg_ctl("-m", "immediate", "stop", check=False)
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def throwaway_cluster() -> Iterator[str]:
    """Start a private PostgreSQL cluster from Debian's binaries; yield its admin DSN."""
    with throwaway_server() as cluster:
        yield cluster.dsn


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
