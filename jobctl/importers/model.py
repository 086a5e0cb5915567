"""What a source importer hands to `merge`: jobs with their settings, container and report.

Invariant: `ImportedJob.settings` is the jobs.yaml mapping of the job in the order it is
written (no `task_definition` yet: `merge` assigns families so equal containers share one);
a job whose report says not imported is never written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jobctl.importers.report import JobReport
from jobctl.importers.taskdef import ContainerSpec


@dataclass(frozen=True)
class ImportOptions:
    """Command-line choices that shape the output (placeholders unless given)."""

    region: str = "REGION"
    account: str = "ACCOUNT_ID"
    split: bool = False


@dataclass
class ImportedJob:
    name: str
    settings: dict[str, Any]
    report: JobReport
    container: ContainerSpec | None = None
    # env -> that environment's overlay settings, and its own container when it differs
    overlays: dict[str, dict[str, Any]] = field(default_factory=dict)
    overlay_containers: dict[str, ContainerSpec] = field(default_factory=dict)
    # registry-level settings the source implies (ecschedule's cluster and network)
    defaults: dict[str, Any] = field(default_factory=dict)


def minutes_up(seconds: int, low: int, high: int) -> tuple[int, bool]:
    """`seconds` rounded up to whole minutes within [low, high]; and whether it changed."""
    rounded = min(max(-(-seconds // 60) * 60, low), high)
    return rounded, rounded != seconds


# A Step Functions execution runs at most 365 days; jobctl checks attempts x timeout plus the
# waits against that, so an unlimited source gets the longest timeout its retries allow.
_EXECUTION_BUDGET = 364 * 86400


def longest_timeout(retries: int) -> int:
    """The longest per-attempt timeout (whole days) that `retries` retries fit in."""
    return _EXECUTION_BUDGET // (retries + 1) // 86400 * 86400
