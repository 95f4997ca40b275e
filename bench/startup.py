"""Cold start of the command line: `triage --help` and `triage classify` of one message, beside `import sklearn`.

Each command runs as a fresh process several times (the model is trained once
beforehand, so every run only loads it); the medians are printed with the
reference of a bare `python -c "import sklearn"` measured in the same run, and
the modules each command imported (so a heavy import that sneaks in shows up).

    python bench/startup.py [--runs 7]

Target: `triage classify` of one message under 2 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRIAGE = str(Path(sys.executable).with_name("triage"))
SAMPLE = ROOT / "data" / "samples" / "01-en-renewal.eml"
HEAVY = ("sklearn", "scipy", "skops", "sqlalchemy", "fastapi", "uvicorn", "apscheduler", "imapclient", "jinja2")


def timed(command: list[str], env: dict[str, str], cwd: Path) -> float:
    """Wall time of one run of ``command``; fails loudly when the command fails."""
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return elapsed


def heavy_imports(args: list[str], env: dict[str, str], cwd: Path) -> list[str]:
    """Which of the heavy libraries a command imports."""
    probe = ("import sys, runpy; sys.argv = ['triage', *sys.argv[1:]]\n"
             "from pipeline.cli import main\n"
             "try:\n    main(prog_name='triage')\nexcept SystemExit:\n    pass\n"
             f"print('MODULES', ' '.join(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))")
    done = subprocess.run([sys.executable, "-c", probe, *args], env=env, cwd=cwd, capture_output=True, text=True)
    line = next((line for line in done.stdout.splitlines() if line.startswith("MODULES")), "MODULES")
    return line.split()[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        cwd = Path(home)
        env = os.environ | {"TRIAGE_TRIAGE__MODEL_PATH": str(cwd / "model.skops"),
                            "TRIAGE_DATABASE_URL": f"sqlite:///{cwd / 'triage.db'}"}
        print("training the model once (not timed) ...", file=sys.stderr)
        subprocess.run([TRIAGE, "train"], env=env, cwd=cwd, check=True, capture_output=True)
        cases = {
            "python -c 'import sklearn'": [sys.executable, "-c", "import sklearn"],
            "triage --help": [TRIAGE, "--help"],
            "triage classify (1 message)": [TRIAGE, "classify", str(SAMPLE)],
        }
        results: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(options.runs):  # interleaved, so a burst of load hits every case alike
            for name, command in cases.items():
                results[name].append(timed(command, env, cwd))
        reference = statistics.median(results["python -c 'import sklearn'"])
        print(f"{'command':<32} {'median s':>9} {'min s':>7} {'x sklearn':>10}  heavy imports")
        for name, times in results.items():
            args = cases[name][1:] if name.startswith("triage") else None
            heavy = ", ".join(heavy_imports(args, env, cwd)) if args is not None else "sklearn, scipy"
            print(f"{name:<32} {statistics.median(times):>9.2f} {min(times):>7.2f} "
                  f"{statistics.median(times) / reference:>10.2f}  {heavy or '-'}")
        target = statistics.median(results["triage classify (1 message)"])
        print(f"target: classify under 2.0 s -> {'met' if target < 2.0 else 'NOT met'} ({target:.2f} s, "
              f"{options.runs} runs, {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
