"""The environment's EventBridge Scheduler group: the tagged container of its schedules.

Spec: `{}`. Schedules are not taggable, so this group's tags are what make them ours (plan
trusts a schedule only inside a group it owns). Invariant: a group being deleted reads as
absent.
"""

from __future__ import annotations

from typing import Any, Protocol, cast

import botocore.exceptions

from chalicelib.aws.clients import error_code
from jobctl.deploy.gateways.base import Gateway, TagsByArn, read_or_none, sync_tags_by_arn
from jobctl.deploy.resources import Resource, ResourceKind, tag_dict, tag_list


class SchedulerGroups(TagsByArn, Protocol):
    """The EventBridge Scheduler calls the schedule group gateway makes."""

    def get_schedule_group(self, *, Name: str) -> dict[str, Any]: ...

    def list_tags_for_resource(self, *, ResourceArn: str) -> dict[str, Any]: ...

    def create_schedule_group(self, *, Name: str, Tags: list[dict[str, str]]) -> object: ...

    def delete_schedule_group(self, *, Name: str) -> object: ...


class ScheduleGroupGateway(Gateway):
    kind = ResourceKind.SCHEDULE_GROUP

    @property
    def client(self) -> SchedulerGroups:
        return cast(SchedulerGroups, self.factory.client("scheduler"))

    def read(self, name: str) -> Resource | None:
        group = read_or_none(lambda: self.client.get_schedule_group(Name=name))
        if group is None or group.get("State") == "DELETING":
            return None
        tags = self.client.list_tags_for_resource(ResourceArn=group["Arn"]).get("Tags", [])
        return Resource(self.kind, name, {}, tag_dict(tags), arn=group["Arn"])

    def create(self, resource: Resource) -> None:
        try:
            self.client.create_schedule_group(Name=resource.name, Tags=tag_list(resource.tags))
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) != "ConflictException":
                raise

    def update(self, old: Resource, new: Resource) -> None:
        sync_tags_by_arn(self.client, old, new)

    def delete(self, resource: Resource) -> None:
        read_or_none(lambda: self.client.delete_schedule_group(Name=resource.name))
