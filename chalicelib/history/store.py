"""The run store: run records and job META items in the history table.

Keys, indexes and statuses are the table schema's (`chalicelib.core.history`): a run is
`JOB#<job>`/`RUN#<run id>`, the job `JOB#<job>`/`META`. Lists use the `by_job` index (`job`,
`job_time`) and the `by_status` index (`status`, `status_time`): key lookups, newest first,
never scans. A listing's `next_token` is sealed by `chalicelib.history.tokens` (signed,
bounded, bound to the listing: index, job or status, status filter and the `since` window
as the caller named it) and keeps the `since` instant of its first page, so a window like
`24h` does not move under a listing being paged; a token is signed only when read, so a
caller that never pages never loads the signing key. Items are converted by `chalicelib.history.items` (boto3's serializer; numbers
come back as int, or float when fractional).
Invariants: writes are monotonic (a record leaves RUNNING once and a terminal record never
changes) and idempotent (writing the same terminal state twice is a no-op).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
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
from chalicelib.history.tokens import BadToken, TableKey, Tokens

RECENT = "recent"  # the merged listing of every status (not an index of its own)
_MAX_KEY_VALUE = 1024  # longer than any key attribute this store writes


def _start_key(item: dict[str, Any], index: str) -> dict[str, Any]:
    """Where a query of `index` resumes after `item` (a plain item it returned): the table's
    and the index's key attributes, all strings."""
    return {name: {"S": item[name]} for name in (*KEY, *INDEXES[index])}


def _listing(kind: str, partition: str, status: str | None, window: str | None) -> str:
    """The name a listing's tokens are bound to."""
    return json.dumps([kind, partition, status or "", window or ""], separators=(",", ":"))


def _sealed_key(key: dict[str, Any]) -> dict[str, str]:
    """A start key (DynamoDB's typed strings) as a token carries it: plain strings."""
    return {name: value["S"] for name, value in key.items()}


def _opened_key(value: object, index: str) -> dict[str, Any]:
    """A start key from a token's state: exactly the table's and `index`'s key attributes,
    non-empty strings (a signed token always is; checked anyway, as DynamoDB would 500)."""
    names = {*KEY, *INDEXES[index]}
    if (
        not isinstance(value, dict)
        or set(value) != names
        or not all(isinstance(v, str) and 0 < len(v) <= _MAX_KEY_VALUE for v in value.values())
    ):
        raise BadToken("next_token does not hold a position in this listing")
    return {name: {"S": text} for name, text in value.items()}


def _opened_since(state: dict[str, Any]) -> str | None:
    since = state.get("since")
    if since is not None and not (isinstance(since, str) and len(since) <= 40):
        raise BadToken("next_token does not hold a since of this listing")
    return since


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    # What the next page resumes from (None: this is the last page), sealed on demand.
    resume: dict[str, Any] | None = None
    seal: Callable[[dict[str, Any]], str] | None = field(default=None, repr=False, compare=False)

    @property
    def next_token(self) -> str | None:
        """The next page's token (signed when read); None on the last page."""
        if self.resume is None or self.seal is None:
            return None
        return self.seal(self.resume)


