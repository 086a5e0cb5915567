"""Compiled jobs -> the resources one project and environment should have in AWS.

Owns the mapping from compiler output to deployable `Resource`s, with the deploy-time
placeholders filled (account, region, partition, and the task definition's roles, which
jobs.yaml does not name). Invariant: every spec has exactly the shape the gateways read
back, so an unchanged registry plans to nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalicelib.aws.clients import AwsContext
from chalicelib.core.arns import ROLE_PATH, fill_placeholders, state_machine_arn
from chalicelib.core.deployed import DeployedJob, DeployedParameter, DeployedRetry, LogSettings
from chalicelib.core.history import INDEXES, JOB_ENTITY, KEY, TTL
from chalicelib.core.names import job_names, prefix, resource_tags, shared_names
from jobctl.compile.compiler import CompiledJob, compile_job
from jobctl.compile.iam import TASK_EXECUTION_ROLE, TASK_ROLE, trigger_policy, trigger_trust_policy
from jobctl.deploy.resources import SPEC_HASH_TAG, Resource, ResourceKind, spec_hash
from jobctl.registry.loader import Registry
from jobctl.registry.models import ResolvedJob

# The history table's schema is the runtime's (`chalicelib.core.history`), in the table
# spec's shape (lists, as the table gateway reads them back).
HISTORY_KEY = list(KEY)
HISTORY_INDEXES = {name: list(attributes) for name, attributes in INDEXES.items()}
HISTORY_TTL = TTL
LOG_RETENTION_DAYS = 30
# jobctl's roles have their one inline policy and nothing else (see the role gateway):
# anything else read back is drift that plan shows and apply removes.
ROLE_HAS_NOTHING_ELSE: dict[str, Any] = {"other_inline": [], "attached": [], "boundary": None}


@dataclass(frozen=True)
class TaskDefinitionInfo:
    """What deploy reads from a job's ECS task definition (jobs.yaml does not repeat it)."""

    task_role: str | None = None
    execution_role: str | None = None
    # container -> its awslogs settings {"group", "stream_prefix", "region"}
    logs: dict[str, dict[str, str]] = field(default_factory=dict)
    # container -> names of its `secrets` (a manual run may never override them)
    secrets: dict[str, list[str]] = field(default_factory=dict)


TaskInfo = Callable[[str], TaskDefinitionInfo]


def desired_resources(
    registry: Registry, env: str | None, context: AwsContext, task_info: TaskInfo
) -> list[Resource]:
    project = registry.project
    values = context.placeholders()
    jobs = sorted(registry.jobs_for(env), key=lambda j: j.name)
    resources = shared_resources(project, env, values)
    if any(job.logging.level != "OFF" for job in jobs):
        resources.append(
            Resource(
                ResourceKind.LOG_GROUP,
                shared_names(project, env).log_group,
                {"retention_days": LOG_RETENTION_DAYS},
                resource_tags(project, env),
            )
        )
    for job in jobs:
        resources.extend(job_resources(compile_job(job), values, task_info(job.task_definition)))
    return resources


def shared_resources(project: str, env: str | None, values: dict[str, str]) -> list[Resource]:
    """The environment's shared resources. The trigger role's policies name the
    environment's jobs by prefix (`<prefix>-*`), so they do not change with its jobs."""
    names = shared_names(project, env)
    tags = resource_tags(project, env)
    return [
        Resource(
            ResourceKind.TABLE,
            names.history_table,
            {"key": HISTORY_KEY, "indexes": HISTORY_INDEXES, "ttl": HISTORY_TTL},
            tags,
        ),
        Resource(ResourceKind.TOPIC, names.alert_topic, {}, tags),
        Resource(
            ResourceKind.TRIGGER_ROLE,
            names.trigger_role,
            {
                "path": ROLE_PATH,
                **ROLE_HAS_NOTHING_ELSE,
                "trust": fill_placeholders(trigger_trust_policy(project, env), values),
                "policy": fill_placeholders(trigger_policy(project, env), values),
            },
            tags,
        ),
        Resource(ResourceKind.SCHEDULE_GROUP, prefix(project, env), {}, tags),
    ]


def job_resources(
    compiled: CompiledJob, values: dict[str, str], task: TaskDefinitionInfo
) -> list[Resource]:
    job = compiled.job
    names = compiled.names
    tags = compiled.tags
    role_arn = f"arn:{values['Partition']}:iam::{values['AccountId']}:role{ROLE_PATH}{names.role}"
    resources = [
        Resource(
            ResourceKind.JOB_ROLE,
            names.role,
            {
                "path": ROLE_PATH,
                **ROLE_HAS_NOTHING_ELSE,
                "trust": fill_placeholders(compiled.trust_policy, values),
                "policy": _execution_policy(compiled, values, task),
            },
            tags,
            job=job.name,
        ),
        Resource(
            ResourceKind.STATE_MACHINE,
            names.state_machine,
            {
                "definition": fill_placeholders(compiled.definition, values),
                "role": role_arn,
                "type": "STANDARD",
                "logging": _logging(job, values),
                "tracing": job.tracing,
            },
            tags,
            job=job.name,
        ),
        _trigger(compiled, values),
        Resource(
            ResourceKind.JOB_META,
            job.name,
            {"config": job_config(job, values, task), "entity": JOB_ENTITY},
            job=job.name,
        ),
    ]
    return resources


