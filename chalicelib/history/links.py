"""Console and log links for a run, derived when read (never stored, so never stale).

Invariant: a link is built only from facts AWS holds (the execution ARN, the task ARN, the
container's awslogs settings recorded at deploy); a missing fact gives no link, not a
guess.
"""

from __future__ import annotations

from typing import Any

from chalicelib.core.deployed import DeployedJob, LogSettings


def _console_path(text: str) -> str:
    # The CloudWatch console encodes '/' inside log group and stream names as '$252F'.
    return text.replace("/", "$252F")


def console_url(execution_arn: str) -> str | None:
    parts = execution_arn.split(":")
    if len(parts) < 8 or parts[2] != "states":
        return None
    region = parts[3]
    return (
        f"https://{region}.console.aws.amazon.com/states/home?region={region}"
        f"#/v2/executions/details/{execution_arn}"
    )


def task_url(task_arn: str | None) -> str | None:
    """The ECS console page of task `task_arn` (`arn:aws:ecs:<region>:<account>:task/<cluster>/<id>`)."""
    parts = (task_arn or "").split(":")
    if len(parts) < 6 or parts[2] != "ecs" or not parts[5].startswith("task/"):
        return None
    path = parts[5].split("/")
    if len(path) != 3:  # the old ARN format names no cluster: no page to link to
        return None
    region, cluster, task = parts[3], path[1], path[2]
    return (
        f"https://{region}.console.aws.amazon.com/ecs/v2/clusters/{cluster}/tasks/{task}"
        f"?region={region}"
    )


def log_stream(stream_prefix: str | None, container: str, task_arn: str) -> str:
    """The awslogs stream of `container` in task `task_arn`: `<prefix>/<container>/<task id>`,
    or the task id alone without a prefix."""
    task_id = task_arn.rsplit("/", 1)[-1]
    return f"{stream_prefix}/{container}/{task_id}" if stream_prefix else task_id


def log_url(logs: LogSettings | None, container: str, task_arn: str | None) -> str | None:
    """The CloudWatch Logs stream of `container` in task `task_arn` (awslogs naming)."""
    if not logs or not task_arn or "/" not in task_arn:
        return None
    stream = log_stream(logs.stream_prefix, container, task_arn)
    region = logs.region
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#logsV2:log-groups/log-group/{_console_path(logs.group)}"
        f"/log-events/{_console_path(stream)}"
    )


def with_links(run: dict[str, Any], config: DeployedJob | None) -> dict[str, Any]:
    """`run` plus `console_url` and `log_url`, given the job's deployed config."""
    logs = config.logs if config else None
    return {
        **run,
        "console_url": console_url(run.get("execution_arn", "")),
        "log_url": log_url(logs, config.container if config else "", run.get("task_arn")),
    }
