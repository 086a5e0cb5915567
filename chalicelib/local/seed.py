"""What a local (moto) account needs before jobs can be deployed to it.

Deploy reads the ECS task definition each job runs (for the roles its execution role may
pass), as it would in AWS. Locally nothing registers them, so this does. Invariant: the
client is the caller's (only chalicelib.aws creates clients).
"""

from __future__ import annotations

from typing import Any

LOCAL_ACCOUNT = "123456789012"


def register_task_definition(
    ecs: Any,
    *,
    family: str = "app-batch",
    container: str = "app",
    account: str = LOCAL_ACCOUNT,
) -> None:
    """A minimal Fargate task definition with task and execution roles, logging to awslogs."""
    region = ecs.meta.region_name
    ecs.register_task_definition(
        family=family,
        taskRoleArn=f"arn:aws:iam::{account}:role/{family}-task",
        executionRoleArn=f"arn:aws:iam::{account}:role/{family}-execution",
        containerDefinitions=[
            {
                "name": container,
                "image": f"{family}:latest",
                "essential": True,
                "memory": 512,
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": f"/ecs/{family}",
                        "awslogs-stream-prefix": family,
                        "awslogs-region": region,
                    },
                },
            }
        ],
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
    )
