"""Least-privilege IAM policy documents for a job's state machine and the shared trigger role.

A job's execution role may: run tasks of its own task definition family on its own cluster,
watch and stop those tasks (`.sync`), manage the managed rule `.sync` needs, pass the task's
roles to ECS only, write only its own items in the history table (LeadingKeys), publish only
to the alert topic, and (concurrency: replace) stop only its own executions. Only Step
Functions, for the job's own state machine, may assume it. The trigger role may start only
state machines named `<prefix>-*`, and only EventBridge for rules named `<prefix>-*` and
Scheduler for the environment's schedule group may assume it (patterns, not lists, so an
environment's job count is not capped by IAM's policy sizes and a new job needs no IAM
change).
Invariants: every statement is scoped to a resource or carries a condition; the unavoidable
exceptions are commented where they are made; every trust statement carries both
`aws:SourceAccount` and `aws:SourceArn`; a `<prefix>-*` pattern matches no other
environment of the registry, because the loader refuses an environment whose name extends
another's (`prod` and `prod-eu`; `_check_environment_prefixes`).
"""

from __future__ import annotations

from typing import Any

from chalicelib.core.arns import ACCOUNT, arn, state_machine_arn
from chalicelib.core.history import job_pk
from chalicelib.core.names import job_names, prefix, shared_names
from jobctl.registry.models import ResolvedJob

Policy = dict[str, Any]

# Filled at deploy time from DescribeTaskDefinition (jobs.yaml does not name the roles).
TASK_ROLE = "${TaskRoleArn}"
TASK_EXECUTION_ROLE = "${TaskExecutionRoleArn}"


def _task_definition_arn(task_definition: str) -> str:
    """The resource `ecs:RunTask` is authorized on for the task definition a job names.

    AWS authorizes RunTask on `task-definition/<family>:<revision>`, the revision the request
    resolves to, whichever form it was named in: a pinned revision (`family:3`, or an ARN
    ending `:3`) is that ARN exactly; a family (name or ARN) is `family:*`, any revision.
    """
    base, _, name = task_definition.rpartition("task-definition/")
    family, _, revision = name.partition(":")
    resource = f"task-definition/{family}:{revision or '*'}"
    # An ARN keeps its own partition, region and account: that is where it runs.
    return f"{base}{resource}" if base else arn("ecs", resource)


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
    ]
    # Only a machine that publishes (a failure or recovery alert) may publish: a job with
    # `alerts: {events: []}` gets no sns:Publish at all (least privilege, proven request
    # by request in tests/oracles/test_iam_requests.py).
    if set(job.alerts.events) & {"failure", "recovery"}:
        statements.append(
            {
                "Sid": "PublishAlerts",
                "Effect": "Allow",
                "Action": "sns:Publish",
                "Resource": arn("sns", names.alert_topic),
            }
        )
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


def execution_trust_policy(job: ResolvedJob) -> Policy:
    """Only Step Functions, for this job's own state machine, may assume the job's role.

    `aws:SourceArn` is the state machine Step Functions assumes the role for (AWS's
    cross-service confused deputy guard): another state machine, even one of this account
    given this role, cannot run as it.
    """
    machine = job_names(job.project, job.env, job.name).state_machine
    return _trust("states.amazonaws.com", "ArnEquals", state_machine_arn(machine))


def trigger_policy(project: str, env: str | None) -> Policy:
    """The shared role EventBridge and Scheduler use to start this environment's executions.

    Any state machine named `<prefix>-*` in the account and region: every job of the
    environment, including one added later or removed but not yet pruned, with no IAM
    change. The pattern reaches no other environment of the registry (the loader refuses an
    environment whose name extends another's); it does reach a state machine made by hand
    with the prefix, which the history recorder ignores (it checks the exact ARN deployed).
    """
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


def trigger_trust_policy(project: str, env: str | None) -> Policy:
    """EventBridge for this environment's rules, Scheduler for its schedule group, only.

    EventBridge sets `aws:SourceArn` to the rule, Scheduler to the schedule group: the
    rules are matched by `rule/<prefix>-*` (as `trigger_policy`, no other environment of the
    registry), the schedule group exactly. Constant in the number of jobs, so IAM's trust
    policy length never caps an environment.
    """
    base = prefix(project, env)
    rules = arn("events", f"rule/{base}-*")
    group = arn("scheduler", f"schedule-group/{base}")
    statements = [
        *_trust("events.amazonaws.com", "ArnLike", rules)["Statement"],
        *_trust("scheduler.amazonaws.com", "ArnEquals", group)["Statement"],
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def _trust(service: str, operator: str, source: str) -> Policy:
    """`service` may assume the role for `source` (`aws:SourceArn`, compared with the ARN
    condition `operator`) in this account only (AWS's confused deputy guard)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": ACCOUNT},
                    operator: {"aws:SourceArn": source},
                },
            }
        ],
    }
