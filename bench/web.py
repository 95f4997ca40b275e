"""Benchmark: the review app with 100,000 inquiries in SQLite and in PostgreSQL.

For each database: fill it with 100,000 triaged inquiries (bulk insert of
messages, inquiries, decisions and their audit events), let ``triage serve``
catch up with them as it does at start-up, then time with a real HTTP client
on loopback, one request at a time: the queue page (with a mix of filters and
pages), the inquiry page, and the approve action (reply edited and approved;
delivery to a real Dovecot's Drafts happens after the response, in the
background, when Dovecot is installed). Prints median and p95 in milliseconds.
Target: p95 under 100 ms for each, on both databases.

    .venv/bin/python bench/web.py [--count 100000] [--requests 300] [--only sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

from pipeline.config import DatabaseSettings, Settings  # noqa: E402
from pipeline.runtime import open_runtime  # noqa: E402
from pipeline.store.models import AuditEvent, DecisionRecord, Inquiry, Message, RawBlob, Thread  # noqa: E402

QUEUES = [("customer_service", 50), ("operations", 20), ("finance", 10), ("legal", 8), ("it", 7), ("translation", 5)]
TOPICS = ["application", "renewal", "irregularity", "correction", "publication", "fees", "priority_document",
          "decision", "recording_change", "eservices", "general"]
LANGUAGES = ["en"] * 5 + ["fr"] * 3 + ["es"] * 3 + ["de", "it", "und"]
PASSWORD = "benchmark password 1"
BATCH = 5000
RAW = (b"From: Anna Schmidt <a.schmidt@schmidt-ip.example.de>\nTo: helpdesk@registry.example.org\n"
       b"Subject: Renewal of DM/212 345\nDate: Mon, 02 Nov 2026 09:00:00 +0000\nMessage-ID: <bench@example.de>\n"
       b"MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n"
       b"Dear Sir or Madam,\n\nOur client's international registration DM/212 345 expires on 15 March 2027. "
       b"Could you confirm the renewal fee and whether we can still renew for only some of the designated "
       b"contracting parties?\n\nKind regards,\nAnna Schmidt\n")


def _rows(count: int, seed: int = 7) -> Iterator[tuple[list[dict[str, Any]], ...]]:
    """Rows of threads, messages, inquiries, decisions and audit events, in batches."""
    rng = random.Random(seed)
    now = datetime.now(timezone.utc)
    sha = hashlib.sha256(RAW).hexdigest()
    weights = [w for _, w in QUEUES]
    names = [q for q, _ in QUEUES]
    for start in range(1, count + 1, BATCH):
        threads: list[dict[str, Any]] = []
        messages: list[dict[str, Any]] = []
        inquiries: list[dict[str, Any]] = []
        decisions: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        for n in range(start, min(count, start + BATCH - 1) + 1):
            queue = rng.choices(names, weights)[0]
            topic, language = rng.choice(TOPICS), rng.choice(LANGUAGES)
            received = now - timedelta(minutes=rng.randint(1, 30 * 24 * 60))
            standard = queue == "customer_service"
            state = rng.choices(["sent", "triaged" if standard else "routed"], [3, 7])[0]
            urgent, complaint = rng.random() < 0.1, rng.random() < 0.05
            subject = f"Renewal of DM/{200000 + n % 99999} question {n}"
            body = (f"Dear Sir or Madam,\n\nOur registration DM/{200000 + n % 99999} expires on 15 March 2027. "
                    f"Could you confirm the renewal fee? Reference {n}.\n")
            threads.append({"id": n, "thread_key": f"bench-{n}", "subject": subject, "created_at": received,
                            "updated_at": received})
            messages.append({
                "id": n, "fingerprint": hashlib.sha256(f"bench-{n}".encode()).hexdigest(), "raw_sha256": sha,
                "message_id": f"bench-{n}@example.org", "in_reply_to": None, "references": [], "thread_id": n,
                "subject": subject, "sender_name": f"Sender {n % 977}", "sender_address": f"s{n % 977}@example.org",
                "reply_to_address": None, "recipients": ["helpdesk@registry.example.org"], "sent_at": received,
                "size": len(RAW), "content_type": "text/plain", "is_auto_reply": False, "is_bounce": False,
                "is_mailing_list": False, "automation_reason": None, "defects": [], "created_at": received,
            })
            inquiries.append({"id": n, "message_pk": n, "state": state, "text": body, "new_text": body,
                              "quoted_text": "", "signature": "", "forwarded_text": "", "html": None,
                              "created_at": received, "updated_at": received})
            decisions.append({
                "id": n, "inquiry_id": n, "is_current": True, "language": language, "language_confidence": 0.98,
                "language_band": "high", "topic": topic, "topic_confidence": 0.9, "topic_band": "high",
                "top_terms": ["renewal", "fee", "registration"], "topics": [{"topic": topic, "probability": 0.9}],
                "entities": [{"kind": "registration", "value": f"DM/{200000 + n % 99999}", "start": 45,
                              "end": 55, "source": "body"}],
                "signals": {"complaint": complaint, "escalation": False, "urgent": urgent, "deadline": None,
                            "multi_topic": False, "other_topics": [], "automated": False, "evidence": []},
                "standard": standard, "queue": queue, "reason": f"Benchmark routing to {queue}.",
                "rule_id": "standard" if standard else "not-standard", "model_version": "bench",
                "trigger": "ingest", "created_at": received,
            })
            events.append({"event": "triaged", "inquiry_id": n, "message_pk": n, "from_state": "new",
                           "to_state": state, "actor": "system", "details": {"decision_id": n},
                           "at": received})
        yield threads, messages, inquiries, decisions, events


def fill(url: str, count: int) -> float:
    """Create the schema and insert ``count`` triaged inquiries; seconds taken."""
    started = time.perf_counter()
    runtime = open_runtime(Settings(database=DatabaseSettings(url=url)))
    try:
        with runtime.engine.begin() as connection:
            connection.execute(insert(RawBlob), [{"sha256": hashlib.sha256(RAW).hexdigest(), "size": len(RAW),
                                                  "data": RAW, "created_at": datetime.now(timezone.utc)}])
        for threads, messages, inquiries, decisions, events in _rows(count):
            with runtime.engine.begin() as connection:
                for model, rows in ((Thread, threads), (Message, messages), (Inquiry, inquiries),
                                    (DecisionRecord, decisions), (AuditEvent, events)):
                    connection.execute(insert(model), rows)
        if runtime.engine.dialect.name == "postgresql":
            with runtime.engine.begin() as connection:
                for table in ("threads", "messages", "inquiries", "decisions"):
                    connection.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                            f"(SELECT max(id) FROM {table}))"))
            with runtime.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text("VACUUM ANALYZE"))  # what autovacuum does after a bulk load
    finally:
        runtime.close()
    return time.perf_counter() - started


def add_users_and_suggestions(url: str, requests: int, rng: random.Random) -> list[int]:
    """An admin for the requests, and a suggested reply on each inquiry the approve action will be timed on."""
    from pipeline.store.db import unit_of_work
    from responders.context import ReplyContext
    from responders.suggest import NoReply
    from webapp.services import suggestions as reply_service
    from webapp.services.users import add_user

    settings = Settings(database=DatabaseSettings(url=url))
    runtime = open_runtime(settings)
    try:
        add_user(runtime.session_factory, "bench", PASSWORD, role="admin", display_name="Bench")
        context = ReplyContext.load(settings)
        with runtime.engine.connect() as connection:
            candidates = list(connection.scalars(text(
                "SELECT inquiry_id FROM decisions WHERE queue = 'customer_service' AND language IN ('en', 'fr', 'es')"
                " ORDER BY inquiry_id")))
        targets = rng.sample(candidates, requests)
        with unit_of_work(runtime.session_factory) as session:
            for inquiry_id in targets:
                session.execute(text("UPDATE inquiries SET state = 'triaged' WHERE id = :id"), {"id": inquiry_id})
                made = reply_service.suggest_for_inquiry(session, inquiry_id, context, require_standard=False)
                assert not isinstance(made, NoReply), made
    finally:
        runtime.close()
    return targets


def percentile(values: list[float], share: float) -> float:
    """The value below which ``share`` of the values fall (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(share * len(ordered) + 0.5)) - 1))]


