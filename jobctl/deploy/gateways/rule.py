"""A job's EventBridge rule (UTC cron and rate schedules) and its one target.

Spec: `{"ScheduleExpression", "State", "Description", "Targets": [target]}`, targets
normalized (`normalize_target`) and sorted by Id. Invariants: PutRule/PutTargets are
idempotent by name and target Id; targets that left the spec are removed after the new ones
are put, so a rule never fires nowhere.
The rule's `jobctl:spec-hash` tag (the hash of its whole spec, part of the desired tags) is
written last, after its targets, on create as on update: a hash on a rule says its targets
are the ones it names. A cheap plan glances at the rules with ListRules (schedule, state,
description; not targets) and the tagging API (tags, with that hash), 100 per call; it
cannot see targets changed by hand (PutTargets), which only `--refresh` reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal, Protocol, cast

from jobctl.deploy.gateways.base import (
    Gateway,
    Page,
    normalize_target,
    read_or_none,
    retry_while_role_propagates,
    sync_tags,
    tags_of,
)
from jobctl.deploy.resources import SPEC_HASH_TAG, Resource, ResourceKind, tag_dict, tag_list


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
    ) -> dict[str, Any]: ...

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
        return [rule["Name"] for rule in self._listed()]

    def _listed(self) -> list[dict[str, Any]]:
        rules = []
        for page in self.client.get_paginator("list_rules").paginate(NamePrefix=f"{self.prefix}-"):
            rules += page["Rules"]
        return rules

    def glance(self, names: Sequence[str], workers: int) -> dict[str, Resource]:
        wanted = set(names)
        listed = [rule for rule in self._listed() if rule["Name"] in wanted] if wanted else []
        tags = tags_of(self.factory, [rule["Arn"] for rule in listed])
        # No "Targets": ListRules does not return them (the hash tag stands for them).
        return {
            rule["Name"]: Resource(
                self.kind,
                rule["Name"],
                _listed_spec(rule),
                tags.get(rule["Arn"], {}),
                arn=rule["Arn"],
            )
            for rule in listed
        }

    def read(self, name: str) -> Resource | None:
        rule = read_or_none(lambda: self.client.describe_rule(Name=name))
        if rule is None:
            return None
        targets = self.client.list_targets_by_rule(Rule=name)["Targets"]
        tags = self.client.list_tags_for_resource(ResourceARN=rule["Arn"]).get("Tags", [])
        spec = {
            **_listed_spec(rule),
            "Targets": [normalize_target(t) for t in sorted(targets, key=lambda t: t["Id"])],
        }
        return Resource(self.kind, name, spec, tag_dict(tags), arn=rule["Arn"])

    def create(self, resource: Resource) -> None:
        arn = self._put(resource, tags=True)
        if SPEC_HASH_TAG in resource.tags:
            # Only once the targets are in: a create that stops before leaves no hash.
            tag = {SPEC_HASH_TAG: resource.tags[SPEC_HASH_TAG]}
            self.client.tag_resource(ResourceARN=arn, Tags=tag_list(tag))

    def _put(self, resource: Resource, *, tags: bool) -> str:
        """PutRule and PutTargets; the rule's ARN."""
        spec = resource.spec
        # PutRule tags only a rule it creates; an existing rule's tags change through TagResource.
        first = {k: v for k, v in resource.tags.items() if k != SPEC_HASH_TAG}
        extra: dict[str, Any] = {"Tags": tag_list(first)} if tags else {}
        put = retry_while_role_propagates(
            lambda: self.client.put_rule(
                Name=resource.name,
                ScheduleExpression=spec["ScheduleExpression"],
                State=spec["State"],
                Description=spec["Description"],
                **extra,
            )
        )
        self.client.put_targets(Rule=resource.name, Targets=spec["Targets"])
        return str(put["RuleArn"])

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


def _listed_spec(rule: dict[str, Any]) -> dict[str, Any]:
    """The part of a rule's spec that DescribeRule and ListRules both return."""
    return {
        "ScheduleExpression": rule.get("ScheduleExpression"),
        "State": rule["State"],
        "Description": rule.get("Description", ""),
    }


def _arn(old: Resource) -> str:
    if old.arn is None:
        raise ValueError(f"{old.label}: tags change on a resource as read, with its ARN")
    return old.arn
