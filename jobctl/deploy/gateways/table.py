"""The history table (DynamoDB): key, global secondary indexes, TTL and tags.

Spec: `{"key": [hash, range], "indexes": {name: [hash, range?]}, "ttl": attribute | None}`;
every key attribute is a string. Invariants: `update` only adds what a newer jobctl added
(indexes, one per UpdateTable as DynamoDB requires; TTL) and syncs tags; it never replaces
the table or an index, because the table holds the run history. A changed key or index key
is refused by plan (see `jobctl.deploy.plan`) before anything is applied, never here.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, cast

import botocore.exceptions

from chalicelib.aws.clients import error_code
from jobctl.deploy.gateways.base import Gateway, TagsByArn, read_or_none, sync_tags_by_arn
from jobctl.deploy.resources import Resource, ResourceKind, tag_dict, tag_list


class TableExists(Protocol):
    def wait(self, *, TableName: str, WaiterConfig: dict[str, int]) -> None: ...


class DynamoDBTables(TagsByArn, Protocol):
    """The DynamoDB calls the table gateway makes."""

    def describe_table(self, *, TableName: str) -> dict[str, Any]: ...

    def describe_time_to_live(self, *, TableName: str) -> dict[str, Any]: ...

    def list_tags_of_resource(self, *, ResourceArn: str) -> dict[str, Any]: ...

    def create_table(
        self,
        *,
        TableName: str,
        BillingMode: str,
        KeySchema: list[dict[str, str]],
        AttributeDefinitions: list[dict[str, str]],
        GlobalSecondaryIndexes: list[dict[str, Any]],
        Tags: list[dict[str, str]],
    ) -> object: ...

    def update_table(
        self,
        *,
        TableName: str,
        AttributeDefinitions: list[dict[str, str]],
        GlobalSecondaryIndexUpdates: list[dict[str, Any]],
    ) -> object: ...

    def update_time_to_live(
        self, *, TableName: str, TimeToLiveSpecification: dict[str, Any]
    ) -> object: ...

    def delete_table(self, *, TableName: str) -> object: ...

    def get_waiter(self, waiter_name: Literal["table_exists"]) -> TableExists: ...


class TableGateway(Gateway):
    kind = ResourceKind.TABLE

    @property
    def client(self) -> DynamoDBTables:
        return cast(DynamoDBTables, self.factory.client("dynamodb"))

    def read(self, name: str) -> Resource | None:
        described = read_or_none(lambda: self.client.describe_table(TableName=name))
        if described is None:
            return None
        table = described["Table"]
        ttl = self.client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        tags = self.client.list_tags_of_resource(ResourceArn=table["TableArn"]).get("Tags", [])
        indexes = {
            index["IndexName"]: [part["AttributeName"] for part in index["KeySchema"]]
            for index in table.get("GlobalSecondaryIndexes", [])
        }
        spec = {
            "key": [part["AttributeName"] for part in table["KeySchema"]],
            "indexes": indexes,
            "ttl": ttl.get("AttributeName")
            if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING")
            else None,
        }
        return Resource(self.kind, name, spec, tag_dict(tags), arn=table["TableArn"])

    def create(self, resource: Resource) -> None:
        spec = resource.spec
        attributes = sorted(
            {*spec["key"], *(a for parts in spec["indexes"].values() for a in parts)}
        )
        try:
            self.client.create_table(
                TableName=resource.name,
                BillingMode="PAY_PER_REQUEST",
                KeySchema=_key_schema(spec["key"]),
                AttributeDefinitions=[
                    {"AttributeName": a, "AttributeType": "S"} for a in attributes
                ],
                GlobalSecondaryIndexes=[
                    {
                        "IndexName": name,
                        "KeySchema": _key_schema(parts),
                        "Projection": {"ProjectionType": "ALL"},
                    }
                    for name, parts in sorted(spec["indexes"].items())
                ],
                Tags=tag_list(resource.tags),
            )
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) != "ResourceInUseException":
                raise
        self.client.get_waiter("table_exists").wait(
            TableName=resource.name, WaiterConfig={"Delay": 2}
        )
        if spec["ttl"]:
            self._enable_ttl(resource.name, spec["ttl"])

    def _add_index(self, table: str, index: str, parts: list[str]) -> None:
        # One index build at a time: wait until the previous UpdateTable has finished.
        self.client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 2})
        try:
            self.client.update_table(
                TableName=table,
                AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in parts],
                GlobalSecondaryIndexUpdates=[
                    {
                        "Create": {
                            "IndexName": index,
                            "KeySchema": _key_schema(parts),
                            "Projection": {"ProjectionType": "ALL"},
                        }
                    }
                ],
            )
        except botocore.exceptions.ClientError as exc:
            # A retried call whose first attempt went through: the index is being built.
            if "already exists" not in str(exc).lower():
                raise

    def _enable_ttl(self, table: str, attribute: str) -> None:
        try:
            self.client.update_time_to_live(
                TableName=table,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute},
            )
        except botocore.exceptions.ClientError as exc:
            # A retried (or repeated) enable: AWS answers that it is already on.
            if "already enabled" not in str(exc).lower():
                raise

    def update(self, old: Resource, new: Resource) -> None:
        # Indexes a newer jobctl added are built in place, one per call (a DynamoDB limit).
        for name, parts in sorted(new.spec["indexes"].items()):
            if name not in old.spec["indexes"]:
                self._add_index(new.name, name, parts)
        if old.spec["ttl"] != new.spec["ttl"] and new.spec["ttl"]:
            self._enable_ttl(new.name, new.spec["ttl"])
        sync_tags_by_arn(self.client, old, new)

    def delete(self, resource: Resource) -> None:
        read_or_none(lambda: self.client.delete_table(TableName=resource.name))


def _key_schema(parts: list[str]) -> list[dict[str, str]]:
    types = ["HASH", "RANGE"]
    return [{"AttributeName": name, "KeyType": types[i]} for i, name in enumerate(parts)]
