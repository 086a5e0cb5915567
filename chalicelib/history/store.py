"""The run store: run records and job META items in the history table.

Keys (written by the state machines, read here): `pk = JOB#<job>`; `sk = RUN#<run id>` for a
run, `META` for the job. Lists use the `by_job` index (`job`, `job_time`) and the
`by_status` index (`status`, `status_time`): key lookups, newest first, never scans.
Invariants: writes are monotonic (a record leaves RUNNING once and a terminal record never
changes) and idempotent (writing the same terminal state twice is a no-op).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from .links import with_links

TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "SKIPPED")


def _value(attribute: dict[str, Any]) -> Any:
    kind, inner = next(iter(attribute.items()))
    if kind == "N":
        number = float(inner)
        return int(number) if number.is_integer() else number
    if kind == "NULL":
        return None
    if kind == "BOOL":
        return bool(inner)
    return inner


def plain(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _value(value) for key, value in item.items()}


def _attribute(value: Any) -> dict[str, Any]:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": str(value)}
    return {"S": str(value)}


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_token: str | None


class RunStore:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self.dynamodb = dynamodb
        self.table = table

    @staticmethod
    def run_key(job: str, run_id: str) -> dict[str, Any]:
        return {"pk": {"S": f"JOB#{job}"}, "sk": {"S": f"RUN#{run_id}"}}

    @staticmethod
    def meta_key(job: str) -> dict[str, Any]:
        return {"pk": {"S": f"JOB#{job}"}, "sk": {"S": "META"}}

    def get(self, job: str, run_id: str) -> dict[str, Any] | None:
        found = self.dynamodb.get_item(
            TableName=self.table, Key=self.run_key(job, run_id), ConsistentRead=True
        )
        return plain(found["Item"]) if "Item" in found else None

    def describe(self, job: str, run_id: str) -> dict[str, Any] | None:
        """A run with its console and log links (from the job's deployed config)."""
        run = self.get(job, run_id)
        if run is None:
            return None
        config = json.loads(self.meta(job).get("config") or "{}")
        return with_links(run, config)

    def meta(self, job: str) -> dict[str, Any]:
        found = self.dynamodb.get_item(
            TableName=self.table, Key=self.meta_key(job), ConsistentRead=True
        )
        return plain(found.get("Item", {}))

    def by_job(
        self, job: str, *, limit: int = 20, next_token: str | None = None, since: str | None = None
    ) -> Page:
        condition = "job = :job"
        values: dict[str, Any] = {":job": {"S": job}}
        if since:
            condition += " AND job_time >= :since"
            values[":since"] = {"S": since}
        return self._query("by_job", condition, values, limit, next_token)

    def by_status(
        self,
        status: str,
        *,
        limit: int = 20,
        next_token: str | None = None,
        since: str | None = None,
    ) -> Page:
        condition = "#status = :status"
        values: dict[str, Any] = {":status": {"S": status}}
        if since:
            condition += " AND status_time >= :since"
            values[":since"] = {"S": since}
        return self._query(
            "by_status", condition, values, limit, next_token, names={"#status": "status"}
        )

    def _query(
        self,
        index: str,
        condition: str,
        values: dict[str, Any],
        limit: int,
        next_token: str | None,
        names: dict[str, str] | None = None,
    ) -> Page:
        request: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if names:
            request["ExpressionAttributeNames"] = names
        if next_token:
            request["ExclusiveStartKey"] = json.loads(base64.urlsafe_b64decode(next_token))
        found = self.dynamodb.query(**request)
        last = found.get("LastEvaluatedKey")
        token = base64.urlsafe_b64encode(json.dumps(last).encode()).decode() if last else None
        return Page([plain(item) for item in found.get("Items", [])], token)

    def put_running(self, job: str, run_id: str, fields: dict[str, Any]) -> bool:
        """Create the RUNNING record if there is none yet; never overwrites."""
        item = {**self.run_key(job, run_id), **{k: _attribute(v) for k, v in fields.items()}}
        item["status"] = {"S": "RUNNING"}
        try:
            self.dynamodb.put_item(
                TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(pk)"
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def finish(self, job: str, run_id: str, status: str, fields: dict[str, Any]) -> bool:
        """Move a RUNNING (or missing) record to `status`; a terminal record is left as is."""
        values = {"status": status, **fields}
        names = {f"#{name}": name for name in values}
        update = "SET " + ", ".join(f"#{name} = :{name}" for name in values)
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=self.run_key(job, run_id),
                UpdateExpression=update,
                ConditionExpression="attribute_not_exists(pk) OR #status = :running",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={
                    ":running": {"S": "RUNNING"},
                    **{f":{name}": _attribute(value) for name, value in values.items()},
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def release_lock(self, job: str, execution_arn: str, status: str) -> bool:
        """Free the job's lock if (and only if) this execution holds it."""
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=self.meta_key(job),
                UpdateExpression="SET last_status = :status REMOVE lock_holder, lock_until",
                ConditionExpression="lock_holder = :me",
                ExpressionAttributeValues={":me": {"S": execution_arn}, ":status": {"S": status}},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True
