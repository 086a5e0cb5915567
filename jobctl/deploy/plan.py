"""Desired vs deployed -> a plan: the actions apply will take, as data.

Owns reading what is deployed (only through gateways, only reads), the comparison, and the
rules of ownership: a resource is changed or deleted only if its tags say it belongs to
this project and environment; a resource with one of our names but not our tags is a
conflict that stops the plan. So is a change AWS cannot make in place and jobctl will not
make by replacing the resource (a history table's key or an index's key): refused here,
before anything is applied, so gateways only ever execute. A job that left jobs.yaml is
deleted only with prune.
Invariants: planning never mutates; actions are ordered so dependencies are created first
and deleted last; an unchanged registry plans to no actions.

Reads are cheap unless `refresh`: each kind is first glanced at with batch and list calls
(`Gateway.glance`), and a glanced resource is taken as unchanged only when it agrees exactly
with the desired one: every spec key the glance saw is equal, the tags are equal, and a spec
key it could not see is covered by the `jobctl:spec-hash` tag (equal tags, equal hash: the
spec apply last wrote is the desired one). Anything else (missing, different, no or a stale
hash, a glance that lags) is read in full, so every action is planned from a full read.
What a glance cannot see is what only `refresh` finds (a rule's targets changed by hand).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from chalicelib.aws.clients import AwsContext
from chalicelib.core.errors import JobctlError
from chalicelib.core.names import JOB_ROLE_SUFFIX, job_names, prefix, shared_names
from jobctl.deploy.gateways import Gateways
from jobctl.deploy.resources import LEVELS, SPEC_HASH_TAG, Resource, ResourceKind, owned_by

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


class ConflictError(JobctlError):
    """Resources plan may not change: with jobctl's names but not this project and
    environment's, or changed in a way AWS cannot apply in place. Exit 1."""

    def lines(self) -> list[str]:
        return ["jobctl: conflict:", *self.message.split("\n")]


def compute_plan(
    desired: list[Resource],
    gateways: Gateways,
    project: str,
    env: str | None,
    context: AwsContext,
    *,
    prune: bool = False,
    destroy: bool = False,
    refresh: bool = False,
    workers: int = 8,
) -> Plan:
    plan = Plan(project, env, context)
    wanted = [] if destroy else desired
    # Containers are read and judged first: what lives in a container that is a conflict is
    # not read at all (a history table with another key cannot even be asked for its items).
    containers = [r for r in wanted if r.kind in _CONTAINER.values()]
    deployed = _read_all(gateways, [r.key for r in containers], workers)
    refused = {
        r.kind
        for r in containers
        if r.key in deployed and _conflict(deployed[r.key], r, project, env)
    }
    inside_refused = {r.key for r in wanted if _CONTAINER.get(r.kind) in refused}
    rest = [r for r in wanted if r.kind not in _CONTAINER.values() and r.key not in inside_refused]
    unchanged = set() if refresh else _glance(gateways, rest, workers)
    deployed |= _read_all(gateways, [r.key for r in rest if r.key not in unchanged], workers)
    for resource in wanted:
        if resource.key in inside_refused or resource.key in unchanged:
            continue  # a refused container stops the plan below; unchanged needs nothing
        current = deployed.get(resource.key)
        if current is None:
            plan.actions.append(Action("create", resource))
            continue
        conflict = _conflict(current, resource, project, env)
        if conflict:
            plan.conflicts.append(conflict)
            continue
        changes = diff(current, resource)
        if changes:
            plan.actions.append(Action("update", resource, current, tuple(changes)))
    if plan.conflicts:
        # Before prune's reads: the plan stops here whatever they would find.
        raise ConflictError("\n".join(plan.conflicts))

    removals = _removed(gateways, {r.job for r in wanted if r.job}, project, env, workers)
    if destroy:
        removals += _shared_removals(gateways, project, env, workers)
    for resource in removals:
        (plan.actions if prune or destroy else plan.held_back).append(Action("delete", resource))
    plan.actions.sort(key=lambda action: action.order)
    plan.held_back.sort(key=lambda action: action.order)
    return plan


def _conflict(deployed: Resource, desired: Resource, project: str, env: str | None) -> str | None:
    """Why plan may not touch `deployed` to make it `desired` (one line), if it may not."""
    if deployed.kind not in _CONTAINER and not owned_by(deployed.tags, project, env):
        return (
            f"{desired.label} exists but is not tagged as {prefix(project, env)}'s "
            "(ManagedBy=jobctl, jobctl:project, jobctl:env): refusing to change it"
        )
    return _refusal(deployed, desired)


def _read_all(
    gateways: Gateways, keys: Iterable[tuple[ResourceKind, str]], workers: int
) -> dict[tuple[ResourceKind, str], Resource]:
    keys = list(keys)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        found = pool.map(lambda key: gateways[key[0]].read(key[1]), keys)
        return {key: resource for key, resource in zip(keys, found, strict=True) if resource}


def _glance(
    gateways: Gateways, desired: list[Resource], workers: int
) -> set[tuple[ResourceKind, str]]:
    """Keys of the desired resources a glance shows exactly as desired (nothing to do)."""
    by_kind: dict[ResourceKind, list[Resource]] = {}
    for resource in desired:
        by_kind.setdefault(resource.kind, []).append(resource)
    unchanged = set()
    for kind, resources in by_kind.items():
        glanced = gateways[kind].glance([r.name for r in resources], workers)
        for resource in resources:
            seen = glanced.get(resource.name)
            if seen is not None and agrees(seen, resource):
                unchanged.add(resource.key)
    return unchanged


