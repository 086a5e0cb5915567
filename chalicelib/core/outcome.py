"""What happened to an ECS task, in plain words: one line a person reads.

Owns turning Step Functions' error and cause (often ECS's DescribeTasks JSON, 1-2 KB) or an
alert's exit code and stop reason into one line ("container app exited with code 3"). The
operator API and CLI (`chalicelib.ops`) and the Slack alerts (`chalicelib.alerts`) say it
the same way because both call this module.

Invariants: never raises on odd content (an unreadable cause gives fewer facts); a line is
at most SUMMARY_LIMIT characters. Pure Python, no AWS call.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

SUMMARY_LIMIT = 300
# ECS's stop reason for any task whose essential container exited: the exit code says more.
GENERIC_STOP_REASON = "Essential container in task exited"


def json_of(text: Any) -> Any:
    if not isinstance(text, str):
        return None
    body = text.strip()
    if not body.startswith(("{", "[")):
        # The machine's own causes read `<error>: <ECS JSON>`.
        _, sep, rest = body.partition(": ")
        body = rest.strip() if sep else ""
        if not body.startswith(("{", "[")):
            return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def task_of(data: Any) -> dict[str, Any] | None:
    """The ECS task in a RunTask/DescribeTasks-shaped document (PascalCase or camelCase)."""
    if not isinstance(data, dict):
        return None
    for key in ("Tasks", "tasks"):
        tasks = data.get(key)
        if isinstance(tasks, list) and tasks and isinstance(tasks[0], dict):
            return tasks[0]
    if any(key in data for key in ("TaskArn", "taskArn", "Containers", "containers")):
        return data
    return None


def field_of(data: Mapping[str, Any], name: str) -> Any:
    return data.get(name, data.get(name[:1].lower() + name[1:]))


def exit_code_of(task: Mapping[str, Any], container: str | None) -> int | None:
    containers = [c for c in (field_of(task, "Containers") or []) if isinstance(c, dict)]
    named = [c for c in containers if field_of(c, "Name") == container]
    codes = [
        code
        for entry in (named or containers)
        if isinstance(code := field_of(entry, "ExitCode"), int) and not isinstance(code, bool)
    ]
    if named or not codes:
        return codes[0] if codes else None
    # The job's container unknown: a sidecar's 0 must not hide the container that failed.
    return next((code for code in codes if code != 0), codes[0])


def summarise(error: str | None, cause: str | None, container: str | None = None) -> str | None:
    """`cause` (often ECS's DescribeTasks JSON, 1-2 KB) as one line a person reads."""
    if not error and not cause:
        return None
    data = json_of(cause)
    task = task_of(data)
    if task is not None:
        code = exit_code_of(task, container)
        stop_code = field_of(task, "StopCode")
        reason = field_of(task, "StoppedReason")
        container_reasons = [
            str(field_of(c, "Reason"))
            for c in (field_of(task, "Containers") or [])
            if isinstance(c, dict) and field_of(c, "Reason")
        ]
        parts = []
        if code is not None:
            parts.append(f"container {container or 'of the task'} exited with code {code}")
        else:
            parts.append("the task stopped")
        why = ": ".join(str(x) for x in (stop_code, reason) if x)
        if why:
            parts.append(f"({why})")
        if container_reasons:
            parts.append("; " + "; ".join(container_reasons))
        return _cut(" ".join(parts).replace(" ;", ";"))
    if isinstance(data, dict) and isinstance(field_of(data, "Failures"), list):
        failures = [
            ": ".join(str(x) for x in (field_of(f, "Reason"), field_of(f, "Detail")) if x)
            for f in field_of(data, "Failures")
            if isinstance(f, dict)
        ]
        return _cut("ECS could not start the task: " + (", ".join(failures) or "no reason given"))
    if error == "States.Timeout":
        return "the attempt ran longer than the job's timeout and was stopped"
    text = (cause or "").strip().splitlines()[0] if (cause or "").strip() else ""
    return _cut(f"{error}: {text}" if error and text else (text or error or ""))


def _cut(text: str) -> str:
    return text if len(text) <= SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 1] + "…"


def in_words(
    exit_code: str | int | None, stopped_reason: str, error: str, container: str | None = None
) -> str | None:
    """An alert's outcome (exit code, ECS stop reason, Step Functions error) as one line:
    "container app exited with code 3", the same words `summarise` gives the task."""
    code = str(exit_code) if exit_code is not None else ""
    if code.lstrip("-").isdigit():
        reason = "" if stopped_reason == GENERIC_STOP_REASON else stopped_reason
        entry: dict[str, Any] = {"Name": container, "ExitCode": int(code)}
        return summarise(
            error or None, json.dumps({"Containers": [entry], "StoppedReason": reason}), container
        )
    if stopped_reason:
        return summarise(
            error or None,
            json.dumps({"Containers": [], "StoppedReason": stopped_reason}),
            container,
        )
    return summarise(error or None, None, container)
