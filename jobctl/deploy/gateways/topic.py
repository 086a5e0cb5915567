"""The alert topic (SNS): existence and tags only; subscriptions are the operators'.

Spec: `{}`. Invariant: `create` is idempotent as SNS's CreateTopic is (same name, same ARN).
"""

from __future__ import annotations

from typing import Any, Protocol, cast

from jobctl.deploy.gateways.base import Gateway, TagsByArn, read_or_none, sync_tags_by_arn
from jobctl.deploy.resources import Resource, ResourceKind, tag_dict, tag_list


class SnsTopics(TagsByArn, Protocol):
    """The SNS calls the topic gateway makes."""

    def get_topic_attributes(self, *, TopicArn: str) -> dict[str, Any]: ...

    def list_tags_for_resource(self, *, ResourceArn: str) -> dict[str, Any]: ...

    def create_topic(self, *, Name: str, Tags: list[dict[str, str]]) -> object: ...

    def delete_topic(self, *, TopicArn: str) -> object: ...


class TopicGateway(Gateway):
    kind = ResourceKind.TOPIC

    @property
    def client(self) -> SnsTopics:
        return cast(SnsTopics, self.factory.client("sns"))

    def read(self, name: str) -> Resource | None:
        arn = self.arn("sns", name)
        if read_or_none(lambda: self.client.get_topic_attributes(TopicArn=arn)) is None:
            return None
        tags = self.client.list_tags_for_resource(ResourceArn=arn).get("Tags", [])
        return Resource(self.kind, name, {}, tag_dict(tags), arn=arn)

    def create(self, resource: Resource) -> None:
        self.client.create_topic(Name=resource.name, Tags=tag_list(resource.tags))

    def update(self, old: Resource, new: Resource) -> None:
        sync_tags_by_arn(self.client, old, new)

    def delete(self, resource: Resource) -> None:
        self.client.delete_topic(TopicArn=resource.arn or self.arn("sns", resource.name))
