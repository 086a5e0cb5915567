"""Run records as the state machines write them, for tests and benchmarks that need history."""

from __future__ import annotations

import json
from typing import Any


def run_item(
    job: str, run_id: str, status: str, started_at: str, **fields: Any
) -> dict[str, dict[str, Any]]:
    """One RUN item in DynamoDB's wire shape (the keys the indexes sort by included)."""
    plain: dict[str, Any] = {
        "pk": f"JOB#{job}",
        "sk": f"RUN#{run_id}",
        "run_id": run_id,
        "job": job,
        "status": status,
        "trigger": "schedule",
        "triggered_by": "",
        "scheduled_time": started_at[:19] + "Z",
        "started_at": started_at,
        "execution_arn": f"arn:aws:states:us-east-1:123456789012:execution:x-{job}:{run_id}",
        "parameters": json.dumps(fields.pop("parameters", {})),
        "job_time": f"{started_at}#{run_id}",
        "status_time": f"{started_at}#{job}#{run_id}",
        **fields,
    }
    return {
        key: {"N": str(value)} if isinstance(value, int) else {"S": str(value)}
        for key, value in plain.items()
    }


def put_runs(dynamodb: Any, table: str, items: list[dict[str, dict[str, Any]]]) -> None:
    for start in range(0, len(items), 25):
        batch = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        pending: dict[str, Any] = {table: batch}
        while pending:
            pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems", {})


def deploy_meta(dynamodb: Any, table: str, job: str, state_machine_arn: str) -> None:
    """The META item `jobctl apply` writes for `job` (its `config`, `job_name`, `entity`),
    with a minimal deployed configuration whose state machine is `state_machine_arn`."""
    config = {
        "version": 1,
        "job": job,
        "project": "lab",
        "schedule": "rate(1 hour)",
        "schedule_source": "rate(1 hour)",
        "concurrency": "allow",
        "timeout": 3600,
        "cluster": "app",
        "task_definition": "app-batch",
        "container": "app",
        "state_machine_arn": state_machine_arn,
        "trigger": "rule",
    }
    dynamodb.update_item(
        TableName=table,
        Key={"pk": {"S": f"JOB#{job}"}, "sk": {"S": "META"}},
        UpdateExpression="SET config = :config, job_name = :job, entity = :entity",
        ExpressionAttributeValues={
            ":config": {"S": json.dumps(config, sort_keys=True)},
            ":job": {"S": job},
            ":entity": {"S": "job"},
        },
    )