def login(client: httpx.Client) -> None:
    """Log in through the form, as a browser does."""
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    done = client.post("/login", data={"username": "bench", "password": PASSWORD, "csrf_token": token})
    assert done.status_code == 303, done.text


def timed(client: httpx.Client, method: str, path: str, expect: int, **kwargs: Any) -> float:
    """Milliseconds for one request; the response must have the expected status."""
    started = time.perf_counter()
    response = client.request(method, path, **kwargs)
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text[:300]}"
    return elapsed


def measure(base: str, requests: int, targets: list[int], rng: random.Random, count: int) -> dict[str, list[float]]:
    """Time the three requests; returns milliseconds per request kind."""
    filters = ["", "?topic=renewal", "?language=fr", "?signal=urgent", "?age=1d", "?sort=newest", "?page=2",
               "?status=all", "?topic=fees&language=en", "?signal=complaint&sort=newest", "?age=overdue",
               "?status=sent&page=3"]
    results: dict[str, list[float]] = {"queue page": [], "inquiry page": [], "approve": []}
    with httpx.Client(base_url=base, headers={"origin": base}, timeout=60) as client:
        login(client)
        for _ in range(20):  # warm-up: templates compiled, connections pooled, caches warm
            client.get("/queues/customer_service")
            client.get(f"/inquiries/{rng.randint(1, count)}")
        for n in range(requests):
            path = "/queues/" + rng.choice(["customer_service"] * 4 + ["operations", "finance", "legal"])
            results["queue page"].append(timed(client, "GET", path + filters[n % len(filters)], 200))
        for _ in range(requests):
            results["inquiry page"].append(timed(client, "GET", f"/inquiries/{rng.randint(1, count)}", 200))
        for inquiry_id in targets[:requests]:
            data = client.get(f"/api/inquiries/{inquiry_id}").json()
            suggestion = data["suggestion"]
            form = {"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"',  # type: ignore[union-attr]
                                            client.get("/queues").text).group(1),
                    "version": data["case"]["version"], "suggestion_version": suggestion["version"],
                    "subject": suggestion["subject"], "body": suggestion["body"] + "\nChecked.\n", "do": "approve"}
            results["approve"].append(timed(client, "POST", f"/inquiries/{inquiry_id}/reply", 303, data=form))
    return results


