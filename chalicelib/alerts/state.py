"""Small per-job state documents in the history table, written with optimistic concurrency.

Items (keys from the table schema, `chalicelib.core.history.state_key`): `pk = JOB#<job>`,
`sk = ALERT` (the storm guard) or `WATCHDOG` (the missed-run watchdog); attributes `state`
(a JSON document), `version` (a number) and `updated_at`, converted by
`chalicelib.history.items`.
They carry none of the attributes the table's indexes key on (`job`, `status`, `run_id`,
`entity`), so run lists and job lists never see them.

Invariant: `save` succeeds only if nobody saved since the `load` that returned `version`
(a DynamoDB condition), so two Lambdas handling two alerts of one job at the same time
cannot both decide to post: the loser reloads and decides again.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Protocol

from botocore.exceptions import ClientError

from chalicelib.core import history as schema
from chalicelib.core.history import PK
from chalicelib.history.items import item as typed
from chalicelib.history.items import plain


class StateStore(Protocol):
    def load(self, job: str, kind: str) -> tuple[dict[str, Any], int]: ...

    def save(self, job: str, kind: str, state: dict[str, Any], version: int) -> bool: ...


class DynamoStateStore:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self.dynamodb = dynamodb
        self.table = table

    @staticmethod
    def key(job: str, kind: str) -> dict[str, Any]:
        return schema.state_key(job, kind)

    def load(self, job: str, kind: str) -> tuple[dict[str, Any], int]:
        """The state and its version; ({}, 0) when there is none yet."""
        found = self.dynamodb.get_item(
            TableName=self.table, Key=self.key(job, kind), ConsistentRead=True
        ).get("Item")
        if not found:
            return {}, 0
        document = plain(found)
        return json.loads(document["state"]), int(document["version"])

    def save(self, job: str, kind: str, state: dict[str, Any], version: int) -> bool:
        """Write `state` as `version + 1`; False when someone else saved first."""
        item = {
            **self.key(job, kind),
            **typed(
                {
                    "state": json.dumps(state, sort_keys=True, separators=(",", ":")),
                    "version": version + 1,
                    "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
                }
            ),
        }
        condition = f"attribute_not_exists({PK})" if version == 0 else "version = :version"
        request: dict[str, Any] = {
            "TableName": self.table,
            "Item": item,
            "ConditionExpression": condition,
        }
        if version:
            request["ExpressionAttributeValues"] = typed({":version": version})
        try:
            self.dynamodb.put_item(**request)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True


class MemoryStateStore:
    """The same contract in memory (unit tests)."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], tuple[str, int]] = {}

    def load(self, job: str, kind: str) -> tuple[dict[str, Any], int]:
        text, version = self.items.get((job, kind), ("{}", 0))
        return json.loads(text), version

    def save(self, job: str, kind: str, state: dict[str, Any], version: int) -> bool:
        if self.items.get((job, kind), ("", 0))[1] != version:
            return False
        self.items[(job, kind)] = (json.dumps(state, sort_keys=True), version + 1)
        return True
