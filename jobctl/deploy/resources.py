"""Deployable resources as comparable data.

Owns `Resource`: one AWS resource as jobctl sees it, desired (compiled) or deployed (read),
in the same normalized shape so that plan is a plain comparison. Invariants: `spec` and
`tags` are JSON-like values normalized the same way on both sides; `kind` decides the order
in which resources are created (dependencies first) and deleted (dependents first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalicelib.core.names import MANAGED_BY, TAG_ENV, TAG_PROJECT

# Creation order: a resource may depend on any kind of a lower level.
LEVELS: dict[str, int] = {
    "table": 0,
    "topic": 0,
    "log-group": 0,
    "trigger-role": 0,
    "schedule-group": 0,
    "job-role": 0,
    "state-machine": 1,
    "rule": 2,
    "schedule": 2,
    "job-meta": 2,
}


@dataclass(frozen=True)
class Resource:
    kind: str
    name: str
    spec: dict[str, Any]
    tags: dict[str, str] = field(default_factory=dict)
    job: str | None = None
    arn: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.name)

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}"


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
