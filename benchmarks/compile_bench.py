"""Compile-time benchmark: 1,000 and 10,000 generated jobs, end to end and compile only.

Run: `make bench` (or `.venv/bin/python benchmarks/compile_bench.py`). Prints seconds for
load+validate and for compile (what `jobctl build` does: every state machine rendered
to its file text) at each size, and the
10k/1k ratios: linear growth gives ~10. Each figure is the best of `--repeat` runs, since
the machines are shared and noisy.

It also times validation of the same registries with two problems in every job (an invalid
schedule and a secret in environment): reporting N problems must stay linear too (it was
quadratic: 10,000 such jobs took 177 s, issue 12 point 4).
"""

from __future__ import annotations

import argparse
import re
import time

from jobctl.compile.compiler import compile_files
from jobctl.registry.diagnostics import RegistryError
from jobctl.registry.loader import parse_registry

HEADER = """\
version: 1
project: bench
defaults:
  cluster: app
  task_definition: app-batch
  container: app
  launch_type: FARGATE
  network: {subnets: [subnet-1, subnet-2], security_groups: [sg-1]}
  retry: {retries: 2, interval: 30s}
jobs:
"""

SHAPES = [
    "    schedule: cron({m} {h} * * ? *)\n    command: [bin/job, '{i}']\n",
    "    schedule: rate({r} minutes)\n    concurrency: allow\n",
    "    schedule: '{m} {h} * * 1-5'\n    timezone: Asia/Tokyo\n    cpu: 512\n    memory: 2048\n",
    "    schedule: cron({m} {h} L * ? *)\n    concurrency: replace\n    starting_deadline: 10m\n"
    "    parameters: {{DAY: {{pattern: '\\d+'}}}}\n",
]


def registry_text(count: int) -> str:
    parts = [HEADER]
    for i in range(count):
        shape = SHAPES[i % len(SHAPES)]
        parts.append(f"  job-{i:05d}:\n")
        parts.append(shape.format(m=i % 60, h=i % 24, r=5 + i % 50, i=i))
    return "".join(parts)


def invalid_registry_text(count: int) -> str:
    """`registry_text(count)` with two problems in every job."""
    text = re.sub(r"    schedule: .*\n", "    schedule: cron(0 24 * * ? *)\n", registry_text(count))
    return text.replace("    schedule:", "    environment: {DB_PASSWORD: x}\n    schedule:")


def validate_invalid(text: str) -> int:
    """How many problems validating `text` reports (it must report some)."""
    try:
        parse_registry(text, "bench.yaml")
    except RegistryError as exc:
        return len(exc.diagnostics)
    raise AssertionError("the invalid registry validated")


def best_of(repeat: int, action) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = action()
        best = min(best, time.perf_counter() - start)
    return best, result


def measure(count: int, repeat: int) -> tuple[float, float]:
    text = registry_text(count)
    load_s, registry = best_of(repeat, lambda: parse_registry(text, "bench.yaml"))
    compile_s, compiled = best_of(repeat, lambda: compile_files(registry))
    assert len(compiled) == count
    return load_s, compile_s


def measure_invalid(count: int, repeat: int) -> float:
    text = invalid_registry_text(count)
    seconds, problems = best_of(repeat, lambda: validate_invalid(text))
    assert problems == 2 * count, problems
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = {count: measure(count, args.repeat) for count in (1000, 10000)}
    print(f"{'jobs':>6}  {'load+validate s':>15}  {'compile s':>10}  {'total s':>8}")
    for count, (load_s, compile_s) in rows.items():
        print(f"{count:>6}  {load_s:>15.3f}  {compile_s:>10.3f}  {load_s + compile_s:>8.3f}")
    (l1, c1), (l10, c10) = rows[1000], rows[10000]
    print(
        f"ratio 10k/1k: load+validate {l10 / l1:.1f}x, compile {c10 / c1:.1f}x, "
        f"total {(l10 + c10) / (l1 + c1):.1f}x (linear = 10x)"
    )
    invalid = {count: measure_invalid(count, args.repeat) for count in (1000, 10000)}
    for count, seconds in invalid.items():
        print(f"{count:>6}  validate with 2 problems per job: {seconds:.3f} s")
    print(
        f"ratio 10k/1k: validate with problems {invalid[10000] / invalid[1000]:.1f}x (linear = 10x)"
    )


if __name__ == "__main__":
    main()
