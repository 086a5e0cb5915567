"""Deployable resources as comparable data.

Owns `Resource`: one AWS resource as jobctl sees it, desired (compiled) or deployed (read),
in the same normalized shape so that plan is a plain comparison, and `ResourceKind`, the closed
set of kinds jobctl deploys. Invariants: `spec` and `tags` are JSON-like values normalized
the same way on both sides; `kind` is a `ResourceKind` (a `StrEnum`, so it prints, sorts,
hashes and serializes as its plain string: plan output is unchanged by it) and decides the
order in which resources are created (dependencies first) and deleted (dependents first);
`LEVELS` has a level for every kind.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from chalicelib.core.names import MANAGED_BY, TAG_ENV, TAG_PROJECT


class ResourceKind(StrEnum):
    """What a resource is; its value is the word plan output and `plan --json` show."""

    TABLE = "table"
    TOPIC = "topic"
    LOG_GROUP = "log-group"
    TRIGGER_ROLE = "trigger-role"
    SCHEDULE_GROUP = "schedule-group"
    JOB_ROLE = "job-role"
    STATE_MACHINE = "state-machine"
    RULE = "rule"
    SCHEDULE = "schedule"
    JOB_META = "job-meta"


# Creation order: a resource may depend on any kind of a lower level.
LEVELS: dict[ResourceKind, int] = {
    ResourceKind.TABLE: 0,
    ResourceKind.TOPIC: 0,
    ResourceKind.LOG_GROUP: 0,
    ResourceKind.TRIGGER_ROLE: 0,
    ResourceKind.SCHEDULE_GROUP: 0,
    ResourceKind.JOB_ROLE: 0,
    ResourceKind.STATE_MACHINE: 1,
    ResourceKind.RULE: 2,
    ResourceKind.SCHEDULE: 2,
    ResourceKind.JOB_META: 2,
}


@dataclass(frozen=True)
class Resource:
    kind: ResourceKind
    name: str
    spec: dict[str, Any]
    tags: dict[str, str] = field(default_factory=dict)
    job: str | None = None
    arn: str | None = None

    @property
    def key(self) -> tuple[ResourceKind, str]:
        return (self.kind, self.name)

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}"


# The tag holding `spec_hash` of the spec apply last wrote, on kinds whose spec a cheap
# (batched) read cannot see in full: plan believes the unseen part when the tag matches the
# desired spec's hash (see `jobctl.deploy.plan`). `jobctl:*` tags are reserved in jobs.yaml.
SPEC_HASH_TAG = "jobctl:spec-hash"


def spec_hash(spec: dict[str, Any]) -> str:
    """A stable digest of a spec (JSON with sorted keys): equal specs, equal hashes."""
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def owned_by(tags: dict[str, str], project: str, env: str | None) -> bool:
    """Whether tags mark a resource as this project and environment's (prune relies on it)."""
    return (
        tags.get(MANAGED_BY[0]) == MANAGED_BY[1]
        and tags.get(TAG_PROJECT) == project
        and tags.get(TAG_ENV, "") == (env or "")
    )


def tag_list(tags: dict[str, str], key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
    return [{key: k, value: v} for k, v in sorted(tags.items())]


def tag_dict(items: list[dict[str, str]], key: str = "Key", value: str = "Value") -> dict[str, str]:
    return {item[key]: item[value] for item in items}
