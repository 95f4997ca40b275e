"""Benchmark: import 10,000 varied messages from an mbox into SQLite and PostgreSQL.

Prints messages/s and peak RSS for each database, and the rate of bare
``BytesParser(policy=default)`` parsing of the same messages in the same run.
Target: ingest at least half the bare parse rate; peak RSS that does not grow
with the number of messages (compare the two sizes printed).

    .venv/bin/python bench/ingest_files.py [--count 10000] [--pg postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import bare_parse_rate, drop_pg, pg_database  # noqa: E402
from bench.corpus import write_mbox  # noqa: E402


def mbox_messages(mbox: Path) -> list[bytes]:
    """The raw messages of an mbox, as the ingest reads them."""
    from pipeline.sources.files import iter_mbox

    return [item.raw for item in iter_mbox(mbox) if hasattr(item, "raw")]


def run_ingest(mbox: Path, url: str) -> dict[str, float]:
    """Ingest in a process of its own; return its rate and peak RSS.

    Peak RSS is the child's VmHWM: ru_maxrss would include the parent's memory at fork time.
    """
    script = (
        "import json, sys, time\n"
        "from pathlib import Path\n"
        "from pipeline.config import DatabaseSettings, Settings\n"
        "from pipeline.ingest import Ingestor\n"
        "from pipeline.runtime import open_runtime\n"
        "from pipeline.sources.files import iter_paths\n"
        "rt = open_runtime(Settings(database=DatabaseSettings(url=sys.argv[2])))\n"
        "start = time.perf_counter()\n"
        "stats = Ingestor(rt.session_factory, limits=rt.parse_limits).ingest(iter_paths([Path(sys.argv[1])]))\n"
        "elapsed = time.perf_counter() - start\n"
        "hwm = next(l for l in open('/proc/self/status') if l.startswith('VmHWM'))\n"
        "print(json.dumps({**stats.as_json(), 'seconds': elapsed, 'rss_mb': int(hwm.split()[1]) / 1024}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    out = subprocess.run([sys.executable, "-c", script, str(mbox), url], capture_output=True, text=True, env=env,
                         cwd=Path(__file__).resolve().parent.parent, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["rate"] = result["seen"] / result["seconds"]
    return result






def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=2_000, help="a smaller import, to show RSS does not grow")
    parser.add_argument("--pg", default=os.environ.get("TRIAGE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="triage-bench-") as tmp:
        tmpdir = Path(tmp)
        mbox = tmpdir / "bench.mbox"
        small = tmpdir / "small.mbox"
        size = write_mbox(mbox, args.count)
        write_mbox(small, args.small)
        print(f"mbox: {args.count} messages, {size / 1e6:.1f} MB")
        raws = mbox_messages(mbox)
        parsed = len(raws)
        bare_rate = bare_parse_rate(raws)
        del raws
        print(f"bare BytesParser(policy=default): {bare_rate:,.0f} msg/s over {parsed} messages")
        rows = []
        for label, target in (("sqlite", "sqlite"), ("postgresql", "pg")):
            for path, n in ((small, args.small), (mbox, args.count)):
                if target == "sqlite":
                    url = f"sqlite:///{tmpdir / f'bench-{n}.db'}"
                    result = run_ingest(path, url)
                else:
                    try:
                        name, url = pg_database(args.pg)
                    except Exception as exc:  # no server: say so, keep the SQLite figures
                        print(f"postgresql: skipped ({exc})")
                        break
                    try:
                        result = run_ingest(path, url)
                    finally:
                        drop_pg(args.pg, name)
                rows.append((label, n, result))
                print(f"ingest {label:<10} {n:>6} msgs: {result['rate']:8,.0f} msg/s  "
                      f"({result['rate'] / bare_rate:.2f} x bare parse)  peak RSS {result['rss_mb']:.0f} MB  "
                      f"stored {result['stored']} quarantined {result['quarantined']}")
        for label in ("sqlite", "postgresql"):
            sizes = [(n, r["rss_mb"]) for lab, n, r in rows if lab == label]
            if len(sizes) == 2:
                (n1, r1), (n2, r2) = sizes
                print(f"{label}: peak RSS {r1:.0f} MB at {n1} msgs vs {r2:.0f} MB at {n2} msgs "
                      f"({'flat' if r2 <= r1 * 1.25 + 10 else 'GROWS'})")


if __name__ == "__main__":
    main()
