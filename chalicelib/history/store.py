"""The run store: run records and job META items in the history table.

Keys, indexes and statuses are the table schema's (`chalicelib.core.history`): a run is
`JOB#<job>`/`RUN#<run id>`, the job `JOB#<job>`/`META`. Lists use the `by_job` index (`job`,
`job_time`) and the `by_status` index (`status`, `status_time`): key lookups, newest first,
never scans. Items are converted by `chalicelib.history.items` (boto3's serializer; numbers
come back as int, or float when fractional).
Invariants: writes are monotonic (a record leaves RUNNING once and a terminal record never
changes) and idempotent (writing the same terminal state twice is a no-op).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.core import history as schema
from chalicelib.core.deployed import DeployedJob
from chalicelib.core.history import (
    BY_JOB,
    BY_RUN,
    BY_STATUS,
    ENTITY,
    INDEXES,
    JOB,
    JOB_ENTITY,
    JOB_TIME,
    JOBS,
    KEY,
    MAX_READS,
    PK,
    RUN_ID,
    SK,
    STATUS,
    STATUS_TIME,
    STATUSES,
    RunStatus,
)
from chalicelib.history.items import item as typed
from chalicelib.history.items import plain
from chalicelib.history.links import with_links


class BadToken(ValueError):
    """A pagination token this store did not issue (or that was altered)."""


def encode_token(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, sort_keys=True).encode()).decode()


def decode_token(token: str | None) -> dict[str, Any] | None:
    if not token:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
    except (ValueError, UnicodeError):
        raise BadToken("next_token is not a token this API issued") from None
    if not _is_key(key):
        raise BadToken("next_token is not a token this API issued")
    return dict(key)


def _is_key(key: object) -> bool:
    """A DynamoDB start key as this store writes them: string attributes, pk and sk among them."""
    return (
        isinstance(key, dict)
        and PK in key
        and SK in key
        and all(
            isinstance(name, str) and isinstance(value, dict) and set(value) == {"S"}
            for name, value in key.items()
        )
    )


def _start_key(item: dict[str, Any], index: str) -> dict[str, Any]:
    """Where a query of `index` resumes after `item` (a plain item it returned): the table's
    and the index's key attributes, all strings."""
    return {name: {"S": item[name]} for name in (*KEY, *INDEXES[index])}


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
        return schema.run_key(job, run_id)

    @staticmethod
    def meta_key(job: str) -> dict[str, Any]:
        return schema.meta_key(job)

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
        return with_links(run, self.config(job))

    def config(self, job: str) -> DeployedJob | None:
        """The job's deployed configuration (META `config`); None when it is not deployed."""
        text = self.meta(job).get("config")
        return DeployedJob.from_json(text) if text else None

    def meta(self, job: str) -> dict[str, Any]:
        found = self.dynamodb.get_item(
            TableName=self.table, Key=self.meta_key(job), ConsistentRead=True
        )
        return plain(found.get("Item", {}))

    def jobs(self) -> list[dict[str, Any]]:
        """Every deployed job's META item, by name (the `jobs` index). `config` stays the JSON
        text: each reader parses it with `DeployedJob.from_json`, so one unreadable item
        fails only that job."""
        jobs: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = self._query(
                JOBS,
                "#entity = :job",
                {":job": {"S": JOB_ENTITY}},
                limit=100,
                next_token=token,
                names={"#entity": ENTITY},
                forward=True,
            )
            jobs.extend(item for item in page.items if item.get("config"))
            token = page.next_token
            if token is None:
                return jobs

    def find(self, run_id: str) -> dict[str, Any] | None:
        """A run by its id alone (the `by_run` index holds runs and their dedupe markers)."""
        found = self.dynamodb.query(
            TableName=self.table,
            IndexName=BY_RUN,
            KeyConditionExpression=f"{RUN_ID} = :id",
            ExpressionAttributeValues={":id": {"S": run_id}},
        )
        for item in found.get("Items", []):
            if schema.is_run_sk(item[SK]["S"]):
                return plain(item)
        return None

    def set_paused(self, job: str, paused: bool, by: str, at: str, reason: str = "") -> bool:
        """Pause or resume a deployed job; False when no such job is deployed."""
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=self.meta_key(job),
                UpdateExpression=(
                    "SET paused = :paused, paused_by = :by, paused_at = :at, paused_reason = :why"
                ),
                ConditionExpression="attribute_exists(config)",
                ExpressionAttributeValues={
                    ":paused": {"BOOL": paused},
                    ":by": {"S": by},
                    ":at": {"S": at},
                    ":why": {"S": reason},
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def by_job(
        self,
        job: str,
        *,
        limit: int = 20,
        next_token: str | None = None,
        since: str | None = None,
        status: str | None = None,
    ) -> Page:
        condition = f"{JOB} = :job"
        values: dict[str, Any] = {":job": {"S": job}}
        if since:
            condition += f" AND {JOB_TIME} >= :since"
            values[":since"] = {"S": since}
        return self._query(BY_JOB, condition, values, limit, next_token, status=status)

    def recent(
        self, *, limit: int = 20, next_token: str | None = None, since: str | None = None
    ) -> Page:
        """Runs of every job and status, newest first: one `by_status` query per status,
        merged. The token carries each status's own position (None once it is exhausted)."""
        cursors = _decode_cursors(next_token)
        candidates: list[tuple[str, dict[str, Any]]] = []
        more: dict[str, bool] = {}
        for status in STATUSES:
            if status in cursors and cursors[status] is None:
                continue
            start = cursors.get(status)
            page = self.by_status(
                status,
                limit=limit,
                since=since,
                next_token=encode_token(start) if start else None,
            )
            more[status] = page.next_token is not None
            candidates.extend((status, item) for item in page.items)
        candidates.sort(key=lambda pair: pair[1]["status_time"], reverse=True)
        taken = candidates[:limit]
        following = dict(cursors)
        for status in STATUSES:
            if status in following and following[status] is None:
                continue
            mine = [item for s, item in taken if s == status]
            left = sum(1 for s, _ in candidates if s == status) - len(mine)
            if mine:
                last = mine[-1]
                following[status] = _start_key(last, BY_STATUS)
            if not left and not more.get(status, False):
                following[status] = None
        done = all(following.get(status, "x") is None for status in STATUSES)
        token = None if done else encode_token({"cursors": following})
        return Page([item for _, item in taken], token)

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
            condition += f" AND {STATUS_TIME} >= :since"
            values[":since"] = {"S": since}
        return self._query(
            BY_STATUS, condition, values, limit, next_token, names={"#status": STATUS}
        )

    def _query(
        self,
        index: str,
        condition: str,
        values: dict[str, Any],
        limit: int,
        next_token: str | None,
        names: dict[str, str] | None = None,
        forward: bool = False,
        status: str | None = None,
    ) -> Page:
        """Up to `limit` items of `index`, filtered by `status` if given.

        A filtered page may need several reads; the token then points just after the last
        item returned, so no item is skipped or repeated. Reads stop after MAX_READS, and the
        caller gets what was found with a token to go on.
        """
        request: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": dict(values),
            "ScanIndexForward": forward,
        }
        if names:
            request["ExpressionAttributeNames"] = dict(names)
        if status is not None:
            request["FilterExpression"] = "#status = :wanted"
            request["ExpressionAttributeNames"] = {**(names or {}), "#status": STATUS}
            request["ExpressionAttributeValues"][":wanted"] = {"S": status}
        start = decode_token(next_token)
        items: list[dict[str, Any]] = []
        for _ in range(MAX_READS):
            request["Limit"] = max(limit - len(items), 1 if status is None else 25)
            if start:
                request["ExclusiveStartKey"] = start
            found = self.dynamodb.query(**request)
            items.extend(found.get("Items", []))
            start = found.get("LastEvaluatedKey")
            if len(items) >= limit or not start:
                break
        if len(items) > limit:
            items = items[:limit]
            start = _start_key(plain(items[-1]), index)
        return Page([plain(item) for item in items], encode_token(start) if start else None)

    def put_running(self, job: str, run_id: str, fields: dict[str, Any]) -> bool:
        """Create the RUNNING record if there is none yet; never overwrites."""
        item = {**self.run_key(job, run_id), **typed({**fields, STATUS: RunStatus.RUNNING})}
        try:
            self.dynamodb.put_item(
                TableName=self.table, Item=item, ConditionExpression=f"attribute_not_exists({PK})"
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def finish(self, job: str, run_id: str, status: str, fields: dict[str, Any]) -> bool:
        """Move a RUNNING (or missing) record to `status`; a terminal record is left as is."""
        values = {STATUS: status, **fields}
        names = {f"#{name}": name for name in values}
        update = "SET " + ", ".join(f"#{name} = :{name}" for name in values)
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=self.run_key(job, run_id),
                UpdateExpression=update,
                ConditionExpression=f"attribute_not_exists({PK}) OR #status = :running",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={
                    ":running": {"S": RunStatus.RUNNING},
                    **typed({f":{name}": value for name, value in values.items()}),
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


def _decode_cursors(token: str | None) -> dict[str, dict[str, Any] | None]:
    if not token:
        return {}
    try:
        cursors = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))["cursors"]
    except (ValueError, UnicodeError, KeyError, TypeError):
        raise BadToken("next_token is not a token this API issued") from None
    if not isinstance(cursors, dict) or not set(cursors) <= set(STATUSES):
        raise BadToken("next_token is not a token this API issued")
    if not all(cursor is None or _is_key(cursor) for cursor in cursors.values()):
        raise BadToken("next_token is not a token this API issued")
    return cursors
