"""Least-privilege IAM policy documents for a job's state machine and the shared trigger role.

A job's execution role may: run tasks of its own task definition family on its own cluster,
watch and stop those tasks (`.sync`), manage the managed rule `.sync` needs, pass the task's
roles to ECS only, write only its own items in the history table (LeadingKeys), publish only
to the alert topic, and (concurrency: replace) stop only its own executions.
Invariant: every statement is scoped to a resource or carries a condition; the unavoidable
exceptions are commented where they are made.
"""

from __future__ import annotations

from typing import Any

from chalicelib.core.arns import ACCOUNT, arn
from chalicelib.core.history import job_pk
from chalicelib.core.names import job_names, prefix, shared_names
from jobctl.registry.models import ResolvedJob

Policy = dict[str, Any]

# Filled at deploy time from DescribeTaskDefinition (jobs.yaml does not name the roles).
TASK_ROLE = "${TaskRoleArn}"
TASK_EXECUTION_ROLE = "${TaskExecutionRoleArn}"


def _task_definition_arn(task_definition: str) -> str:
    if task_definition.startswith("arn:"):
        return task_definition if task_definition.count(":") > 6 else f"{task_definition}:*"
    family, _, revision = task_definition.partition(":")
    return arn("ecs", f"task-definition/{family}:{revision or '*'}")


def execution_policy(job: ResolvedJob) -> Policy:
    cluster_arn = arn("ecs", f"cluster/{job.cluster}")
    tasks_arn = arn("ecs", f"task/{job.cluster}/*")
    names = shared_names(job.project, job.env)
    statements: list[dict[str, Any]] = [
        {
            "Sid": "RunOwnTaskDefinitionOnOwnCluster",
            "Effect": "Allow",
            "Action": "ecs:RunTask",
            "Resource": _task_definition_arn(job.task_definition),
            "Condition": {"ArnEquals": {"ecs:cluster": cluster_arn}},
        },
        {
            "Sid": "WatchAndStopOwnTasks",
            "Effect": "Allow",
            "Action": ["ecs:DescribeTasks", "ecs:StopTask"],
            "Resource": tasks_arn,
            "Condition": {"ArnEquals": {"ecs:cluster": cluster_arn}},
        },
        {
            # The rule Step Functions manages to learn when a .sync task stops.
            "Sid": "SyncTaskEventsRule",
            "Effect": "Allow",
            "Action": ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
            "Resource": arn("events", "rule/StepFunctionsGetEventsForECSTaskRule"),
        },
        {
            "Sid": "PassTaskRolesToEcsOnly",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": [TASK_ROLE, TASK_EXECUTION_ROLE],
            "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
        },
        {
            "Sid": "OwnHistoryItemsOnly",
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
            "Resource": arn("dynamodb", f"table/{names.history_table}"),
            "Condition": {
                "ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [job_pk(job.name)]}
            },
        },
        {
            "Sid": "PublishAlerts",
            "Effect": "Allow",
            "Action": "sns:Publish",
            "Resource": arn("sns", names.alert_topic),
        },
    ]
    if job.logging.level != "OFF":
        statements.append(
            {
                # CloudWatch Logs delivery APIs support no resource-level permissions.
                "Sid": "DeliverExecutionLogs",
                "Effect": "Allow",
                "Action": [
                    "logs:CreateLogDelivery",
                    "logs:DeleteLogDelivery",
                    "logs:DescribeLogGroups",
                    "logs:DescribeResourcePolicies",
                    "logs:GetLogDelivery",
                    "logs:ListLogDeliveries",
                    "logs:PutResourcePolicy",
                    "logs:UpdateLogDelivery",
                ],
                "Resource": "*",
            }
        )
    if job.tracing:
        statements.append(
            {
                # X-Ray trace submission supports no resource-level permissions.
                "Sid": "SendTraces",
                "Effect": "Allow",
                "Action": [
                    "xray:GetSamplingRules",
                    "xray:GetSamplingTargets",
                    "xray:PutTelemetryRecords",
                    "xray:PutTraceSegments",
                ],
                "Resource": "*",
            }
        )
    if job.concurrency == "replace":
        machine = job_names(job.project, job.env, job.name).state_machine
        statements.append(
            {
                "Sid": "StopOwnExecutions",
                "Effect": "Allow",
                "Action": "states:StopExecution",
                "Resource": arn("states", f"execution:{machine}:*"),
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def execution_trust_policy() -> Policy:
    """Only Step Functions in this account may assume a job's role (confused deputy guard)."""
    return _trust("states.amazonaws.com")


def trigger_policy(project: str, env: str | None) -> Policy:
    """The shared role EventBridge and Scheduler use to start this project's executions."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "StartOwnStateMachines",
                "Effect": "Allow",
                "Action": "states:StartExecution",
                "Resource": arn("states", f"stateMachine:{prefix(project, env)}-*"),
            }
        ],
    }


def trigger_trust_policy() -> Policy:
    policy = _trust("events.amazonaws.com")
    policy["Statement"].append(_trust("scheduler.amazonaws.com")["Statement"][0])
    return policy


def _trust(service: str) -> Policy:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
            }
        ],
    }
