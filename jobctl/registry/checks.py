"""Checks that need a whole resolved job: sizes, networking, limits, secrets, parameters.

Owns the rules that span fields or layers (a Fargate cpu/memory pair may come from two
different layers). Invariant: each problem names the candidate fields that can fix it, most
specific first, so the loader can point at the line the user should edit, and skip problems
about a field whose value was invalid (and reported) in the first place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from chalicelib.core import runtime
from chalicelib.core.durations import format_duration
from chalicelib.core.names import check_job_names
from chalicelib.core.runtime import MAX_EXECUTION_SECONDS
from chalicelib.ops.parameters import RESERVED_PARAMETER
from jobctl.registry.fargate import CPU_CHOICES, describe_choices, memory_choices
from jobctl.registry.models import ResolvedJob
from jobctl.registry.secrets import find_secret

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
    for check in (_names, _launch, _sizes, _durations, _schedule, _parameters, _secrets, _tags):
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
        if parameter.default is not None:
            if parameter.pattern and not re.fullmatch(parameter.pattern, parameter.default):
                problems.append(Problem(((*field, "default"),), "default does not match pattern"))
            if parameter.enum and parameter.default not in parameter.enum:
                problems.append(Problem(((*field, "default"),), "default is not one of enum"))
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


def _secrets(job: ResolvedJob) -> list[Problem]:
    problems: list[Problem] = []
    for name, value in job.environment.items():
        why = find_secret(name, value)
        if why:
            problems.append(
                Problem(
                    (("environment", name),),
                    f"{why}: plain environment is readable by anyone who can describe the task; "
                    "put it in the task definition's secrets (Secrets Manager or SSM)",
                    at_key=why.startswith("the name"),
                )
            )
    return problems


def _tags(job: ResolvedJob) -> list[Problem]:
    problems: list[Problem] = []
    for key, value in job.tags.items():
        field = ("tags", key)
        if key.lower().startswith(("aws:", "jobctl:")) or key == "ManagedBy":
            problems.append(
                Problem((field,), f"tag '{key}' is reserved (aws:*, jobctl:*, ManagedBy)", True)
            )
        elif len(key) > 128 or len(value) > 256:
            problems.append(Problem((field,), "tag keys allow 128 characters and values 256", True))
    return problems
