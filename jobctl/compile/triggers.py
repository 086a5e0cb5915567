"""One resolved job -> the trigger that starts its state machine on schedule.

UTC jobs get an EventBridge rule (cron/rate in UTC); jobs with a time zone get an EventBridge
Scheduler schedule, the only AWS trigger that evaluates cron in a zone with DST. Either way
the execution input is `{"trigger": "schedule", "scheduled_time": ..., "event_id": ...}`: the
state machine dedupes on the scheduled minute, since EventBridge delivers at least once.
Invariant: the output is plain data shaped like the AWS API requests (PutRule + PutTargets,
or CreateSchedule), so deploy can diff it field by field.
"""

from __future__ import annotations

from typing import Any

from chalicelib.core.arns import role_arn, state_machine_arn
from chalicelib.core.names import job_names, resource_tags, shared_names
from jobctl.registry.models import ResolvedJob

# Delivery retries stop after this age; a starting_deadline shortens it (AWS minimum 60 s).
MAX_EVENT_AGE = 86400
MIN_EVENT_AGE = 60
DELIVERY_RETRIES = 185


def _event_age(job: ResolvedJob) -> int:
    if job.starting_deadline is None:
        return MAX_EVENT_AGE
    return max(MIN_EVENT_AGE, min(MAX_EVENT_AGE, job.starting_deadline))


def _description(job: ResolvedJob) -> str:
    text = f"jobctl: {job.description or job.name}"
    return text[:512]


def compile_trigger(job: ResolvedJob) -> dict[str, Any]:
    names = job_names(job.project, job.env, job.name)
    target_arn = state_machine_arn(names.state_machine)
    trigger_role = role_arn(shared_names(job.project, job.env).trigger_role)
    state = "ENABLED" if job.enabled else "DISABLED"
    retry = {"MaximumEventAgeInSeconds": _event_age(job), "MaximumRetryAttempts": DELIVERY_RETRIES}
    tags = resource_tags(job.project, job.env, job.name) | job.tags
    if job.uses_scheduler:
        return {
            "kind": "schedule",
            "Name": names.schedule,
            "GroupName": names.schedule_group,
            "ScheduleExpression": job.schedule.expression,
            "ScheduleExpressionTimezone": job.timezone,
            "State": state,
            "Description": _description(job),
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": {
                "Arn": target_arn,
                "RoleArn": trigger_role,
                # Scheduler substitutes its context attributes inside the input text.
                "Input": (
                    '{"trigger": "schedule", '
                    '"scheduled_time": "<aws.scheduler.scheduled-time>", '
                    '"event_id": "<aws.scheduler.execution-id>"}'
                ),
                "RetryPolicy": retry,
            },
            # Schedules are not taggable; their group carries the tags.
            "GroupTags": resource_tags(job.project, job.env),
        }
    return {
        "kind": "rule",
        "Name": names.rule,
        "ScheduleExpression": job.schedule.expression,
        "State": state,
        "Description": _description(job),
        "Tags": [{"Key": key, "Value": value} for key, value in sorted(tags.items())],
        "Targets": [
            {
                "Id": "run",
                "Arn": target_arn,
                "RoleArn": trigger_role,
                "InputTransformer": {
                    "InputPathsMap": {"id": "$.id", "time": "$.time"},
                    "InputTemplate": (
                        '{"trigger": "schedule", "scheduled_time": <time>, "event_id": <id>}'
                    ),
                },
                "RetryPolicy": retry,
            }
        ],
    }
