"""Benchmark: search at 100,000 inquiries in SQLite and in PostgreSQL.

Fills each database as ``bench/web.py`` does (bulk insert of messages, inquiries,
decisions and audit events; the full-text index and reference mentions are kept
by the database's triggers while it fills), brings the review app's cases up to
date, then times the search service (parsing, reference normalisation and the
store's queries, as the search page runs them) one query at a time, for an
admin (every queue) and for staff (two queues): common words that match every
inquiry, rare words, phrases, prefixes, reference numbers written in several
ways, sender, organisation, date range, queue and state. Prints median and p95
in milliseconds. Target: p95 under 200 ms on both databases.

    .venv/bin/python bench/search.py [--count 100000] [--rounds 20] [--only sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.web import database, fill, percentile  # noqa: E402
from pipeline.config import DatabaseSettings, Settings  # noqa: E402
from pipeline.runtime import open_runtime  # noqa: E402
from webapp.services.cases import rebuild_cases  # noqa: E402
from webapp.services.search import run_search  # noqa: E402
from webapp.services.users import Actor  # noqa: E402
from webapp.vocabulary import Vocabulary  # noqa: E402

QUEUES = ("customer_service", "operations", "finance", "legal", "it", "translation")
VOCABULARY = Vocabulary(queues={q: "" for q in QUEUES})
ADMIN = Actor(id=1, username="bench", display_name="", role="admin", queues=frozenset())
STAFF = Actor(id=2, username="staff", display_name="", role="staff", queues=frozenset({"finance", "legal"}))


def searches(count: int, rng: random.Random) -> list[dict[str, list[str]]]:
    """The query mix: what staff type, and the filters they choose."""
    n = rng.randint(1, count)
    today = date.today()
    return [
        {"q": ["renewal fee"]},                                  # every inquiry matches
        {"q": [f"reference {n}"]},                               # one matches
        {"q": ['"renewal fee"']},
        {"q": ["renew*"]},
        {"q": ["zebra crossing"]},                               # none matches
        {"q": [f"DM/{200000 + n % 99999}"]},
        {"q": [f"dm {200000 + n % 99999}"]},
        {"q": [f"DM{200000 + n % 99999} renewal"]},
        {"sender": [f"s{n % 977}@example.org"]},
        {"organisation": ["example.org"]},
        {"q": ["confirm"], "since": [(today - timedelta(days=7)).isoformat()], "until": [today.isoformat()]},
        {"q": ["renewal"], "queue": ["finance"], "state": ["routed"]},
        {"q": ["renewal OR fee AND \"unbalanced"]},
        {"q": ["renewal"], "page": ["5"]},
    ]


def run(kind: str, count: int, rounds: int) -> dict[str, list[float]]:
    """Fill a database of this kind and time the query mix; milliseconds per actor."""
    with database(kind) as url:
        print(f"{kind}: filling {count:,} inquiries…", flush=True)
        print(f"{kind}: filled in {fill(url, count):.1f} s", flush=True)
        runtime = open_runtime(Settings(database=DatabaseSettings(url=url)))
        try:
            started = time.perf_counter()
            rebuild_cases(runtime.session_factory)
            print(f"{kind}: cases up to date in {time.perf_counter() - started:.1f} s", flush=True)
            rng = random.Random(11)
            for params in searches(count, rng):  # warm-up: caches and pooled connections
                run_search(runtime.session_factory, ADMIN, VOCABULARY, params)
            results: dict[str, list[float]] = {"admin": [], "staff": []}
            slowest: dict[str, float] = {}
            for _ in range(rounds):
                for params in searches(count, rng):
                    for name, actor in (("admin", ADMIN), ("staff", STAFF)):
                        begun = time.perf_counter()
                        run_search(runtime.session_factory, actor, VOCABULARY, params)
                        elapsed = (time.perf_counter() - begun) * 1000
                        results[name].append(elapsed)
                        key = f"{name} {params}"
                        slowest[key] = max(slowest.get(key, 0.0), elapsed)
            for key, ms in sorted(slowest.items(), key=lambda kv: -kv[1])[:3]:
                print(f"{kind}: slowest {ms:.1f} ms: {key}")
            return results
        finally:
            runtime.close()


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    for kind in ("sqlite", "postgresql"):
        if args.only and kind != args.only:
            continue
        for name, values in run(kind, args.count, args.rounds).items():
            print(f"{kind} search ({name}): n={len(values)} p50={statistics.median(values):.1f} ms "
                  f"p95={percentile(values, 0.95):.1f} ms (target p95 < 200 ms)")


if __name__ == "__main__":
    main()
