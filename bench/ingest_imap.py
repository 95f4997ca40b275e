"""Benchmark: IMAP sync against a throw-away Dovecot (tests/support/dovecot.py).

1. APPEND 10,000 varied messages (and 2,000 more to another mailbox, to show memory does not grow),
   then time a cold ``run --once`` sync (fetch, parse, store; as bench/ingest_files.py, without the
   triage step) into SQLite and into PostgreSQL, each in its own process: messages/s and peak RSS,
   beside the bare ``BytesParser(policy=default)`` parse rate of the same messages measured right
   around it. Target: cold sync at least half the bare parse rate. One more line shows the 2,000
   with triage inline, as ``triage run --once`` ships (for information; the daemon triages on a
   thread of its own).
2. The delay from APPEND to stored under IDLE, median and p95 over 100 messages (the daemon running).
   Target: p95 under 1.0 s (Dovecot itself waits 0.5 s before it pushes).
3. 50 mailboxes watched at once, one message APPENDed to each: the time until all 50 are stored.
   Target: within 5 s.

    .venv/bin/python bench/ingest_imap.py [--count 10000] [--small 2000] [--idle 100] [--mailboxes 50]
                                          [--pg postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import bare_parse_rate, drop_pg, pg_database  # noqa: E402
from bench.corpus import varied_messages  # noqa: E402
from tests.support.dovecot import Dovecot, dovecot_server  # noqa: E402

APPEND_CHUNK = 200


def append_all(dovecot: Dovecot, user: str, raws: list[bytes]) -> list[bytes]:
    """MULTIAPPEND the messages in chunks; returns those the server accepted (it refuses NUL bytes)."""
    accepted: list[bytes] = []
    with dovecot.client(user) as client:
        for start in range(0, len(raws), APPEND_CHUNK):
            chunk = [raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") for raw in raws[start:start + APPEND_CHUNK]]
            chunk = [raw for raw in chunk if b"\x00" not in raw]
            client.multiappend("INBOX", chunk)
            accepted.extend(chunk)
    return accepted




_SYNC_SCRIPT = """
import json, sys, time
from pipeline.config import DatabaseSettings, MailboxSettings, Settings
from pipeline.daemon import run_once
from pipeline.runtime import open_runtime
from pipeline.handoff import leave_new
url, host, port, user, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
box = MailboxSettings(host=host, port=port, tls="none", user=user, password="secret")
rt = open_runtime(Settings(database=DatabaseSettings(url=url), mailboxes={"bench": box}))
start = time.perf_counter()
# "store": fetch, parse, store (as bench/ingest_files.py); "triage": as `triage run --once` ships, triage inline.
result = run_once(rt, rt.settings.mailboxes, sink=leave_new if mode == "store" else None)
elapsed = time.perf_counter() - start
rt.close()
# VmHWM is this process's own peak; ru_maxrss would include the parent's peak from before the fork.
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({**result.stats.as_json(), "seconds": elapsed, "failures": result.failures,
                  "rss_mb": hwm / 1024}))
"""


def cold_sync(dovecot: Dovecot, user: str, url: str, mode: str = "store") -> dict[str, float]:
    """A cold ``run --once`` of one mailbox in its own process: its counts, rate and peak RSS."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    out = subprocess.run([sys.executable, "-c", _SYNC_SCRIPT, url, dovecot.host, str(dovecot.port), user, mode],
                         capture_output=True, text=True, env=env, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "sync failed")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["rate"] = result["seen"] / result["seconds"]
    return result






class StoreClock:
    """Records when each mailbox's messages were committed (the ingest sink runs right after the commit)."""

    def __init__(self) -> None:
        self.stored: dict[str, list[float]] = {}
        self.changed = threading.Condition()

    def sink_for(self, name: str, then):  # type: ignore[no-untyped-def]
        def sink(inquiry_ids: object) -> None:
            with self.changed:
                self.stored.setdefault(name, []).extend([time.perf_counter()] * len(inquiry_ids))  # type: ignore
                self.changed.notify_all()
            then(inquiry_ids)  # on to the daemon's own (background) triage
        return sink

    def wait(self, predicate, timeout: float) -> bool:  # type: ignore[no-untyped-def]
        with self.changed:
            return self.changed.wait_for(predicate, timeout)


def start_daemon(dovecot: Dovecot, users: dict[str, str], db_url: str, clock: StoreClock):  # type: ignore
    from pipeline.config import DatabaseSettings, MailboxSettings, Settings
    from pipeline.daemon import Daemon
    from pipeline.runtime import open_runtime

    boxes = {name: MailboxSettings(host=dovecot.host, port=dovecot.port, tls="none", user=user, password="secret",
                                   poll_interval_seconds=3600) for name, user in users.items()}
    runtime = open_runtime(Settings(database=DatabaseSettings(url=db_url), mailboxes=boxes))
    daemon = Daemon(runtime, boxes)
    for name, worker in daemon.workers.items():
        worker.ingestor.sink = clock.sink_for(name, worker.ingestor.sink)
    daemon.start()
    deadline = time.monotonic() + 60
    for watcher in daemon.watchers:
        if not watcher.idling.wait(max(0.0, deadline - time.monotonic())):
            raise RuntimeError(f"{watcher.name} never started idling")
    # Let the first (empty) syncs finish.
    time.sleep(1.0)
    return runtime, daemon


