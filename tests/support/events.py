"""The EventBridge events the Lambda handlers receive, built with chalice's test client."""

from __future__ import annotations

from typing import Any

from chalice.test import Client


def execution_status_change(
    client: Client, machine_arn: str, run: str, status: str, region: str
) -> dict[str, Any]:
    """ "Step Functions Execution Status Change" for execution `run` of `machine_arn`: started
    at 1795000000000 ms and, unless RUNNING, stopped a minute later; input `{}`."""
    execution_arn = machine_arn.replace(":stateMachine:", ":execution:") + f":{run}"
    event: dict[str, Any] = client.events.generate_cw_event(
        source="aws.states",
        detail_type="Step Functions Execution Status Change",
        detail={
            "executionArn": execution_arn,
            "stateMachineArn": machine_arn,
            "name": run,
            "status": status,
            "startDate": 1795000000000,
            "stopDate": None if status == "RUNNING" else 1795000060000,
            "input": "{}",
        },
        resources=[],
        region=region,
    )
    return event
