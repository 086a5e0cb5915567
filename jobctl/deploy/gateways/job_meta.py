"""A job's configuration for the runtime: the `config` attribute of its history META item.

Spec: `{"config": the job's deployed configuration as JSON data, "entity": "job"}`. Only
`config` (and `entity`/`job_name`, which put the item in the `jobs` index) are deploy's: the
same item holds the pause flag and the concurrency lock, which the API and the state machine
own, so writes are attribute updates, never a PutItem, and delete removes `config` and
`entity` only (the item leaves the `jobs` index; the rest of it stays). The item is not
taggable: it is ours when the history table is (plan checks). A cheap plan glances at all of
them with BatchGetItem (100 keys per call, strongly consistent, unprocessed keys asked again):
the whole spec.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from functools import partial
from typing import Any, Protocol, cast

from chalicelib.aws.clients import AwsContext, ClientFactory
from chalicelib.core import history as schema
from chalicelib.core.history import ENTITY, JOB_ENTITY
from jobctl.deploy.gateways.base import Gateway, read_or_none
from jobctl.deploy.resources import Resource, ResourceKind

BATCH_KEYS = 100  # BatchGetItem's limit per request
BATCH_TRIES = 5  # rounds of UnprocessedKeys (throttling) before leaving them to full reads


class DynamoDBItems(Protocol):
    """The DynamoDB calls the job META gateway makes (`update_item`'s values are optional)."""

    def get_item(
        self, *, TableName: str, Key: dict[str, Any], ConsistentRead: bool
    ) -> dict[str, Any]: ...

    def batch_get_item(self, *, RequestItems: dict[str, Any]) -> dict[str, Any]: ...

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
        return self._resource(name, (found or {}).get("Item"))

    def glance(self, names: Sequence[str], workers: int) -> dict[str, Resource]:
        by_key = {self._key_of(self._key(name)): name for name in names}
        items: list[dict[str, Any]] = []
        keys = [self._key(name) for name in names]
        for start in range(0, len(keys), BATCH_KEYS):
            pending: dict[str, Any] = {
                self.table: {"Keys": keys[start : start + BATCH_KEYS], "ConsistentRead": True}
            }
            for attempt in range(BATCH_TRIES):
                if attempt:
                    time.sleep(0.1 * 2**attempt)  # unprocessed keys mean throttling: back off
                answer = read_or_none(partial(self.client.batch_get_item, RequestItems=pending))
                if answer is None:
                    return {}  # no table: no items either
                items += answer.get("Responses", {}).get(self.table, [])
                pending = answer.get("UnprocessedKeys") or {}
                if not pending:
                    break
            # Keys still unprocessed are not glanced: plan reads them one by one.
        found = {}
        for item in items:
            name = by_key.get(self._key_of(item))
            resource = self._resource(name, item) if name else None
            if resource is not None:
                found[resource.name] = resource
        return found

    @staticmethod
    def _key_of(item: dict[str, Any]) -> tuple[str, ...]:
        return tuple(item[part]["S"] for part in schema.KEY)

    def _resource(self, name: str, item: dict[str, Any] | None) -> Resource | None:
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
