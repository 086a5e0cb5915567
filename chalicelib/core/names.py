"""AWS resource names and tags for a project, environment and job.

Owns every name jobctl gives to AWS resources, so deploy, prune and the API agree on them.
Invariants: names are `<project>[-<env>]-<job>[-suffix]`, deterministic, and within the AWS
limit of their resource type (`check_job_names` reports any that are not); every resource
carries `ManagedBy=jobctl` plus the project/env/job tags that prune relies on.
"""

from __future__ import annotations

from dataclasses import dataclass

# AWS name length limits for the per-job resources jobctl creates.
LIMITS = {
    "state machine": 80,
    "EventBridge rule": 64,
    "Scheduler schedule": 64,
    "IAM role": 64,
}

MANAGED_BY = ("ManagedBy", "jobctl")
TAG_PROJECT = "jobctl:project"
TAG_ENV = "jobctl:env"
TAG_JOB = "jobctl:job"


# A job's execution role is `<prefix>-<job>` plus this (deploy finds its roles by it).
JOB_ROLE_SUFFIX = "-sfn"


def prefix(project: str, env: str | None) -> str:
    return f"{project}-{env}" if env else project


def alert_topic(base: str) -> str:
    """The alert topic of `base` (a `prefix`): the compiler, deploy and the alert functions
    (which know only JOBCTL_PREFIX) all name it here."""
    return f"{base}-alerts"


@dataclass(frozen=True)
class JobNames:
    """The names of one job's resources."""

    state_machine: str
    rule: str
    schedule: str
    schedule_group: str
    role: str

    def by_kind(self) -> dict[str, str]:
        return {
            "state machine": self.state_machine,
            "EventBridge rule": self.rule,
            "Scheduler schedule": self.schedule,
            "IAM role": self.role,
        }


@dataclass(frozen=True)
class SharedNames:
    """Resources shared by every job of one project and environment."""

    history_table: str
    alert_topic: str
    trigger_role: str
    # Under /aws/vendedlogs/ so Step Functions log delivery needs no log resource policy growth.
    log_group: str


def job_names(project: str, env: str | None, job: str) -> JobNames:
    base = f"{prefix(project, env)}-{job}"
    return JobNames(
        state_machine=base,
        rule=base,
        schedule=base,
        schedule_group=prefix(project, env),
        role=f"{base}{JOB_ROLE_SUFFIX}",
    )


def shared_names(project: str, env: str | None) -> SharedNames:
    base = prefix(project, env)
    return SharedNames(
        history_table=f"{base}-history",
        alert_topic=alert_topic(base),
        trigger_role=f"{base}-trigger",
        log_group=f"/aws/vendedlogs/states/jobctl/{base}",
    )


def check_job_names(project: str, env: str | None, job: str) -> str | None:
    """A message for the first AWS name limit this job breaks, or None."""
    names = job_names(project, env, job).by_kind()
    for kind, name in names.items():
        limit = LIMITS[kind]
        if len(name) > limit:
            excess = len(name) - limit
            return (
                f"name too long: the {kind} name '{name}' has {len(name)} characters and AWS "
                f"allows {limit}; shorten the job name by {excess}"
            )
    return None


def resource_tags(project: str, env: str | None, job: str | None = None) -> dict[str, str]:
    """Tags on every resource jobctl creates; prune deletes only what carries them."""
    tags = {MANAGED_BY[0]: MANAGED_BY[1], TAG_PROJECT: project}
    if env:
        # No tag at all without an environment: some services (Scheduler) reject empty values.
        tags[TAG_ENV] = env
    if job:
        tags[TAG_JOB] = job
    return tags
