"""A job's EventBridge rule (UTC cron and rate schedules) and its one target.

Spec: `{"ScheduleExpression", "State", "Description", "Targets": [target]}`, targets
normalized (`normalize_target`) and sorted by Id. Invariants: PutRule/PutTargets are
idempotent by name and target Id; targets that left the spec are removed after the new ones
are put, so a rule never fires nowhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, Protocol, cast

from jobctl.deploy.gateways.base import (
    Gateway,
    Page,
    normalize_target,
    read_or_none,
    retry_while_role_propagates,
    sync_tags,
)
from jobctl.deploy.resources import Resource, ResourceKind, tag_dict, tag_list


class RulePages(Protocol):
    def paginate(self, *, NamePrefix: str) -> Iterable[Page]: ...


class EventBridgeRules(Protocol):
    """The EventBridge calls the rule gateway makes (`put_rule` takes `Tags` on create)."""

    def get_paginator(self, operation_name: Literal["list_rules"]) -> RulePages: ...

    def describe_rule(self, *, Name: str) -> dict[str, Any]: ...

    def list_targets_by_rule(self, *, Rule: str) -> dict[str, Any]: ...

    def list_tags_for_resource(self, *, ResourceARN: str) -> dict[str, Any]: ...

    def put_rule(
        self, *, Name: str, ScheduleExpression: str, State: str, Description: str, **tags: Any
    ) -> object: ...

    def put_targets(self, *, Rule: str, Targets: list[dict[str, Any]]) -> object: ...

    def remove_targets(self, *, Rule: str, Ids: list[str]) -> object: ...

    def tag_resource(self, *, ResourceARN: str, Tags: list[dict[str, str]]) -> object: ...

    def untag_resource(self, *, ResourceARN: str, TagKeys: list[str]) -> object: ...

    def delete_rule(self, *, Name: str) -> object: ...


class RuleGateway(Gateway):
    kind = ResourceKind.RULE

    @property
    def client(self) -> EventBridgeRules:
        return cast(EventBridgeRules, self.factory.client("events"))

    def discover(self) -> list[str]:
        names = []
        for page in self.client.get_paginator("list_rules").paginate(NamePrefix=f"{self.prefix}-"):
            names += [rule["Name"] for rule in page["Rules"]]
        return names

    def read(self, name: str) -> Resource | None:
        rule = read_or_none(lambda: self.client.describe_rule(Name=name))
        if rule is None:
            return None
        targets = self.client.list_targets_by_rule(Rule=name)["Targets"]
        tags = self.client.list_tags_for_resource(ResourceARN=rule["Arn"]).get("Tags", [])
        spec = {
            "ScheduleExpression": rule.get("ScheduleExpression"),
            "State": rule["State"],
            "Description": rule.get("Description", ""),
            "Targets": [normalize_target(t) for t in sorted(targets, key=lambda t: t["Id"])],
        }
        return Resource(self.kind, name, spec, tag_dict(tags), arn=rule["Arn"])

    def create(self, resource: Resource) -> None:
        self._put(resource, tags=True)

    def _put(self, resource: Resource, *, tags: bool) -> None:
        spec = resource.spec
        # PutRule tags only a rule it creates; an existing rule's tags change through TagResource.
        extra: dict[str, Any] = {"Tags": tag_list(resource.tags)} if tags else {}
        retry_while_role_propagates(
            lambda: self.client.put_rule(
                Name=resource.name,
                ScheduleExpression=spec["ScheduleExpression"],
                State=spec["State"],
                Description=spec["Description"],
                **extra,
            )
        )
        self.client.put_targets(Rule=resource.name, Targets=spec["Targets"])

    def update(self, old: Resource, new: Resource) -> None:
        if old.spec != new.spec:
            self._put(new, tags=False)
            stale = {t["Id"] for t in old.spec["Targets"]} - {t["Id"] for t in new.spec["Targets"]}
            if stale:
                self.client.remove_targets(Rule=new.name, Ids=sorted(stale))
        sync_tags(
            old,
            new,
            lambda tags: self.client.tag_resource(ResourceARN=_arn(old), Tags=tag_list(tags)),
            lambda keys: self.client.untag_resource(ResourceARN=_arn(old), TagKeys=keys),
        )

    def delete(self, resource: Resource) -> None:
        targets = [t["Id"] for t in resource.spec.get("Targets", [])]
        if targets:
            # EventBridge refuses to delete a rule that still has targets.
            read_or_none(lambda: self.client.remove_targets(Rule=resource.name, Ids=targets))
        read_or_none(lambda: self.client.delete_rule(Name=resource.name))


def _arn(old: Resource) -> str:
    if old.arn is None:
        raise ValueError(f"{old.label}: tags change on a resource as read, with its ARN")
    return old.arn
