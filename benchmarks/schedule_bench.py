"""Fire-time preview cost: mean time for 10 next fire times, per expression shape.

Run: `make bench` (or `.venv/bin/python benchmarks/schedule_bench.py`). The engine walks
field value sets, never minute by minute, so even a never-matching expression is bounded
by the year limit (2199).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from jobctl.registry.schedule import next_fire_times, parse_schedule

EXPRESSIONS = [
    "cron(* * * * ? *)",
    "cron(0 3 * * ? *)",
    "cron(15 10 ? * 6L 2026-2030)",
    "cron(0 0 LW * ? *)",
    "cron(0 12 29 2 ? *)",
    "cron(0 0 31 2,4,6,9,11 ? *)",  # never matches
]


def main(rounds: int = 200) -> None:
    after = datetime(2026, 5, 17, 12, 34, 56, tzinfo=UTC)
    zone = ZoneInfo("America/New_York")
    print(f"{'expression':<32} {'mean ms for 10 times':>22}")
    for expression in EXPRESSIONS:
        schedule = parse_schedule(expression)
        started = time.perf_counter()
        for _ in range(rounds):
            next_fire_times(schedule, after, 10, zone)
        mean_ms = (time.perf_counter() - started) / rounds * 1000
        print(f"{expression:<32} {mean_ms:>22.3f}")


if __name__ == "__main__":
    main()
