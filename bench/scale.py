"""Benchmark: 1, 2 and 3 daemons against one PostgreSQL and one Dovecot.

A throw-away Dovecot (tests/support/dovecot.py) gets ``--count`` varied messages spread over ``--mailboxes``
mailboxes of two folders each. For each number of daemons, a fresh PostgreSQL database is migrated and that
many real ``triage run`` processes start at once; the clock runs until every message is stored and triaged
(nothing left ``new``, every inquiry with a current decision). Printed per run: time until every UID was
handled and until everything was triaged, messages/s, stored and quarantined counts, and duplicates (a
(mailbox, folder, UID) recorded twice, or one quarantined twice; a message is stored once by its unique
fingerprint), which must be 0.
Process start-up (imports, model loading) is inside the time, as in production.

    .venv/bin/python bench/scale.py [--count 3000] [--mailboxes 6] [--daemons 1,2,3]
                                    [--pg postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import drop_pg, pg_database  # noqa: E402
from bench.corpus import varied_messages  # noqa: E402
from tests.support.dovecot import Dovecot, dovecot_server  # noqa: E402

TRIAGE = str(Path(sys.executable).with_name("triage"))
FOLDERS = ("INBOX", "Cases")
APPEND_CHUNK = 200


def fill(dovecot: Dovecot, count: int, mailboxes: int) -> tuple[dict[str, str], int]:
    """Spread ``count`` distinct messages over the mailboxes' folders; return mailbox -> user and how many went in."""
    users = {f"box{n}": dovecot.fresh_user() for n in range(mailboxes)}
    places = [(user, folder) for user in users.values() for folder in FOLDERS]
    raws = [raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") for raw in varied_messages(count)]
    raws = [raw for raw in raws if b"\x00" not in raw]  # Dovecot refuses NUL bytes
    appended = 0
    for index, (user, folder) in enumerate(places):
        share = raws[index::len(places)]
        with dovecot.client(user) as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            for start in range(0, len(share), APPEND_CHUNK):
                client.multiappend(folder, share[start:start + APPEND_CHUNK])
        appended += len(share)
    return users, appended


def daemon_env(dovecot: Dovecot, users: dict[str, str], url: str, model: Path) -> dict[str, str]:
    """The environment of one ``triage run``: the database, the model, every mailbox."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    env.update({"TRIAGE_DATABASE_URL": url, "TRIAGE_TRIAGE__MODEL_PATH": str(model),
                "TRIAGE_TRIAGE__AUTO_TRAIN": "false", "TRIAGE_DAEMON__PENDING_INTERVAL_SECONDS": "2",
                "TRIAGE_LOGGING__LEVEL": "WARNING"})
    for name, user in users.items():
        prefix = f"TRIAGE_MAILBOXES__{name.upper()}__"
        env.update({f"{prefix}HOST": dovecot.host, f"{prefix}PORT": str(dovecot.port), f"{prefix}USER": user,
                    f"{prefix}PASSWORD": dovecot.users[user], f"{prefix}TLS": "none",
                    f"{prefix}FOLDERS": ",".join(FOLDERS), f"{prefix}POLL_INTERVAL_SECONDS": "2",
                    f"{prefix}MAX_CONNECTIONS": "2"})
    return env


def counts(url: str) -> dict[str, int]:
    """What the database holds: UIDs handled (fresh folders: UIDs 1..n), messages, quarantined, places taken twice,
    inquiries new or undecided."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            row = connection.execute(text("""
                SELECT (SELECT coalesce(sum(last_uid), 0) FROM folder_sync_state),
                       (SELECT count(*) FROM messages),
                       (SELECT count(*) FROM quarantine),
                       (SELECT count(*) FROM (SELECT 1 FROM sightings WHERE uid IS NOT NULL
                                              GROUP BY mailbox, folder, uidvalidity, uid HAVING count(*) > 1) d)
                     + (SELECT count(*) FROM (SELECT 1 FROM quarantine GROUP BY source HAVING count(*) > 1) q),
                       (SELECT count(*) FROM inquiries WHERE state = 'new'),
                       (SELECT count(*) FROM inquiries i WHERE NOT EXISTS (
                            SELECT 1 FROM decisions d WHERE d.inquiry_id = i.id AND d.is_current))
            """)).one()
    finally:
        engine.dispose()
    return dict(zip(("handled", "stored", "quarantined", "twice", "new", "undecided"), (int(v) for v in row)))


def run(daemons: int, env: dict[str, str], url: str, expected: int, timeout: float) -> dict[str, float]:
    """Start ``daemons`` processes at once; time until ``expected`` messages are stored and triaged."""
    processes = [subprocess.Popen([TRIAGE, "run"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True) for _ in range(daemons)]
    started = time.perf_counter()
    stored_at = None
    try:
        while True:
            now = counts(url)
            if stored_at is None and now["handled"] >= expected:
                stored_at = time.perf_counter() - started
            if now["handled"] >= expected and now["new"] == 0 and now["undecided"] == 0:
                break
            if time.perf_counter() - started > timeout:
                raise RuntimeError(f"{daemons} daemon(s) did not drain within {timeout:g} s: {now}")
            if any(p.poll() is not None for p in processes):
                raise RuntimeError(f"a daemon exited: {[p.stderr.read() for p in processes if p.stderr]}")
            time.sleep(0.2)
        drained = time.perf_counter() - started
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        errors = []
        for process in processes:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stderr:
                errors += [line for line in process.stderr.read().splitlines() if " ERROR " in line]
                process.stderr.close()
    final = counts(url)
    return {"daemons": daemons, "stored_s": stored_at or drained, "drained_s": drained,
            "rate": expected / drained, "twice": final["twice"], "stored": final["stored"],
            "quarantined": final["quarantined"], "errors": len(errors)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--mailboxes", type=int, default=6)
    parser.add_argument("--daemons", default="1,2,3")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--pg", default=os.environ.get("TRIAGE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()

    from classifiers.config import load_triage_config
    from classifiers.registry import build_model, save_model
    from pipeline.config import DatabaseSettings, Settings, TriageSettings
    from pipeline.runtime import open_runtime

    with tempfile.TemporaryDirectory(prefix="triage-scale-") as tmp, dovecot_server(pool=args.mailboxes + 5) as dovecot:
        model = Path(tmp) / "model.skops"
        settings = TriageSettings(model_path=model, auto_train=False)
        save_model(build_model(settings, load_triage_config(settings)), model)
        users, expected = fill(dovecot, args.count, args.mailboxes)
        print(f"{expected} messages in {args.mailboxes} mailboxes x {len(FOLDERS)} folders; one PostgreSQL; "
              f"{os.cpu_count()} CPUs")
        print(f"{'daemons':>7} {'stored (s)':>10} {'drained (s)':>11} {'msg/s':>7} {'stored':>7} "
              f"{'quarantined':>11} {'duplicates':>10} {'ERROR lines':>11}")
        for daemons in (int(n) for n in args.daemons.split(",")):
            name, url = pg_database(args.pg)
            try:
                open_runtime(Settings(database=DatabaseSettings(url=url))).close()  # migrated before they start
                result = run(daemons, daemon_env(dovecot, users, url, model), url, expected, args.timeout)
            finally:
                drop_pg(args.pg, name)
            print(f"{result['daemons']:>7} {result['stored_s']:>10.1f} {result['drained_s']:>11.1f} "
                  f"{result['rate']:>7.0f} {result['stored']:>7} {result['quarantined']:>11} {result['twice']:>10} "
                  f"{result['errors']:>11}")


if __name__ == "__main__":
    main()
