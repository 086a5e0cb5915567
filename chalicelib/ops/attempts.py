"""A run's attempts, read from its Step Functions execution history; causes in plain words.

Owns how an execution's history becomes `Attempt`s and how an error cause becomes one line
a person can read. The run record holds only the last attempt's task (the state machine
writes it when `.sync` returns); the execution history holds every attempt's task as soon
as it is submitted, which is what `jobctl logs` and `--wait` need for a run in any state.

Invariants:
* Attempts are recognised by event type and resource only (TaskScheduled, TaskSubmitted,
  TaskSucceeded, TaskFailed, TaskTimedOut of resourceType `ecs`, resource `runTask*`),
  never by state name: the state machine's shape may change, its integration may not.
* One attempt per TaskScheduled of that resource, numbered from 1 in history order (the
  attempts of one execution never overlap). An attempt whose RunTask was refused (no
  capacity) has no task; one still running when the execution ended takes the
  execution's ending (ABORTED, TIMED_OUT).
* Parsing never raises on odd content: an unreadable output or cause gives fewer facts,
  not an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

# The plain-words summary moved to chalicelib.core.outcome (the alerts use it too).
from chalicelib.core.outcome import SUMMARY_LIMIT, summarise
from chalicelib.core.outcome import exit_code_of as _exit_code
from chalicelib.core.outcome import field_of as _get
from chalicelib.core.outcome import json_of as _json
from chalicelib.core.outcome import task_of as _task
from chalicelib.ops.models import Attempt

__all__ = ["SUMMARY_LIMIT", "attempts_from_history", "summarise"]

_ENDED = {
    "ExecutionAborted": "ABORTED",
    "ExecutionTimedOut": "TIMED_OUT",
    "ExecutionFailed": "FAILED",
    "ExecutionSucceeded": "SUCCEEDED",
}


def _is_run_task(details: Mapping[str, Any]) -> bool:
    return details.get("resourceType") == "ecs" and str(details.get("resource", "")).startswith(
        "runTask"
    )


def _iso(value: Any) -> str | None:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value) if value else None


def attempts_from_history(
    events: Iterable[Mapping[str, Any]], container: str | None
) -> list[Attempt]:
    """The attempts in an execution's history events (oldest first, as AWS returns them)."""
    attempts: list[dict[str, Any]] = []
    ended: str | None = None
    for event in events:
        kind = str(event.get("type", ""))
        at = _iso(event.get("timestamp"))
        if kind in _ENDED:
            ended = _ENDED[kind]
            ended_at = at
            for attempt in attempts:
                if attempt["status"] == "RUNNING" and ended != "SUCCEEDED":
                    attempt["status"] = "ABORTED" if ended == "FAILED" else ended
                    attempt["ended_at"] = ended_at
            continue
        details = next(
            (v for k, v in event.items() if k.endswith("EventDetails") and isinstance(v, dict)),
            {},
        )
        if not _is_run_task(details):
            continue
        if kind == "TaskScheduled":
            attempts.append({"number": len(attempts) + 1, "status": "RUNNING", "started_at": at})
            continue
        if not attempts:
            continue
        current = attempts[-1]
        if kind == "TaskSubmitted":
            task = _task(_json(details.get("output")))
            if task and _get(task, "TaskArn"):
                current["task_arn"] = str(_get(task, "TaskArn"))
        elif (
            kind in ("TaskSucceeded", "TaskFailed", "TaskTimedOut")
            and current["status"] == "RUNNING"
        ):
            # The first ending counts (moto follows a TaskTimedOut with a TaskSucceeded).
            payload = details.get("output") if kind == "TaskSucceeded" else details.get("cause")
            task = _task(_json(payload))
            current["ended_at"] = at
            current["status"] = {
                "TaskSucceeded": "SUCCEEDED",
                "TaskFailed": "FAILED",
                "TaskTimedOut": "TIMED_OUT",
            }[kind]
            if task is not None:
                if _get(task, "TaskArn") and "task_arn" not in current:
                    current["task_arn"] = str(_get(task, "TaskArn"))
                current["exit_code"] = _exit_code(task, container)
                if _get(task, "StoppedReason"):
                    current["stopped_reason"] = str(_get(task, "StoppedReason"))
            if kind == "TaskFailed" and details.get("error") == "States.Timeout":
                current["status"] = "TIMED_OUT"  # how a .sync task's TimeoutSeconds ends
            if kind != "TaskSucceeded":
                current["error"] = details.get("error") or (
                    "States.Timeout" if kind == "TaskTimedOut" else None
                )
                current["summary"] = summarise(current["error"], details.get("cause"), container)
    return [Attempt(**attempt) for attempt in attempts]