def agrees(glanced: Resource, desired: Resource) -> bool:
    """Whether a glanced resource is the desired one (see the module docstring)."""
    unseen = set(desired.spec) - set(glanced.spec)
    if unseen and SPEC_HASH_TAG not in desired.tags:
        return False
    if set(glanced.spec) - set(desired.spec) or glanced.tags != desired.tags:
        return False
    return all(glanced.spec[key] == desired.spec[key] for key in glanced.spec)


# Untaggable resources are ours when their container is: a schedule lives in our schedule
# group, a job's META item in our history table.
_CONTAINER = {
    ResourceKind.SCHEDULE: ResourceKind.SCHEDULE_GROUP,
    ResourceKind.JOB_META: ResourceKind.TABLE,
}


def _table_key_changes(deployed: Resource, desired: Resource) -> list[str]:
    """Key and index key changes: DynamoDB makes neither in place (it can only add indexes)."""
    changes = []
    if deployed.spec["key"] != desired.spec["key"]:
        changes.append(f"key {_parts(deployed.spec['key'])} -> {_parts(desired.spec['key'])}")
    for name, parts in sorted(deployed.spec["indexes"].items()):
        # An index jobctl no longer declares is kept as it is: not a change of its key.
        wanted = desired.spec["indexes"].get(name, parts)
        if wanted != parts:
            changes.append(f"index {name} key {_parts(parts)} -> {_parts(wanted)}")
    return changes


def _parts(parts: list[str]) -> str:
    return f"[{', '.join(parts)}]"


# What AWS cannot change in place and jobctl will not replace, by kind: each kind's check
# lists the changes it refuses, and its remedy says what to do instead.
_IMMUTABLE: dict[ResourceKind, Callable[[Resource, Resource], list[str]]] = {
    ResourceKind.TABLE: _table_key_changes,
}
_REMEDY = {
    ResourceKind.TABLE: (
        "jobctl never replaces the history table (it holds the run history): deploy with "
        "the jobctl version that created it, or back the history up, delete the table and "
        "apply again"
    ),
}


def _refusal(deployed: Resource, desired: Resource) -> str | None:
    """The conflict, on one line, if `deployed` cannot be updated into `desired` in place."""
    check = _IMMUTABLE.get(desired.kind)
    changes = check(deployed, desired) if check else []
    if not changes:
        return None
    return f"{desired.label} cannot change in place: {'; '.join(changes)}. {_REMEDY[desired.kind]}"


def _removed(
    gateways: Gateways,
    desired_jobs: set[str],
    project: str,
    env: str | None,
    workers: int,
) -> list[Resource]:
    """Owned resources of jobs that are no longer in jobs.yaml (found by name, kept by tag)."""
    base = f"{prefix(project, env)}-"
    found_jobs: set[str] = set()
    discovered = (
        ResourceKind.JOB_ROLE,
        ResourceKind.STATE_MACHINE,
        ResourceKind.RULE,
        ResourceKind.SCHEDULE,
    )
    for kind in discovered:
        for name in gateways[kind].discover():
            job = name.removeprefix(base)
            found_jobs.add(
                job.removesuffix(JOB_ROLE_SUFFIX) if kind is ResourceKind.JOB_ROLE else job
            )
    gone = sorted(found_jobs - desired_jobs)
    if not gone:
        return []
    container_keys = [key for key in _shared_keys(project, env) if key[0] in _CONTAINER.values()]
    containers = _read_all(gateways, container_keys, workers)
    trusted = {kind for (kind, _), r in containers.items() if owned_by(r.tags, project, env)}
    keys = [key for job in gone for key in _job_keys(project, env, job)]
    deployed = _read_all(gateways, keys, workers).values()
    return [resource for resource in deployed if _deletable(resource, trusted, project, env)]


def _deletable(
    resource: Resource, trusted: set[ResourceKind], project: str, env: str | None
) -> bool:
    container = _CONTAINER.get(resource.kind)
    if container is not None:
        return container in trusted
    return owned_by(resource.tags, project, env)


def _job_keys(project: str, env: str | None, job: str) -> list[tuple[ResourceKind, str]]:
    names = job_names(project, env, job)
    return [
        (ResourceKind.JOB_ROLE, names.role),
        (ResourceKind.STATE_MACHINE, names.state_machine),
        (ResourceKind.RULE, names.rule),
        (ResourceKind.SCHEDULE, names.schedule),
        (ResourceKind.JOB_META, job),
    ]


def _shared_keys(project: str, env: str | None) -> list[tuple[ResourceKind, str]]:
    names = shared_names(project, env)
    return [
        (ResourceKind.TABLE, names.history_table),
        (ResourceKind.TOPIC, names.alert_topic),
        (ResourceKind.TRIGGER_ROLE, names.trigger_role),
        (ResourceKind.SCHEDULE_GROUP, prefix(project, env)),
        (ResourceKind.LOG_GROUP, names.log_group),
    ]


def _shared_removals(
    gateways: Gateways, project: str, env: str | None, workers: int
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
