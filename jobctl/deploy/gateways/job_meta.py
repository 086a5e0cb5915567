"""A job's configuration for the runtime: the `config` attribute of its history META item.

Spec: `{"config": the job's deployed configuration as JSON data, "entity": "job"}`. Only
`config` (and `entity`/`job_name`, which put the item in the `jobs` index) are deploy's: the
same item holds the pause flag and the concurrency lock, which the API and the state machine
own, so writes are attribute updates, never a PutItem, and delete removes `config` and
`entity` only (the item leaves the `jobs` index; the rest of it stays). The item is not
taggable: it is ours when the history table is (plan checks).
"""

from __future__ import annotations

import json
from typing import Any, Protocol, cast

from chalicelib.aws.clients import AwsContext, ClientFactory
from chalicelib.core import history as schema
from chalicelib.core.history import ENTITY, JOB_ENTITY
from jobctl.deploy.gateways.base import Gateway, read_or_none
from jobctl.deploy.resources import Resource, ResourceKind


class DynamoDBItems(Protocol):
    """The DynamoDB calls the job META gateway makes (`update_item`'s values are optional)."""

    def get_item(
        self, *, TableName: str, Key: dict[str, Any], ConsistentRead: bool
    ) -> dict[str, Any]: ...

    def update_item(
        self,
        *,
        TableName: str,
        Key: dict[str, Any],
        UpdateExpression: str,
        ExpressionAttributeNames: dict[str, str],
        **values: Any,
    ) -> object: ...


class JobMetaGateway(Gateway):
    kind = ResourceKind.JOB_META

    def __init__(
        self, factory: ClientFactory, context: AwsContext, prefix: str, table: str
    ) -> None:
        super().__init__(factory, context, prefix)
        self.table = table

    @property
    def client(self) -> DynamoDBItems:
        return cast(DynamoDBItems, self.factory.client("dynamodb"))

    def _key(self, job: str) -> dict[str, Any]:
        return schema.meta_key(job)

    def read(self, name: str) -> Resource | None:
        found = read_or_none(
            lambda: self.client.get_item(
                TableName=self.table, Key=self._key(name), ConsistentRead=True
            )
        )
        item = (found or {}).get("Item")
        if not item or "config" not in item:
            return None
        spec = {
            "config": json.loads(item["config"]["S"]),
            # Items written before the `jobs` index existed lack it: the plan then rewrites them.
            "entity": item.get(ENTITY, {}).get("S"),
        }
        return Resource(self.kind, name, spec, job=name)

    def create(self, resource: Resource) -> None:
        self.client.update_item(
            TableName=self.table,
            Key=self._key(resource.name),
            UpdateExpression="SET config = :config, job_name = :job, #entity = :entity",
            ExpressionAttributeNames={"#entity": ENTITY},
            ExpressionAttributeValues={
                ":config": {"S": json.dumps(resource.spec["config"], sort_keys=True)},
                ":job": {"S": resource.name},
                ":entity": {"S": JOB_ENTITY},
            },
        )

    def update(self, old: Resource, new: Resource) -> None:
        self.create(new)

    def delete(self, resource: Resource) -> None:
        read_or_none(
            lambda: self.client.update_item(
                TableName=self.table,
                Key=self._key(resource.name),
                UpdateExpression="REMOVE config, #entity",
                ExpressionAttributeNames={"#entity": ENTITY},
            )
        )
