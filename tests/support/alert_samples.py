"""`jobctl.alert/1` messages as the state machines and the watchdog publish them."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.alerts.message import watch_alert

REGION = "ap-northeast-1"
ACCOUNT = "123456789012"


def execution_arn(job: str, run_id: str) -> str:
    return f"arn:aws:states:{REGION}:{ACCOUNT}:execution:coin-production-{job}:{run_id}"


def task_arn(task_id: str = "0123456789abcdef0123456789abcdef") -> str:
    return f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/app-prd/{task_id}"


def run_alert(
    event: str = "failure",
    *,
    job: str = "daily-report",
    run_id: str = "daily-report-20260301T0300",
    status: str = "FAILED",
    exit_code: str = "3",
    stopped_reason: str = "OutOfMemoryError: Container killed due to memory usage",
    error: str = "States.TaskFailed",
    attempts: str = "3",
    ended_at: str = "2026-03-01T03:12:40.512Z",
    slack_route: str = "default",
    task: str | None = None,
    **context: str,
) -> dict[str, Any]:
    arn = execution_arn(job, run_id)
    console = (
        f"https://{REGION}.console.aws.amazon.com/states/home?region={REGION}"
        f"#/v2/executions/details/{arn}"
    )
    failure = event == "failure"
    values = {
        "schema": "jobctl.alert/1",
        "event": event,
        "project": "coin",
        "environment": "production",
        "job": job,
        "run_id": run_id,
        "execution_arn": arn,
        "status": status if failure else "SUCCEEDED",
        "trigger": "schedule",
        "triggered_by": "",
        "scheduled_time": "2026-03-01T03:00:00Z",
        "started_at": "2026-03-01T03:00:01.250Z",
        "ended_at": ended_at,
        "attempts": attempts,
        "exit_code": exit_code if failure else "0",
        "stopped_reason": stopped_reason if failure else "",
        "error": error if failure else "",
        "task_arn": task_arn() if task is None else task,
        "console_url": console,
        "slack_route": slack_route,
        "rerun_command": f"jobctl rerun {run_id} --env production",
        **context,
    }
    title = (
        f"coin/production {job}: {values['status']}"
        if failure
        else f"coin/production {job} recovered"
    )
    return {
        "version": "1.0",
        "source": "custom",
        "id": run_id,
        "content": {
            "textType": "client-markdown",
            "title": title,
            "description": f"Run `{run_id}` ended {values['status']}.",
            "nextSteps": [f"Execution: {console}"],
        },
        "metadata": {
            "threadId": f"coin-production-{job}",
            "summary": title,
            "eventType": f"jobctl.{event}",
            "relatedResources": [arn],
            "additionalContext": values,
        },
    }


def watch(event: str = "missed", **overrides: str) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "event": event,
        "project": "coin",
        "environment": "production",
        "job": "daily-report",
        "slack_route": "default",
        "schedule": "cron(0 3 * * ? *)",
        "timezone": "Asia/Tokyo",
        "expected_by": "2026-03-02T04:15:00Z",
        "last_success_at": "2026-03-01T03:12:40Z",
        "last_run_id": "daily-report-20260302T0300",
        "last_status": "FAILED",
        "console_url": (
            f"https://{REGION}.console.aws.amazon.com/states/home?region={REGION}"
            f"#/statemachines/view/arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:"
            "coin-production-daily-report"
        ),
    }
    if event == "resumed":
        arguments.update(
            last_success_at="2026-03-02T05:01:00Z",
            last_run_id="daily-report-manual-1",
            last_status="SUCCEEDED",
        )
    arguments.update(overrides)
    return watch_alert(**arguments)


def text(message: dict[str, Any]) -> str:
    return json.dumps(message)