@contextmanager
def database(kind: str) -> Iterator[str]:
    """A fresh database URL of this kind, dropped afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="triage-bench-web-") as directory:
            yield f"sqlite:///{directory}/bench.db"
        return
    from tests.support.postgres import create_database, drop_database, postgres_server

    with postgres_server() as admin:
        url = create_database(admin)
        try:
            yield url
        finally:
            drop_database(admin, url)


@contextmanager
def drafts_mailbox() -> Iterator[dict[str, str]]:
    """Environment for a real Dovecot mailbox to deliver approved replies to (empty when Dovecot is missing)."""
    from tests.support.dovecot import DovecotUnavailable, dovecot_server

    try:
        with dovecot_server() as dovecot:
            user = dovecot.add_user("bench", "secret")
            prefix = "TRIAGE_MAILBOXES__DESK__"
            yield {f"{prefix}HOST": dovecot.host, f"{prefix}PORT": str(dovecot.port), f"{prefix}TLS": "none",
                   f"{prefix}USER": user, f"{prefix}PASSWORD": "secret", f"{prefix}DELIVERY__MODE": "drafts",
                   f"{prefix}DELIVERY__FROM_ADDRESS": "helpdesk@registry.example.org"}
    except DovecotUnavailable:
        print("  (Dovecot not installed: approved replies are delivered nowhere; approve itself is still timed)")
        prefix = "TRIAGE_MAILBOXES__DESK__"
        yield {f"{prefix}HOST": "127.0.0.1", f"{prefix}PORT": "9", f"{prefix}TLS": "none", f"{prefix}USER": "bench",
               f"{prefix}PASSWORD": "secret", f"{prefix}DELIVERY__FROM_ADDRESS": "helpdesk@registry.example.org"}


def run(kind: str, count: int, requests: int, *, cache: bool = True) -> dict[str, Any]:
    """Fill one database, start `triage serve` on it, and time the requests."""
    from tests.e2e.web import clean_env, serve_process

    rng = random.Random(11)
    with ExitStack() as stack:
        url = stack.enter_context(database(kind))
        seconds = fill(url, count)
        print(f"{kind}: {count:,} inquiries stored in {seconds:.1f} s")
        targets = add_users_and_suggestions(url, requests, rng)
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="triage-bench-serve-")))
        env = clean_env(TRIAGE_DATABASE_URL=url, TRIAGE_WEB__SECRET_KEY_FILE=str(home / "secret"),
                        TRIAGE_LOGGING__LEVEL="WARNING", **stack.enter_context(drafts_mailbox()),
                        **({} if cache else {"TRIAGE_WEB__COUNTS_SECONDS": "0"}))
        started = time.perf_counter()
        server = stack.enter_context(serve_process(env, home))
        print(f"{kind}: triage serve answered after {time.perf_counter() - started:.1f} s "
              f"(catching up with {count:,} triage events)")
        results = measure(server.url, requests, targets, rng, count)
    return results


def main() -> None:
    """Run on both databases and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--no-count-cache", action="store_true",
                        help="Count every queue on every request (web.counts_seconds = 0).")
    args = parser.parse_args()
    table = []
    for kind in ("sqlite", "postgresql"):
        if args.only and kind != args.only:
            continue
        for name, values in run(kind, args.count, args.requests, cache=not args.no_count_cache).items():
            table.append((kind, name, len(values), statistics.median(values), percentile(values, 0.95)))
    print(f"\nreview app, {args.count:,} inquiries, one request at a time over loopback "
          f"(cores: {os.cpu_count()}; queue counts "
          f"{'recounted every request' if args.no_count_cache else 'cached while nothing changes'})")
    print(f"{'database':<11} {'request':<13} {'n':>5} {'median ms':>10} {'p95 ms':>8}  target p95 < 100 ms")
    for kind, name, n, median, p95 in table:
        print(f"{kind:<11} {name:<13} {n:>5} {median:>10.1f} {p95:>8.1f}  {'ok' if p95 < 100 else 'MISSED'}")


if __name__ == "__main__":
    main()
