"""Desired vs deployed -> a plan: the actions apply will take, as data.

Owns reading what is deployed (only through gateways, only reads), the comparison, and the
rules of ownership: a resource is changed or deleted only if its tags say it belongs to
this project and environment; a resource with one of our names but not our tags is a
conflict that stops the plan. A job that left jobs.yaml is deleted only with prune.
Invariants: planning never mutates; actions are ordered so dependencies are created first
and deleted last; an unchanged registry plans to no actions.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from chalicelib.aws.clients import AwsContext
from chalicelib.core.names import job_names, prefix, shared_names
from jobctl.deploy.gateways import Gateway
from jobctl.deploy.resources import LEVELS, Resource, owned_by

Verb = Literal["create", "update", "delete"]


@dataclass(frozen=True)
class Change:
    path: str
    old: Any
    new: Any


@dataclass(frozen=True)
class Action:
    verb: Verb
    resource: Resource  # desired for create/update, deployed for delete
    previous: Resource | None = None  # deployed, for update
    changes: tuple[Change, ...] = ()

    @property
    def order(self) -> tuple[int, str, str]:
        level = LEVELS[self.resource.kind]
        # Deletions run first and dependents first; then creations, dependencies first.
        rank = -level if self.verb == "delete" else 10 + level
        return (rank, self.resource.kind, self.resource.name)


@dataclass
class Plan:
    project: str
    env: str | None
    context: AwsContext
    actions: list[Action] = field(default_factory=list)
    held_back: list[Action] = field(default_factory=list)  # deletions that need --prune
    conflicts: list[str] = field(default_factory=list)

    def count(self, verb: Verb) -> int:
        return sum(1 for action in self.actions if action.verb == verb)


class ConflictError(Exception):
    """Resources with jobctl's names that this project and environment do not own."""


def compute_plan(
    desired: list[Resource],
    gateways: dict[str, Gateway],
    project: str,
    env: str | None,
    context: AwsContext,
    *,
    prune: bool = False,
    destroy: bool = False,
    workers: int = 8,
) -> Plan:
    plan = Plan(project, env, context)
    wanted = [] if destroy else desired
    deployed = _read_all(gateways, [(r.kind, r.name) for r in wanted], workers)
    for resource in wanted:
        current = deployed.get(resource.key)
        if current is None:
            plan.actions.append(Action("create", resource))
            continue
        if current.kind not in ("schedule", "job-meta") and not owned_by(
            current.tags, project, env
        ):
            plan.conflicts.append(
                f"{resource.label} exists but is not tagged as {prefix(project, env)}'s "
                "(ManagedBy=jobctl, jobctl:project, jobctl:env): refusing to change it"
            )
            continue
        changes = diff(current, resource)
        if changes:
            plan.actions.append(Action("update", resource, current, tuple(changes)))

    removals = _removed(gateways, {r.job for r in wanted if r.job}, project, env, workers)
    if destroy:
        removals += _shared_removals(gateways, project, env, workers)
    for resource in removals:
        (plan.actions if prune or destroy else plan.held_back).append(Action("delete", resource))
    plan.actions.sort(key=lambda action: action.order)
    plan.held_back.sort(key=lambda action: action.order)
    if plan.conflicts:
        raise ConflictError("\n".join(plan.conflicts))
    return plan


def _read_all(
    gateways: dict[str, Gateway], keys: Iterable[tuple[str, str]], workers: int
) -> dict[tuple[str, str], Resource]:
    keys = list(keys)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        found = pool.map(lambda key: gateways[key[0]].read(key[1]), keys)
        return {key: resource for key, resource in zip(keys, found, strict=True) if resource}


# Untaggable resources are ours when their container is: a schedule lives in our schedule
# group, a job's META item in our history table.
_CONTAINER = {"schedule": "schedule-group", "job-meta": "table"}


def _removed(
    gateways: dict[str, Gateway],
    desired_jobs: set[str],
    project: str,
    env: str | None,
    workers: int,
) -> list[Resource]:
    """Owned resources of jobs that are no longer in jobs.yaml (found by name, kept by tag)."""
    base = f"{prefix(project, env)}-"
    found_jobs: set[str] = set()
    for kind in ("job-role", "state-machine", "rule", "schedule"):
        for name in gateways[kind].discover():
            job = name.removeprefix(base)
            found_jobs.add(job.removesuffix("-sfn") if kind == "job-role" else job)
    gone = sorted(found_jobs - desired_jobs)
    if not gone:
        return []
    container_keys = [key for key in _shared_keys(project, env) if key[0] in _CONTAINER.values()]
    containers = _read_all(gateways, container_keys, workers)
    trusted = {kind for (kind, _), r in containers.items() if owned_by(r.tags, project, env)}
    keys = [key for job in gone for key in _job_keys(project, env, job)]
    deployed = _read_all(gateways, keys, workers).values()
    return [resource for resource in deployed if _deletable(resource, trusted, project, env)]


def _deletable(resource: Resource, trusted: set[str], project: str, env: str | None) -> bool:
    container = _CONTAINER.get(resource.kind)
    if container is not None:
        return container in trusted
    return owned_by(resource.tags, project, env)


def _job_keys(project: str, env: str | None, job: str) -> list[tuple[str, str]]:
    names = job_names(project, env, job)
    return [
        ("job-role", names.role),
        ("state-machine", names.state_machine),
        ("rule", names.rule),
        ("schedule", names.schedule),
        ("job-meta", job),
    ]


def _shared_keys(project: str, env: str | None) -> list[tuple[str, str]]:
    names = shared_names(project, env)
    return [
        ("table", names.history_table),
        ("topic", names.alert_topic),
        ("trigger-role", names.trigger_role),
        ("schedule-group", prefix(project, env)),
        ("log-group", names.log_group),
    ]


def _shared_removals(
    gateways: dict[str, Gateway], project: str, env: str | None, workers: int
) -> list[Resource]:
    deployed = _read_all(gateways, _shared_keys(project, env), workers)
    return [r for r in deployed.values() if owned_by(r.tags, project, env)]


def diff(old: Resource, new: Resource) -> list[Change]:
    changes = _diff(old.spec, new.spec, "")
    changes += _diff(old.tags, new.tags, "tags")
    return changes


def _diff(old: Any, new: Any, path: str) -> list[Change]:
    if isinstance(old, dict) and isinstance(new, dict):
        changes: list[Change] = []
        for key in sorted(set(old) | set(new), key=str):
            child = f"{path}.{key}" if path else str(key)
            if key not in old:
                changes.append(Change(child, None, new[key]))
            elif key not in new:
                changes.append(Change(child, old[key], None))
            else:
                changes += _diff(old[key], new[key], child)
        return changes
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        changes = []
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            changes += _diff(a, b, f"{path}[{index}]")
        return changes
    return [] if old == new else [Change(path, old, new)]
