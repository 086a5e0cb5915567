"""A job's worst-case run time: the one formula every stage uses.

The registry refuses a job whose worst case exceeds Step Functions' one-year execution
limit, the compiler sizes the concurrency lock's lease from it, and the missed-run
watchdog waits that long after a fire time before it calls a run missed. Invariant: the
worst case counts every attempt timing out and every retry wait at its longest (the
backoff capped by `max_interval`), so no real execution outlives it.
"""

from __future__ import annotations

from dataclasses import dataclass

# Step Functions Standard executions run at most one year.
MAX_EXECUTION_SECONDS = 365 * 86400
# The lock outlives the worst case by this much, so a slow release never frees it early.
LEASE_MARGIN_SECONDS = 3600


@dataclass(frozen=True)
class RetryTiming:
    """How a job's failed attempts are retried (the job's own failures, not capacity)."""

    retries: int = 0
    interval: int = 0
    backoff_rate: float = 1.0
    max_interval: int | None = None


def worst_case_seconds(timeout: int, retry: RetryTiming) -> int:
    """The longest an execution can run: every attempt times out, every wait is maximal."""
    total = timeout * (retry.retries + 1)
    for attempt in range(retry.retries):
        wait = retry.interval * retry.backoff_rate**attempt
        total += int(min(wait, retry.max_interval) if retry.max_interval else wait)
    return total


def lease_seconds(timeout: int, retry: RetryTiming) -> int:
    """How long a run's lock is held at most (forbid/replace): worst case plus a margin."""
    return worst_case_seconds(timeout, retry) + LEASE_MARGIN_SECONDS
