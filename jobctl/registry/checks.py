"""Checks that need a whole resolved job: sizes, networking, limits, secrets, parameters.

Owns the rules that span fields or layers (a Fargate cpu/memory pair may come from two
different layers), the secret check over every text that leaves the registry, and AWS's
documented limits that only the whole job can measure (ECS RunTask's 8,192-character
overrides, DynamoDB's 400 KB item), each named in its message. Invariant: each problem names the candidate fields that can fix it, most
specific first, so the loader can point at the line the user should edit, and skip problems
about a field whose value was invalid (and reported) in the first place.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from chalicelib.core import patterns, runtime
from chalicelib.core.durations import format_duration
from chalicelib.core.names import check_job_names
from chalicelib.core.runtime import MAX_EXECUTION_SECONDS
from chalicelib.ops.parameters import RESERVED_PARAMETER
from jobctl.registry.fargate import CPU_CHOICES, describe_choices, memory_choices
from jobctl.registry.models import ResolvedJob
from jobctl.registry.secrets import find_secret, find_secret_in, secret_name

Field = tuple[str, ...]


@dataclass(frozen=True)
class Problem:
    """A problem and the fields that can fix it, most specific first."""

    fields: tuple[Field, ...]
    message: str
    at_key: bool = False  # point at the field's key (a name) rather than its value


# Standard workflows run at most one year; a job plus all its retries must fit.
# Also refused on manual runs by the API (chalicelib/ops/parameters.py).


def check_job(job: ResolvedJob) -> list[Problem]:
    problems: list[Problem] = []
    checks = (_names, _launch, _sizes, _durations, _schedule, _parameters, _secrets, _tags)
    for check in (*checks, _aws_limits):
        problems.extend(check(job))
    return problems


def _names(job: ResolvedJob) -> list[Problem]:
    message = check_job_names(job.project, job.env, job.name)
    return [Problem((), message)] if message else []


def _launch(job: ResolvedJob) -> list[Problem]:
    if job.is_fargate and job.network is None:
        return [
            Problem(
                (("network",), ("launch_type",), ("capacity_provider_strategy",)),
                "Fargate tasks use awsvpc networking: set network.subnets and network.security_groups",
            )
        ]
    if job.platform_version and not job.is_fargate:
        return [Problem((("platform_version",),), "platform_version applies to Fargate tasks only")]
    return []


def _sizes(job: ResolvedJob) -> list[Problem]:
    cpu, memory = job.cpu, job.memory
    if job.is_fargate:
        if cpu is not None and cpu not in CPU_CHOICES:
            choices = ", ".join(str(c) for c in CPU_CHOICES)
            return [Problem((("cpu",),), f"{cpu} is not a Fargate CPU size; use one of {choices}")]
        if cpu is not None and memory is not None and memory not in memory_choices(cpu):
            return [
                Problem(
                    (("memory",), ("cpu",)),
                    f"memory {memory} MiB does not fit cpu {cpu} on Fargate: "
                    f"use {describe_choices(cpu)}",
                )
            ]
        return []
    problems: list[Problem] = []
    if cpu is not None and not 128 <= cpu <= 196608:
        problems.append(
            Problem((("cpu",),), f"cpu must be between 128 and 196608 units, found {cpu}")
        )
    if memory is not None and not 128 <= memory <= 1048576:
        problems.append(
            Problem((("memory",),), f"memory must be between 128 and 1048576 MiB, found {memory}")
        )
    return problems


def worst_case_seconds(job: ResolvedJob) -> int:
    """The longest an execution of `job` can run (`chalicelib.core.runtime`'s formula)."""
    return runtime.worst_case_seconds(job.timeout, job.retry_timing)


def _durations(job: ResolvedJob) -> list[Problem]:
    problems: list[Problem] = []
    retry = job.retry
    shorter = "max_interval must not be shorter than interval"
    if retry.max_interval is not None and retry.max_interval < retry.interval:
        problems.append(Problem((("retry", "max_interval"), ("retry", "interval")), shorter))
    if retry.capacity.max_interval < retry.capacity.interval:
        problems.append(
            Problem(
                (("retry", "capacity", "max_interval"), ("retry", "capacity", "interval")), shorter
            )
        )
    worst = worst_case_seconds(job)
    if worst > MAX_EXECUTION_SECONDS:
        problems.append(
            Problem(
                (("timeout",), ("retry", "retries")),
                f"timeout {format_duration(job.timeout)} with {retry.retries} retries can run "
                f"{format_duration(worst)}; a Step Functions execution may run at most 365d",
            )
        )
    return problems


def _schedule(job: ResolvedJob) -> list[Problem]:
    if job.schedule.kind == "rate" and job.timezone != "UTC":
        return [
            Problem(
                (("timezone",), ("schedule",)),
                f"timezone applies to cron() schedules only; {job.schedule.expression} "
                "runs at a fixed interval in every zone: remove timezone",
            )
        ]
    return []


def _parameters(job: ResolvedJob) -> list[Problem]:
    problems: list[Problem] = []
    for name, parameter in job.parameters.items():
        field = ("parameters", name)
        if RESERVED_PARAMETER.match(name):
            problems.append(
                Problem(
                    (field,),
                    f"'{name}' is reserved: AWS_*, ECS_* and LD_* cannot be parameters",
                    True,
                )
            )
        if name in job.environment:
            problems.append(
                Problem(
                    (field,),
                    f"'{name}' is also in environment: give the value a parameter default instead",
                    True,
                )
            )
        if parameter.required and parameter.default is not None:
            problems.append(
                Problem(((*field, "default"),), "a required parameter cannot have a default")
            )
        elif parameter.required and job.enabled:
            # A scheduled run is started by the trigger with no parameters: every one would
            # fail the state machine's input check (`Job.InvalidInput`) before its task starts.
            problems.append(
                Problem(
                    ((*field, "required"), ("enabled",)),
                    f"parameter '{name}' is required and has no default, but the schedule starts "
                    "runs without parameters: give it a default instead of required, or make "
                    "the job manual-only with enabled: false",
                    True,
                )
            )
        # RE2, as the API matches values: linear time, whole value, ASCII `\d`.
        if parameter.default is not None:
            if parameter.pattern and not patterns.fullmatch(parameter.pattern, parameter.default):
                problems.append(Problem(((*field, "default"),), "default does not match pattern"))
            if parameter.enum and parameter.default not in parameter.enum:
                problems.append(Problem(((*field, "default"),), "default is not one of enum"))
        if parameter.pattern and parameter.enum:
            unmatched = [v for v in parameter.enum if not patterns.fullmatch(parameter.pattern, v)]
            if unmatched:
                problems.append(
                    Problem(
                        ((*field, "enum"),),
                        f"enum value '{unmatched[0]}' does not match pattern: a run could never "
                        "pass it",
                    )
                )
        if not (parameter.pattern or parameter.enum):
            problems.append(
                Problem(
                    (field,),
                    f"parameter '{name}' needs a pattern or an enum: operators may only pass "
                    "values the job declares",
                    True,
                )
            )
    return problems


_SECRETS_HOME = "put it in the task definition's secrets (Secrets Manager or SSM)"
# Where each text ends up, said in the message: the reason it must not hold a secret.
_READABLE = {
    "environment": "plain environment is readable by anyone who can describe the task",
    "command": "the command is in the committed state machine definition and readable by "
    "anyone who can describe the task",
    "parameters": "parameter defaults and enums are in the committed state machine definition "
    "and shown by the API",
    "tags": "tags are readable by anyone who can list the resource's tags",
}
_READABLE_ELSEWHERE = "it is stored in AWS resources and shown by the API"
_SECRETS_ELSEWHERE = (
    "keep secrets in Secrets Manager or SSM and give them to the task through the task "
    "definition's secrets"
)


def _texts(job: ResolvedJob) -> Iterator[tuple[Field, str | None, str, str]]:
    """Every text of `job` that leaves the registry: (field, its name, text, what it is)."""
    for name, value in job.environment.items():
        yield ("environment", name), name, value, "the value"
    command = job.command or ()
    for index, argument in enumerate(command):
        what = f"command argument {index + 1}"
        flag, _, value = argument.partition("=")
        if value and flag.startswith("-"):  # --db-password=hunter2
            yield ("command",), flag, value, what
        elif (
            argument.startswith("--")
            and index + 1 < len(command)
            and not command[index + 1].startswith("-")
        ):  # --db-password hunter2
            yield ("command",), argument, command[index + 1], f"command argument {index + 2}"
        yield ("command",), None, argument, what
    for name, parameter in job.parameters.items():
        if parameter.default is not None:
            yield ("parameters", name, "default"), name, parameter.default, "the default"
        for value in parameter.enum or ():
            yield ("parameters", name, "enum"), None, value, "an enum value"
        if parameter.description:
            yield ("parameters", name, "description"), None, parameter.description, "the text"
    for key, value in job.tags.items():
        yield ("tags", key), key, value, "the value"
    singles = {
        "description": job.description,
        "owner": job.owner,
        "cluster": job.cluster,
        "task_definition": job.task_definition,
        "container": job.container,
        "platform_version": job.platform_version,
    }
    for field, text in singles.items():
        if text:
            yield (field,), None, text, f"the {field.replace('_', ' ')}"
    if job.network:
        for value in (*job.network.subnets, *job.network.security_groups):
            yield ("network",), None, value, "a subnet or security group"
    for provider in job.capacity_provider_strategy or ():
        yield ("capacity_provider_strategy",), None, provider.capacity_provider, "a provider"


def _secrets(job: ResolvedJob) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for field, name, text, what in _texts(job):
        if name is not None and field[0] == "command":
            named = secret_name(name.lstrip("-"))
            why = f"{what} is a value for '{name}', which names a secret" if named else None
        elif name is not None:
            why = find_secret(name, text)
        else:
            why = find_secret_in(what, text)
        readable = _READABLE.get(field[0], _READABLE_ELSEWHERE)
        home = _SECRETS_HOME if field[0] == "environment" else _SECRETS_ELSEWHERE
        message = f"{why}: {readable}; {home}"
        if not why or message in seen:
            continue
        seen.add(message)
        problems.append(
            Problem(
                (field,),
                message,
                at_key=why.startswith("the name") and field[0] in ("environment", "tags"),
            )
        )
    return problems


def _tags(job: ResolvedJob) -> list[Problem]:
    problems: list[Problem] = []
    for key in job.tags:
        field = ("tags", key)
        if key.lower().startswith(("aws:", "jobctl:")) or key == "ManagedBy":
            problems.append(
                Problem((field,), f"tag '{key}' is reserved (aws:*, jobctl:*, ManagedBy)", True)
            )
    return problems


# RunTask: "A total of 8192 characters are allowed for overrides. This limit includes the
# JSON formatting characters of the override structure." (ECS API Reference, TaskOverride).
MAX_ECS_OVERRIDES = 8192
# DynamoDB: "The maximum item size in DynamoDB is 400 KB, which includes both attribute name
# binary length (UTF-8 length) and attribute value lengths" (Service quotas). The job's META
# item holds its description, owner and parameters; the rest of it fits in the margin.
MAX_DYNAMODB_ITEM = 400 * 1024
_META_MARGIN = 8 * 1024


def ecs_overrides_size(job: ResolvedJob) -> int:
    """Characters of the RunTask `overrides` a scheduled run sends (parameters at default)."""
    environment = {**job.environment}
    environment.update(
        {name: p.default for name, p in job.parameters.items() if p.default is not None}
    )
    container: dict[str, object] = {"name": job.container}
    if job.command:
        container["command"] = list(job.command)
    if environment:
        container["environment"] = [{"name": k, "value": v} for k, v in environment.items()]
    overrides: dict[str, object] = {"containerOverrides": [container]}
    if job.cpu is not None:
        overrides["cpu"] = str(job.cpu)
    if job.memory is not None:
        overrides["memory"] = str(job.memory)
    return len(json.dumps(overrides, separators=(",", ":"), ensure_ascii=False))


def meta_item_size(job: ResolvedJob) -> int:
    """UTF-8 bytes of what jobs.yaml puts into the job's META item (plus a margin)."""
    held = {
        "description": job.description,
        "owner": job.owner,
        "parameters": {name: p.model_dump(exclude_none=True) for name, p in job.parameters.items()},
    }
    return len(json.dumps(held, ensure_ascii=False).encode("utf-8")) + _META_MARGIN


def _aws_limits(job: ResolvedJob) -> list[Problem]:
    """AWS's documented limits that the compiled resources would only meet at run time."""
    problems: list[Problem] = []
    size = ecs_overrides_size(job)
    if size > MAX_ECS_OVERRIDES:
        sent = (
            "command, environment and parameter defaults"
            if job.parameters
            else ("command and environment")
        )
        # Point at what takes most of the room.
        command = len(json.dumps(list(job.command or ()), ensure_ascii=False))
        fields: tuple[Field, ...] = (("environment",), ("parameters",), ("command",))
        if command > len(json.dumps(job.environment, ensure_ascii=False)):
            fields = (("command",), ("environment",), ("parameters",))
        problems.append(
            Problem(
                fields,
                f"the container overrides every run sends ({sent}) are {size:,} characters "
                f"of JSON; ECS RunTask allows {MAX_ECS_OVERRIDES:,}: move data into the task "
                "definition or a file the job reads",
            )
        )
    size = meta_item_size(job)
    if size > MAX_DYNAMODB_ITEM:
        problems.append(
            Problem(
                (("parameters",), ("description",)),
                f"the job's record in the history table (description, owner, parameters) "
                f"would be {size:,} bytes; a DynamoDB item allows 400 KB "
                f"({MAX_DYNAMODB_ITEM:,} bytes): shorten the enums or descriptions",
            )
        )
    return problems
