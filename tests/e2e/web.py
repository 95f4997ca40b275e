"""The review app for tests: a real server on loopback (in a thread or as a ``triage serve`` process),
an HTTP client that logs in like a browser, and stored inquiries with chosen triage decisions."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from pipeline.config import DatabaseSettings, Settings
from pipeline.ingest import Ingestor
from pipeline.runtime import Runtime, open_runtime
from pipeline.sources.base import Origin, SourceItem
from pipeline.store import repository as repo
from pipeline.store.db import unit_of_work
from pipeline.store.decisions import save_decisions
from pipeline.store.models import Inquiry
from webapp.app import create_app
from webapp.context import WebContext, build_context
from webapp.services.users import add_user

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A running review app: its address and context."""

    url: str
    context: WebContext | None = None


@contextmanager
def serve_in_thread(ctx: WebContext) -> Iterator[Server]:
    """Run the app with uvicorn on a free loopback port in a thread; stop it afterwards."""
    port = free_port()
    config = uvicorn.Config(create_app(ctx), host="127.0.0.1", port=port, log_level="warning", access_log=False,
                            lifespan="on", log_config=None, proxy_headers=False)  # as `triage serve`
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="test-web", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the review app did not start")
        time.sleep(0.02)
    try:
        yield Server(f"http://127.0.0.1:{port}", ctx)
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@contextmanager
def serve_process(env: dict[str, str], cwd: Path, *, port: int | None = None) -> Iterator[Server]:
    """Run ``triage serve`` as a real process on loopback; wait for /healthz; stop it with SIGTERM."""
    port = port or free_port()
    triage = str(Path(sys.executable).with_name("triage"))
    log = open(cwd / "serve.log", "wb")
    process = subprocess.Popen([triage, "serve", "--host", "127.0.0.1", "--port", str(port)], cwd=cwd, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError("triage serve exited: " + (cwd / "serve.log").read_text(errors="replace")[-3000:])
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("triage serve did not answer /healthz in time")
            time.sleep(0.1)
        yield Server(url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any TRIAGE_ setting of the developer, plus these."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    env.update(extra)
    return env


def context_for(runtime: Runtime, tmp_path: Path, *, mailboxes: dict[str, Any] | None = None,
                replies: Any = None, **web: Any) -> WebContext:
    """A review-app context on a test database, its secret in ``tmp_path``, reply templates from config/."""
    update: dict[str, Any] = {
        "web": runtime.settings.web.model_copy(update={"secret_key_file": tmp_path / "secret.key", **web}),
    }
    if mailboxes is not None:
        update["mailboxes"] = mailboxes
    if replies is not None:
        update["replies"] = replies
    return build_context(runtime.settings.model_copy(update=update), runtime.session_factory)


class Browser:
    """An HTTP client that behaves like a browser: cookies, the page's CSRF token, same-origin posts."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = httpx.Client(base_url=url, follow_redirects=False, timeout=30,
                                   headers={"origin": url})

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        """GET a page."""
        return self.client.get(path, **kwargs)

    def token(self, path: str = "/queues") -> str:
        """The CSRF token found in a page's forms."""
        response = self.get(path)
        found = re.search(r'name="csrf_token" value="([^"]*)"', response.text)
        assert found, f"no CSRF token on {path}: {response.status_code}"
        return found.group(1)

    def post(self, path: str, data: dict[str, Any] | None = None, *, token_from: str | None = "/queues",
             **kwargs: Any) -> httpx.Response:
        """POST a form with the CSRF token of the page it would come from (None: no token, a forgery)."""
        form = dict(data or {})
        if token_from is not None:
            form["csrf_token"] = self.token(token_from)
        return self.client.post(path, data=form, **kwargs)

    def login(self, username: str, password: str = PASSWORD) -> httpx.Response:
        """Log in through the log-in form."""
        response = self.post("/login", {"username": username, "password": password, "next": "/queues"},
                             token_from="/login")
        return response


def make_user(runtime: Runtime, username: str, *, role: str = "staff", queues: Sequence[str] = (),
              name: str = "") -> None:
    """An account with the test password."""
    add_user(runtime.session_factory, username, PASSWORD, role=role, display_name=name or username.title(),
             queues=queues, known_queues=("customer_service", "operations", "legal", "finance", "it", "translation"))


def store_messages(runtime: Runtime, raws: Sequence[bytes]) -> list[int]:
    """Ingest raw messages for real (parse, dedupe, store); the new inquiries' ids, in order."""
    ingestor = Ingestor(runtime.session_factory, limits=runtime.parse_limits)
    stats = ingestor.ingest(SourceItem(Origin(kind="file", source=f"test-{n}.eml"), raw) for n, raw in enumerate(raws))
    return list(stats.inquiry_ids)


def decide(runtime: Runtime, inquiry_id: int, *, queue: str = "customer_service", topic: str = "renewal",
           language: str = "en", standard: bool = True, urgent: bool = False, complaint: bool = False,
           received_at: datetime | None = None, entities: Sequence[dict[str, Any]] = (),
           reason: str = "Standard question: front desk.", sent_at: datetime | None = None) -> None:
    """Store a chosen triage decision for an inquiry, as the triage service does (decision, state, audit event).

    ``received_at``: when the mail arrived (and was sent, unless ``sent_at`` says otherwise: a case's age
    starts when its mail was sent).
    """
    values = {
        "language": language, "language_confidence": 0.99, "language_band": "high", "topic": topic,
        "topic_confidence": 0.91, "topic_band": "high", "top_terms": ["renewal", "fee"],
        "topics": [{"topic": topic, "probability": 0.91}, {"topic": "fees", "probability": 0.05}],
        "entities": list(entities),
        "signals": {"complaint": complaint, "escalation": False, "urgent": urgent, "deadline": None,
                    "multi_topic": False, "other_topics": [], "automated": False, "evidence": []},
        "standard": standard, "queue": queue, "reason": reason, "rule_id": "standard" if standard else "test",
        "model_version": "test-model",
        "intents": [{"intent": topic, "probability": 0.91}],
        "answer_intents": [topic] if standard else [],
        "hold_reason": None if standard else "complaint",
    }
    state = "triaged" if standard else "routed"
    with unit_of_work(runtime.session_factory) as session:
        record = save_decisions(session, [(inquiry_id, values)], "test")[0]
        inquiry = session.get(Inquiry, inquiry_id)
        assert inquiry is not None
        if received_at is not None:
            inquiry.created_at = received_at
            inquiry.message.sent_at = sent_at or received_at
        before, inquiry.state = inquiry.state, state
        repo.record_event(session, "triaged", message_pk=inquiry.message_pk, inquiry_id=inquiry_id,
                          from_state=before, to_state=state, details={"decision_id": record.id})


def hours_ago(hours: float) -> datetime:
    """A moment some hours before now (UTC)."""
    return datetime.now(timezone.utc) - timedelta(hours=hours)


def settings_with(runtime: Runtime, **sections: Any) -> Settings:
    """The runtime's settings with some sections replaced."""
    return runtime.settings.model_copy(update=sections)


# --- fixtures (imported by the test modules that use them) ---------------------------------


@pytest.fixture
def sqlite_runtime(tmp_path: Path) -> Iterator[Runtime]:
    """A migrated SQLite database (for the tests that need not run on both databases)."""
    runtime = open_runtime(Settings(database=DatabaseSettings(url=f"sqlite:///{tmp_path / 'web.db'}")))
    try:
        yield runtime
    finally:
        runtime.close()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def module_runtime(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    """A migrated database shared by a module's tests (read-only tests), on SQLite then PostgreSQL."""
    from tests.support.postgres import create_database, drop_database

    if request.param == "sqlite":
        url, admin = f"sqlite:///{tmp_path_factory.mktemp('webdb') / 'web.db'}", None
    else:
        admin = request.getfixturevalue("pg_admin_dsn")
        url = create_database(admin)
    runtime = open_runtime(Settings(database=DatabaseSettings(url=url)))
    try:
        yield runtime
    finally:
        runtime.close()
        if admin is not None:
            drop_database(admin, url)


@pytest.fixture
def web(runtime: Runtime, tmp_path: Path) -> Iterator[Server]:
    """The review app on loopback over the test database (SQLite, then PostgreSQL)."""
    with serve_in_thread(context_for(runtime, tmp_path)) as server:
        yield server


@pytest.fixture
def web_sqlite(sqlite_runtime: Runtime, tmp_path: Path) -> Iterator[Server]:
    """The review app on loopback over a SQLite test database."""
    with serve_in_thread(context_for(sqlite_runtime, tmp_path)) as server:
        yield server
