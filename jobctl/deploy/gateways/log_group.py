"""The environment's CloudWatch Logs group for Step Functions execution logs.

Spec: `{"retention_days": int}`. Exists only while some job logs (desired decides).
Invariant: the group's log streams are never touched; only retention and tags change.
"""

from __future__ import annotations

from typing import Any, Protocol, cast

import botocore.exceptions

from chalicelib.aws.clients import error_code
from jobctl.deploy.gateways.base import Gateway, read_or_none, sync_tags
from jobctl.deploy.resources import Resource, ResourceKind


class LogGroups(Protocol):
    """The CloudWatch Logs calls the log group gateway makes."""

    def describe_log_groups(self, *, logGroupNamePrefix: str) -> dict[str, Any]: ...

    def list_tags_log_group(self, *, logGroupName: str) -> dict[str, Any]: ...

    def create_log_group(self, *, logGroupName: str, tags: dict[str, str]) -> object: ...

    def put_retention_policy(self, *, logGroupName: str, retentionInDays: int) -> object: ...

    def tag_log_group(self, *, logGroupName: str, tags: dict[str, str]) -> object: ...

    def untag_log_group(self, *, logGroupName: str, tags: list[str]) -> object: ...

    def delete_log_group(self, *, logGroupName: str) -> object: ...


class LogGroupGateway(Gateway):
    kind = ResourceKind.LOG_GROUP

    @property
    def client(self) -> LogGroups:
        return cast(LogGroups, self.factory.client("logs"))

    def read(self, name: str) -> Resource | None:
        # There is no GetLogGroup: list by prefix, keep the exact name.
        groups = self.client.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
        group = next((g for g in groups if g["logGroupName"] == name), None)
        if group is None:
            return None
        tags = self.client.list_tags_log_group(logGroupName=name).get("tags", {})
        spec = {"retention_days": group.get("retentionInDays")}
        return Resource(self.kind, name, spec, dict(tags), arn=group["arn"])

    def create(self, resource: Resource) -> None:
        try:
            self.client.create_log_group(logGroupName=resource.name, tags=resource.tags)
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) != "ResourceAlreadyExistsException":
                raise
        self._retention(resource)

    def _retention(self, resource: Resource) -> None:
        self.client.put_retention_policy(
            logGroupName=resource.name, retentionInDays=resource.spec["retention_days"]
        )

    def update(self, old: Resource, new: Resource) -> None:
        if old.spec != new.spec:
            self._retention(new)
        sync_tags(
            old,
            new,
            lambda tags: self.client.tag_log_group(logGroupName=new.name, tags=tags),
            lambda keys: self.client.untag_log_group(logGroupName=new.name, tags=keys),
        )

    def delete(self, resource: Resource) -> None:
        read_or_none(lambda: self.client.delete_log_group(logGroupName=resource.name))