def idle_delays(dovecot: Dovecot, tmp: Path, count: int) -> list[float]:
    """APPEND one message at a time and time how long until it is stored, with the daemon idling."""
    user = dovecot.fresh_user()
    clock = StoreClock()
    runtime, daemon = start_daemon(dovecot, {"idle": user}, f"sqlite:///{tmp / 'idle.db'}", clock)
    delays = []
    try:
        raws = list(varied_messages(count, seed=11))
        with dovecot.client(user) as client:
            for n, raw in enumerate(raws):
                raw = raw.replace(b"\x00", b"")
                started = time.perf_counter()
                client.append("INBOX", raw)
                if not clock.wait(lambda: len(clock.stored.get("idle", [])) > n, 10):
                    raise RuntimeError(f"message {n} was not stored within 10 s")
                delays.append(clock.stored["idle"][n] - started)
    finally:
        daemon.shutdown()
        runtime.close()
    return delays


def many_mailboxes(dovecot: Dovecot, tmp: Path, count: int) -> float:
    """Seconds from the first APPEND until one new message in each of ``count`` watched mailboxes is stored."""
    users = {f"m{n}": dovecot.fresh_user() for n in range(count)}
    clock = StoreClock()
    runtime, daemon = start_daemon(dovecot, users, f"sqlite:///{tmp / 'many.db'}", clock)
    try:
        raws = list(varied_messages(count, seed=13))
        clients = [dovecot.client(user) for user in users.values()]
        started = time.perf_counter()
        for client, raw in zip(clients, raws):
            client.append("INBOX", raw.replace(b"\x00", b""))
        if not clock.wait(lambda: sum(1 for t in clock.stored.values() if t) == count, 30):
            raise RuntimeError(f"only {len(clock.stored)} of {count} mailboxes stored their message within 30 s")
        last = max(times[0] for times in clock.stored.values())
        for client in clients:
            client.logout()
    finally:
        daemon.shutdown()
        runtime.close()
    return last - started


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=2_000, help="a smaller sync, to show RSS does not grow")
    parser.add_argument("--idle", type=int, default=100, help="messages for the IDLE delay")
    parser.add_argument("--mailboxes", type=int, default=50)
    parser.add_argument("--pg", default=os.environ.get("TRIAGE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")

    with tempfile.TemporaryDirectory(prefix="triage-bench-imap-") as tmp_name, \
            dovecot_server(pool=args.mailboxes + 10) as dovecot:
        tmp = Path(tmp_name)
        big_user, small_user = dovecot.fresh_user(), dovecot.fresh_user()
        started = time.perf_counter()
        raws = append_all(dovecot, big_user, list(varied_messages(args.count)))
        small_raws = append_all(dovecot, small_user, list(varied_messages(args.small, seed=3)))
        size = sum(len(raw) for raw in raws)
        print(f"APPENDed {len(raws)} messages ({size / 1e6:.1f} MB) and {args.small} more "
              f"in {time.perf_counter() - started:.1f} s")
        print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs (the machine is shared)")
        bare = bare_parse_rate(raws)
        print(f"bare BytesParser(policy=default): {bare:,.0f} msg/s over {len(raws)} messages")

        rows = []
        for label in ("sqlite", "postgresql"):
            for user, sample in ((small_user, small_raws), (big_user, raws)):
                n = len(sample)
                # The bare parse rate is measured right before and after each sync, on the same messages,
                # so that load from other processes hits both sides of the comparison alike.
                before = bare_parse_rate(sample)
                if label == "sqlite":
                    result = cold_sync(dovecot, user, f"sqlite:///{tmp / f'cold-{n}.db'}")
                else:
                    try:
                        name, url = pg_database(args.pg)
                    except Exception as exc:  # no server: say so, keep the SQLite figures
                        print(f"postgresql: skipped ({exc})")
                        break
                    try:
                        result = cold_sync(dovecot, user, url)
                    finally:
                        drop_pg(args.pg, name)
                local_bare = (before + bare_parse_rate(sample)) / 2
                rows.append((label, n, result))
                verdict = "OK" if result["rate"] >= local_bare / 2 else "BELOW TARGET"
                print(f"cold sync {label:<10} {n:>6} msgs: {result['rate']:8,.0f} msg/s "
                      f"({result['rate'] / local_bare:.2f} x bare parse of {local_bare:,.0f} msg/s measured around it, "
                      f"target >= 0.50: {verdict})  "
                      f"peak RSS {result['rss_mb']:.0f} MB  stored {result['stored']} "
                      f"quarantined {result['quarantined']}" + (f"  FAILED {result['failures']}"
                                                                 if result["failures"] else ""))
        triaged = cold_sync(dovecot, small_user, f"sqlite:///{tmp / 'cold-triage.db'}", mode="triage")
        print(f"for information, cold sync sqlite {len(small_raws)} msgs with triage inline (as `triage run --once` "
              f"now does): {triaged['rate']:,.0f} msg/s, peak RSS {triaged['rss_mb']:.0f} MB")
        for label in ("sqlite", "postgresql"):
            sizes = [(n, r["rss_mb"]) for lab, n, r in rows if lab == label]
            if len(sizes) == 2:
                (n1, r1), (n2, r2) = sizes
                print(f"{label}: peak RSS {r1:.0f} MB at {n1} msgs vs {r2:.0f} MB at {n2} msgs "
                      f"({'flat' if r2 <= r1 * 1.25 + 10 else 'GROWS'})")

        delays = idle_delays(dovecot, tmp, args.idle)
        p95 = percentile(delays, 0.95)
        print(f"IDLE APPEND -> stored over {len(delays)} messages: median {statistics.median(delays):.3f} s, "
              f"p95 {p95:.3f} s, max {max(delays):.3f} s (target p95 < 1.0 s: {'OK' if p95 < 1.0 else 'MISSED'})")

        elapsed = many_mailboxes(dovecot, tmp, args.mailboxes)
        print(f"{args.mailboxes} mailboxes, one new message each: all stored {elapsed:.2f} s after the first APPEND "
              f"(target < 5 s: {'OK' if elapsed < 5 else 'MISSED'})")
        print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
