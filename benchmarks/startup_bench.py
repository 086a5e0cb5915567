"""Start-up cost: CPU seconds of `jobctl --help`, `--version`, `validate` and `import app`.

Run: `make bench` (or `.venv/bin/python benchmarks/startup_bench.py [--runs 15]`), from any
directory; commands run in the repository root. Each command runs `--runs` times as a fresh
subprocess, the commands interleaved round-robin so that noise on a shared machine falls on
all of them alike. CPU is user + system time of the child (`getrusage(RUSAGE_CHILDREN)`
before and after each run), which a busy neighbour inflates far less than wall time.
Printed per command: the median CPU, its ratio to `python -c pass` measured in the same
run, and the net figure (median minus that interpreter baseline). `import app` is also
timed in-process: a fresh interpreter reads `time.perf_counter()` (wall) and
`time.process_time()` (CPU) around the import alone.
The targets are checked at the end (with `--check`, exit status 1 if one is missed):
`--help`/`--version` < 0.15 s CPU, `validate` < 0.4 s CPU, `import app` < 150 ms in-process.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
# The console script users run; `python -m jobctl` where it is not installed.
_SCRIPT = Path(PYTHON).with_name("jobctl")
JOBCTL = [str(_SCRIPT)] if _SCRIPT.exists() else [PYTHON, "-m", "jobctl"]

COMMANDS: dict[str, list[str]] = {
    "python -c pass": [PYTHON, "-c", "pass"],
    "jobctl --help": [*JOBCTL, "--help"],
    "jobctl --version": [*JOBCTL, "--version"],
    "jobctl validate jobs.yaml": [*JOBCTL, "validate", "jobs.yaml"],
    'python -c "import app"': [PYTHON, "-c", "import app"],
}
BASELINE = "python -c pass"
TARGETS_CPU = {"jobctl --help": 0.15, "jobctl --version": 0.15, "jobctl validate jobs.yaml": 0.4}
TARGET_IMPORT_APP_MS = 150.0
IMPORT_APP_TIMED = (
    "import time; wall, cpu = time.perf_counter(), time.process_time(); import app; "
    "print(time.perf_counter() - wall, time.process_time() - cpu)"
)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run_once(argv: list[str]) -> tuple[float, float]:
    """(CPU s, wall s) of one run of `argv` in the repository root."""
    cpu, wall = _children_cpu(), time.perf_counter()
    subprocess.run(argv, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return _children_cpu() - cpu, time.perf_counter() - wall


def _import_app_ms() -> tuple[float, float]:
    """(wall ms, CPU ms) of `import app` alone, in a fresh interpreter."""
    out = subprocess.run(
        [PYTHON, "-c", IMPORT_APP_TIMED], cwd=ROOT, check=True, text=True, capture_output=True
    ).stdout
    wall, cpu = out.strip().splitlines()[-1].split()
    return float(wall) * 1000, float(cpu) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs per command (default 15)")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args()

    for argv in COMMANDS.values():  # warm the page cache and .pyc files; not counted
        _run_once(argv)
    cpu: dict[str, list[float]] = {name: [] for name in COMMANDS}
    wall: dict[str, list[float]] = {name: [] for name in COMMANDS}
    import_ms: list[tuple[float, float]] = []
    for _ in range(args.runs):
        for name, argv in COMMANDS.items():
            seconds, elapsed = _run_once(argv)
            cpu[name].append(seconds)
            wall[name].append(elapsed)
        import_ms.append(_import_app_ms())

    base = statistics.median(cpu[BASELINE])
    print(f"startup benchmark: median of {args.runs} runs each, interleaved; CPU = user+sys")
    print(f"{'command':<28} {'CPU s':>7} {'x pass':>7} {'net CPU s':>10} {'wall s':>7}")
    for name in COMMANDS:
        median = statistics.median(cpu[name])
        print(
            f"{name:<28} {median:7.3f} {median / base:7.2f} {median - base:10.3f} "
            f"{statistics.median(wall[name]):7.3f}"
        )
    app_ms = statistics.median(wall for wall, _ in import_ms)
    app_cpu_ms = statistics.median(cpu for _, cpu in import_ms)
    print(f"import app alone, in-process: {app_ms:.1f} ms wall, {app_cpu_ms:.1f} ms CPU")

    missed = []
    for name, limit in TARGETS_CPU.items():
        if statistics.median(cpu[name]) >= limit:
            missed.append(f"{name} >= {limit} s CPU")
    if app_ms >= TARGET_IMPORT_APP_MS:
        missed.append(f"import app >= {TARGET_IMPORT_APP_MS:.0f} ms wall")
    print("targets: " + ("all met" if not missed else "MISSED: " + "; ".join(missed)))
    return 1 if missed and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
