"""A job's EventBridge Scheduler schedule (time-zone aware cron), in the environment's group.

Spec: CreateSchedule's request less `Name`: `{"GroupName", "ScheduleExpression",
"ScheduleExpressionTimezone", "State", "Description", "FlexibleTimeWindow", "Target"}`, the
target normalized (`normalize_target`). Schedules are not taggable: they are owned through
their (tagged) group, and this gateway reads and lists only inside it.
Invariant: UpdateSchedule replaces the whole schedule, so create and update write the spec
in full.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, Protocol, cast

import botocore.exceptions

from chalicelib.aws.clients import error_code
from jobctl.deploy.gateways.base import (
    Gateway,
    Page,
    missing,
    normalize_target,
    read_or_none,
    retry_while_role_propagates,
)
from jobctl.deploy.resources import Resource, ResourceKind


class SchedulePages(Protocol):
    def paginate(self, *, GroupName: str) -> Iterable[Page]: ...


class Schedules(Protocol):
    """The EventBridge Scheduler calls the schedule gateway makes.

    `create_schedule` and `update_schedule` take the spec's keys as keyword arguments.
    """

    def get_paginator(self, operation_name: Literal["list_schedules"]) -> SchedulePages: ...

    def get_schedule(self, *, Name: str, GroupName: str) -> dict[str, Any]: ...

    def create_schedule(self, *, Name: str, **spec: Any) -> object: ...

    def update_schedule(self, *, Name: str, **spec: Any) -> object: ...

    def delete_schedule(self, *, Name: str, GroupName: str) -> object: ...


class ScheduleGateway(Gateway):
    kind = ResourceKind.SCHEDULE

    @property
    def client(self) -> Schedules:
        return cast(Schedules, self.factory.client("scheduler"))

    @property
    def group(self) -> str:
        return self.prefix

    def discover(self) -> list[str]:
        names: list[str] = []
        paginator = self.client.get_paginator("list_schedules")
        try:
            for page in paginator.paginate(GroupName=self.group):
                names += [s["Name"] for s in page["Schedules"]]
        except botocore.exceptions.ClientError as exc:
            # No group yet (nothing deployed): no schedules either.
            if not missing(exc):
                raise
        return names

    def read(self, name: str) -> Resource | None:
        found = read_or_none(lambda: self.client.get_schedule(Name=name, GroupName=self.group))
        if found is None:
            return None
        target = normalize_target(found["Target"])
        spec = {
            "GroupName": found["GroupName"],
            "ScheduleExpression": found["ScheduleExpression"],
            "ScheduleExpressionTimezone": found.get("ScheduleExpressionTimezone", "UTC"),
            "State": found["State"],
            "Description": found.get("Description", ""),
            "FlexibleTimeWindow": found["FlexibleTimeWindow"],
            "Target": target,
        }
        return Resource(self.kind, name, spec, {}, arn=found["Arn"])

    def create(self, resource: Resource) -> None:
        try:
            retry_while_role_propagates(
                lambda: self.client.create_schedule(Name=resource.name, **resource.spec)
            )
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) != "ConflictException":
                raise
            # A retried create whose first attempt went through: write the spec over it.
            self.client.update_schedule(Name=resource.name, **resource.spec)

    def update(self, old: Resource, new: Resource) -> None:
        retry_while_role_propagates(lambda: self.client.update_schedule(Name=new.name, **new.spec))

    def delete(self, resource: Resource) -> None:
        read_or_none(lambda: self.client.delete_schedule(Name=resource.name, GroupName=self.group))