class RunStore:
    def __init__(self, dynamodb: Any, table: str, tokens: Tokens | None = None) -> None:
        self.dynamodb = dynamodb
        self.table = table
        self.tokens = tokens or Tokens(TableKey(dynamodb, table))

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
        start: dict[str, Any] | None = None
        while True:
            items, start = self._query(
                JOBS,
                "#entity = :job",
                {":job": {"S": JOB_ENTITY}},
                limit=100,
                start=start,
                names={"#entity": ENTITY},
                forward=True,
            )
            jobs.extend(item for item in items if item.get("config"))
            if start is None:
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
        window: str | None = None,
    ) -> Page:
        """`window` is how the caller named `since` (`24h`), bound into the tokens; by
        default `since` itself. So are the job and the status filter."""
        listing = _listing(BY_JOB, job, status, since if window is None else window)
        state = self.tokens.open(next_token, listing)
        start = None
        if state is not None:
            since, start = _opened_since(state), _opened_key(state.get("key"), BY_JOB)
        condition = f"{JOB} = :job"
        values: dict[str, Any] = {":job": {"S": job}}
        if since:
            condition += f" AND {JOB_TIME} >= :since"
            values[":since"] = {"S": since}
        items, last = self._query(BY_JOB, condition, values, limit, start, status=status)
        return self._page(items, listing, since, last)

    def _page(
        self, items: list[dict[str, Any]], listing: str, since: str | None, last: Any
    ) -> Page:
        resume = None if last is None else {"since": since, "key": _sealed_key(last)}
        return Page(items, resume, partial(self.tokens.seal, listing))

    def recent(
        self,
        *,
        limit: int = 20,
        next_token: str | None = None,
        since: str | None = None,
        window: str | None = None,
    ) -> Page:
        """Runs of every job and status, newest first: one `by_status` query per status,
        merged. The token carries each status's own position (None once it is exhausted)."""
        listing = _listing(RECENT, "", None, since if window is None else window)
        state = self.tokens.open(next_token, listing)
        cursors: dict[str, dict[str, Any] | None] = {}
        if state is not None:
            since, cursors = _opened_since(state), _opened_cursors(state.get("cursors"))
        candidates: list[tuple[str, dict[str, Any]]] = []
        more: dict[str, bool] = {}
        for status in STATUSES:
            if status in cursors and cursors[status] is None:
                continue
            items, last = self._status_query(status, limit, cursors.get(status), since)
            more[status] = last is not None
            candidates.extend((status, item) for item in items)
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
        resume = None
        if not done:
            sealed = {s: None if c is None else _sealed_key(c) for s, c in following.items()}
            resume = {"since": since, "cursors": sealed}
        return Page([item for _, item in taken], resume, partial(self.tokens.seal, listing))

    def by_status(
        self,
        status: str,
        *,
        limit: int = 20,
        next_token: str | None = None,
        since: str | None = None,
        window: str | None = None,
    ) -> Page:
        listing = _listing(BY_STATUS, status, None, since if window is None else window)
        state = self.tokens.open(next_token, listing)
        start = None
        if state is not None:
            since, start = _opened_since(state), _opened_key(state.get("key"), BY_STATUS)
        items, last = self._status_query(status, limit, start, since)
        return self._page(items, listing, since, last)

    def _status_query(
        self, status: str, limit: int, start: dict[str, Any] | None, since: str | None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        condition = "#status = :status"
        values: dict[str, Any] = {":status": {"S": status}}
        if since:
            condition += f" AND {STATUS_TIME} >= :since"
            values[":since"] = {"S": since}
        return self._query(BY_STATUS, condition, values, limit, start, names={"#status": STATUS})

    def _query(
        self,
        index: str,
        condition: str,
        values: dict[str, Any],
        limit: int,
        start: dict[str, Any] | None,
        names: dict[str, str] | None = None,
        forward: bool = False,
        status: str | None = None,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Up to `limit` plain items of `index` from `start`, filtered by `status` if given,
        and the key the next page starts from (None when there is none).

        A filtered page may need several reads; the key then points just after the last
        item returned, so no item is skipped or repeated. Reads stop after MAX_READS, and the
        caller gets what was found with a key to go on.
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
        return [plain(item) for item in items], start or None

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


def _opened_cursors(value: object) -> dict[str, dict[str, Any] | None]:
    """The merged listing's per-status positions from a token's state."""
    if not isinstance(value, dict) or not set(value) <= set(STATUSES):
        raise BadToken("next_token does not hold positions of this listing")
    return {
        status: None if cursor is None else _opened_key(cursor, BY_STATUS)
        for status, cursor in value.items()
    }