def _logging(job: ResolvedJob, values: dict[str, str]) -> dict[str, Any]:
    """Step Functions' loggingConfiguration, as DescribeStateMachine returns it."""
    destinations = []
    if job.logging.level != "OFF":
        group = shared_names(job.project, job.env).log_group
        arn = f"arn:{values['Partition']}:logs:{values['Region']}:{values['AccountId']}:log-group:{group}:*"
        destinations = [{"cloudWatchLogsLogGroup": {"logGroupArn": arn}}]
    return {
        "level": job.logging.level,
        "includeExecutionData": job.logging.include_execution_data,
        "destinations": destinations,
    }


def _execution_policy(
    compiled: CompiledJob, values: dict[str, str], task: TaskDefinitionInfo
) -> dict[str, Any]:
    roles = {TASK_ROLE: task.task_role, TASK_EXECUTION_ROLE: task.execution_role}
    policy = fill_placeholders(
        _without_unknown_roles(compiled.policy, roles),
        {**values, **{k.strip("${}"): v for k, v in roles.items() if v}},
    )
    return policy  # type: ignore[no-any-return]


def _without_unknown_roles(policy: dict[str, Any], roles: dict[str, str | None]) -> dict[str, Any]:
    """Drop PassRole targets the task definition does not have (and the statement if none)."""
    statements = []
    for statement in policy["Statement"]:
        if statement.get("Action") == "iam:PassRole":
            kept = [arn for arn in statement["Resource"] if roles.get(arn)]
            if not kept:
                continue
            statement = {**statement, "Resource": kept}
        statements.append(statement)
    return {**policy, "Statement": statements}


def _trigger(compiled: CompiledJob, values: dict[str, str]) -> Resource:
    trigger = fill_placeholders(compiled.trigger, values)
    job = compiled.job
    if trigger["kind"] == "schedule":
        spec = {
            key: trigger[key]
            for key in (
                "GroupName",
                "ScheduleExpression",
                "ScheduleExpressionTimezone",
                "State",
                "Description",
                "FlexibleTimeWindow",
                "Target",
            )
        }
        return Resource(ResourceKind.SCHEDULE, trigger["Name"], spec, {}, job=job.name)
    spec = {key: trigger[key] for key in ("ScheduleExpression", "State", "Description", "Targets")}
    tags = {tag["Key"]: tag["Value"] for tag in trigger["Tags"]}
    # ListRules shows a rule's schedule, state and description but not its targets: the
    # hash tag is what lets a cheap plan believe the targets are still what apply wrote.
    tags[SPEC_HASH_TAG] = spec_hash(spec)
    return Resource(ResourceKind.RULE, trigger["Name"], spec, tags, job=job.name)


def job_config(
    job: ResolvedJob, values: dict[str, str], task: TaskDefinitionInfo | None = None
) -> dict[str, Any]:
    """What the runtime needs to know about a job (it never reads jobs.yaml): a
    `DeployedJob`, as the JSON data the META item holds, so plans compare equal."""
    names = job_names(job.project, job.env, job.name)
    logs = task.logs.get(job.container) if task else None
    return DeployedJob(
        job=job.name,
        project=job.project,
        environment=job.env,
        description=job.description,
        owner=job.owner,
        schedule=job.schedule.expression,
        schedule_source=job.schedule.source,
        timezone=job.timezone,
        enabled=job.enabled,
        concurrency=job.concurrency,
        timeout=job.timeout,
        retry=DeployedRetry(
            retries=job.retry.retries,
            interval=job.retry.interval,
            backoff_rate=job.retry.backoff_rate,
            max_interval=job.retry.max_interval,
        ),
        starting_deadline=job.starting_deadline,
        alerts=list(job.alerts.events),
        slack=job.alerts.slack,
        parameters={
            name: DeployedParameter(
                **parameter.model_dump(exclude_none=True, exclude={"enum"}),
                enum=list(parameter.enum) if parameter.enum is not None else None,
            )
            for name, parameter in sorted(job.parameters.items())
        },
        cluster=job.cluster,
        task_definition=job.task_definition,
        container=job.container,
        state_machine_arn=fill_placeholders(state_machine_arn(names.state_machine), values),
        trigger="schedule" if job.uses_scheduler else "rule",
        # Where the job's container logs go (for log links); None without awslogs.
        logs=LogSettings(**logs) if logs else None,
        secret_names=task.secrets.get(job.container, []) if task else [],
    ).to_data()
