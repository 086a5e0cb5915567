"""The console line `jobctl local` prints for each run status change (`describe_change`)."""

from __future__ import annotations

from types import SimpleNamespace

from jobctl.local.platform import LocalPlatform, describe_change
from jobctl.local.poller import RunChange


def _change(record: dict[str, object], status: str = "SUCCEEDED") -> RunChange:
    return RunChange("report", "run-2", status, {"job": "report", "run_id": "run-2", **record})


def test_a_skipped_run_shows_its_skip_reason_not_the_operators_reason() -> None:
    line = describe_change(
        _change({"status": "SKIPPED", "skip_reason": "duplicate", "reason": "month-end rerun"})
    )
    assert line == "run   report run-2: SKIPPED (duplicate)"


def test_a_run_skipped_as_concurrent_names_the_run_holding_the_lock() -> None:
    change = _change({"status": "SKIPPED", "skip_reason": "concurrent", "reason": "by hand"})
    assert describe_change(change, holder="run-1") == (
        "run   report run-2: SKIPPED (concurrent by run run-1)"
    )
    # The holder could not be read: the reason alone, still not the operator's words.
    assert describe_change(change) == "run   report run-2: SKIPPED (concurrent)"


def test_an_aborted_run_says_which_run_replaced_it() -> None:
    change = _change(
        {"status": "ABORTED", "error": "Job.Replaced", "cause": "replaced by run-3"}, "ABORTED"
    )
    assert describe_change(change) == "run   report run-2: ABORTED (replaced by run-3)"


def test_a_run_failed_before_its_task_started_says_why() -> None:
    cause = (
        "No Container Instances were found in your cluster. (Service: AmazonECS; Status "
        "Code: 400; Error Code: InvalidParameterException; Request ID: x; Proxy: null)"
    )
    change = _change(
        {"status": "FAILED", "attempts": 1, "error": "ECS.AmazonECSException", "cause": cause},
        "FAILED",
    )
    line = describe_change(change)
    assert line.startswith("run   report run-2: FAILED (attempts 1, ECS.AmazonECSException: No ")
    assert "No Container Instances were found in your cluster" in line


def test_the_lock_holder_is_read_from_the_jobs_meta_item() -> None:
    arn = "arn:aws:states:us-east-1:123456789012:execution:loc-report:run-1"

    class Store:
        def meta(self, job: str) -> dict[str, object]:
            assert job == "report"
            return {"lock_holder": arn}

    platform = SimpleNamespace(store=Store())
    skipped = _change({"status": "SKIPPED", "skip_reason": "concurrent"})
    assert LocalPlatform._holder_of(platform, skipped) == "run-1"  # type: ignore[arg-type]
    duplicate = _change({"status": "SKIPPED", "skip_reason": "duplicate"})
    assert LocalPlatform._holder_of(platform, duplicate) is None  # type: ignore[arg-type]
