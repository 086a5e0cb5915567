"""Every registry the test suite compiles, deployed as `jobctl apply` would deploy it.

Owns `TEST_REGISTRIES` (the example jobs.yaml, tests/data/variety.yaml, the end-to-end
platform's registry and the unit tests' BASE with one job) and `deployments()`: for each
registry and each of its environments, the desired resources (jobctl.deploy.desired, the
objects apply creates, with account, region and the task definition's roles filled in).
The oracles in tests/oracles run against all of them, so a registry added here is covered
by every oracle at once. Cached per process: compiling is pure.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

from chalicelib.aws.clients import AwsContext
from jobctl.deploy.desired import TaskDefinitionInfo, desired_resources
from jobctl.deploy.resources import Resource, ResourceKind
from jobctl.registry.loader import Registry, load_registry, parse_registry
from jobctl.registry.models import ResolvedJob
from tests.support.asl_requests import TaskRequest
from tests.support.registries import BASE

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
REGION = "ap-northeast-1"
TASK_ROLE = f"arn:aws:iam::{ACCOUNT}:role/app-task"
TASK_EXECUTION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/app-task-execution"
TASK = TaskDefinitionInfo(
    TASK_ROLE,
    TASK_EXECUTION_ROLE,
    logs={"app": {"group": "/ecs/app", "stream_prefix": "app", "region": REGION}},
    secrets={"app": ["DB_PASSWORD"]},
)


def _e2e_text() -> str:
    from tests.e2e.conftest import JOBS

    return JOBS.replace("SUBNET", "subnet-0e2e").replace("GROUP", "sg-0e2e")


def _registries() -> dict[str, Registry]:
    return {
        "example": load_registry(ROOT / "jobs.yaml"),
        "variety": load_registry(ROOT / "tests" / "data" / "variety.yaml"),
        "e2e": parse_registry(_e2e_text()),
        "base": parse_registry(
            BASE + "jobs:\n  nightly:\n    schedule: cron(0 3 * * ? *)\n    command: [bin/x]\n"
        ),
    }


@dataclass(frozen=True)
class Deployment:
    """One registry in one environment, as apply would deploy it."""

    label: str
    registry: Registry
    env: str | None
    context: AwsContext
    resources: tuple[Resource, ...]

    @property
    def id(self) -> str:
        return f"{self.label}-{self.env}" if self.env else self.label

    def jobs(self) -> list[ResolvedJob]:
        return sorted(self.registry.jobs_for(self.env), key=lambda job: job.name)

    def of_kind(self, kind: ResourceKind) -> list[Resource]:
        return [resource for resource in self.resources if resource.kind == kind]

    def for_job(self, kind: ResourceKind, job: str) -> Resource:
        return next(r for r in self.of_kind(kind) if r.job == job)


def context_of(registry: Registry, env: str | None) -> AwsContext:
    account, region = registry.pins.get(env, (None, None)) if env else (None, None)
    return AwsContext(account or ACCOUNT, region or REGION, "aws")


@functools.cache
def deployments() -> tuple[Deployment, ...]:
    found = []
    for label, registry in _registries().items():
        for env in registry.targets:
            context = context_of(registry, env)
            resources = desired_resources(registry, env, context, lambda _name: TASK)
            found.append(Deployment(label, registry, env, context, tuple(resources)))
    return tuple(found)


def deployment_ids() -> list[str]:
    return [deployment.id for deployment in deployments()]


@functools.cache
def task_requests(deployment_id: str, job: str) -> tuple[TaskRequest, ...]:
    """Every distinct request the job's deployed state machine makes (see asl_requests),
    from every representative input and every Catch path."""
    from jobctl.deploy.resources import ResourceKind
    from tests.support.asl_requests import explore, override_inputs, representative_inputs

    deployment = next(d for d in deployments() if d.id == deployment_id)
    resolved = next(j for j in deployment.jobs() if j.name == job)
    machine = deployment.for_job(ResourceKind.STATE_MACHINE, job)
    arn = resolved_machine_arn(deployment, machine.name)
    seen: dict[str, TaskRequest] = {}
    definition = machine.spec["definition"]
    traces = explore(definition, representative_inputs(resolved.parameters), arn)
    # The concurrency override's variant of each request, down every Catch path too.
    traces += explore(definition, override_inputs(resolved.parameters), arn)
    for trace in traces:
        for request in trace.requests:
            seen.setdefault(
                json.dumps([request.state, request.resource, request.arguments], sort_keys=True),
                request,
            )
    return tuple(seen.values())


def resolved_machine_arn(deployment: Deployment, name: str) -> str:
    c = deployment.context
    return f"arn:{c.partition}:states:{c.region}:{c.account}:stateMachine:{name}"
