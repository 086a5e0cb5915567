"""Thin AWS adapters, one per resource kind jobctl deploys.

Each gateway reads a resource into the normalized `Resource` shape that compile produces
(so plan compares like with like), lists the names it may own (for prune), and creates,
updates or deletes one resource. Gateways never decide anything: plan decides, apply calls.
Invariants: reads never mutate; `read` returns None for a resource that does not exist;
writes are idempotent where AWS allows (a retried create of an existing resource converges).
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Callable
from typing import Any, TypeVar

import botocore.exceptions

from chalicelib.aws.clients import AwsContext, ClientFactory, error_code
from chalicelib.core.arns import ROLE_PATH
from jobctl.deploy.resources import Resource, tag_dict, tag_list

T = TypeVar("T")
NOT_FOUND = {
    "ResourceNotFoundException",
    "NoSuchEntity",
    "NotFound",
    "StateMachineDoesNotExist",
    "NotFoundException",
}
INLINE_POLICY = "jobctl"
# IAM is eventually consistent: a new role may not be assumable for a few seconds.
ROLE_PROPAGATION_ERRORS = {
    "AccessDeniedException",
    "InvalidParameterValueException",
    "ValidationException",
}


def _missing(exc: BaseException) -> bool:
    return error_code(exc) in NOT_FOUND


def _read(call: Callable[[], T]) -> T | None:
    try:
        return call()
    except botocore.exceptions.ClientError as exc:
        if _missing(exc):
            return None
        raise


def _policy(document: Any) -> Any:
    """IAM returns policy documents URL-encoded (or already decoded by some SDKs)."""
    if isinstance(document, str):
        return json.loads(urllib.parse.unquote(document))
    return document


def _retry_while_role_propagates(
    action: Callable[[], T], *, wait: float = 2.0, tries: int = 15
) -> T:
    for attempt in range(tries):
        try:
            return action()
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) not in ROLE_PROPAGATION_ERRORS or "role" not in str(exc).lower():
                raise
            if attempt == tries - 1:
                raise
            time.sleep(wait)
    raise AssertionError("unreachable")


class Gateway:
    kind = ""

    def __init__(self, factory: ClientFactory, context: AwsContext, prefix: str) -> None:
        self.factory = factory
        self.context = context
        self.prefix = prefix  # "<project>[-<env>]": every name jobctl gives starts with it

    def arn(self, service: str, resource: str, *, regional: bool = True) -> str:
        region = self.context.region if regional else ""
        return f"arn:{self.context.partition}:{service}:{region}:{self.context.account}:{resource}"

    @property
    def client(self) -> Any:
        raise NotImplementedError

    def discover(self) -> list[str]:
        return []

    def _sync_tags_by_arn(self, old: Resource, new: Resource, arn_key: str = "ResourceArn") -> None:
        """Tags for services whose TagResource/UntagResource take an ARN, Tags and TagKeys."""
        _sync_tags(
            old,
            new,
            lambda tags: self.client.tag_resource(**{arn_key: old.arn, "Tags": tag_list(tags)}),
            lambda keys: self.client.untag_resource(**{arn_key: old.arn, "TagKeys": keys}),
        )

    def read(self, name: str) -> Resource | None:
        raise NotImplementedError

    def create(self, resource: Resource) -> None:
        raise NotImplementedError

    def update(self, old: Resource, new: Resource) -> None:
        raise NotImplementedError

    def delete(self, resource: Resource) -> None:
        raise NotImplementedError


class TableGateway(Gateway):
    kind = "table"

    @property
    def client(self) -> Any:
        return self.factory.client("dynamodb")

    def read(self, name: str) -> Resource | None:
        described = _read(lambda: self.client.describe_table(TableName=name))
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
        changed = [
            name
            for name, parts in old.spec["indexes"].items()
            if new.spec["indexes"].get(name, parts) != parts
        ]
        if old.spec["key"] != new.spec["key"] or changed:
            raise RuntimeError(
                f"table {new.name}: keys or indexes differ from what jobctl expects; "
                "they cannot change in place (the table holds the run history)"
            )
        # Indexes a newer jobctl added are built in place, one per call (a DynamoDB limit).
        for name, parts in sorted(new.spec["indexes"].items()):
            if name not in old.spec["indexes"]:
                self._add_index(new.name, name, parts)
        if old.spec["ttl"] != new.spec["ttl"] and new.spec["ttl"]:
            self._enable_ttl(new.name, new.spec["ttl"])
        self._sync_tags_by_arn(old, new)

    def delete(self, resource: Resource) -> None:
        _read(lambda: self.client.delete_table(TableName=resource.name))


def _key_schema(parts: list[str]) -> list[dict[str, str]]:
    types = ["HASH", "RANGE"]
    return [{"AttributeName": name, "KeyType": types[i]} for i, name in enumerate(parts)]


def _sync_tags(
    old: Resource,
    new: Resource,
    add: Callable[[dict[str, str]], Any],
    remove: Callable[[list[str]], Any],
) -> None:
    changed = {k: v for k, v in new.tags.items() if old.tags.get(k) != v}
    gone = sorted(set(old.tags) - set(new.tags))
    if changed:
        add(changed)
    if gone:
        remove(gone)


class TopicGateway(Gateway):
    kind = "topic"

    @property
    def client(self) -> Any:
        return self.factory.client("sns")

    def read(self, name: str) -> Resource | None:
        arn = self.arn("sns", name)
        if _read(lambda: self.client.get_topic_attributes(TopicArn=arn)) is None:
            return None
        tags = self.client.list_tags_for_resource(ResourceArn=arn).get("Tags", [])
        return Resource(self.kind, name, {}, tag_dict(tags), arn=arn)

    def create(self, resource: Resource) -> None:
        self.client.create_topic(Name=resource.name, Tags=tag_list(resource.tags))

    def update(self, old: Resource, new: Resource) -> None:
        self._sync_tags_by_arn(old, new)

    def delete(self, resource: Resource) -> None:
        self.client.delete_topic(TopicArn=resource.arn or self.arn("sns", resource.name))


class RoleGateway(Gateway):
    """IAM roles under the /jobctl/ path, each with one inline policy."""

    kind = "job-role"

    @property
    def client(self) -> Any:
        return self.factory.client("iam")

    def discover(self) -> list[str]:
        names = []
        for page in self.client.get_paginator("list_roles").paginate(PathPrefix=ROLE_PATH):
            names += [
                r["RoleName"]
                for r in page["Roles"]
                # Job roles only: the shared trigger role has the same prefix.
                if r["RoleName"].startswith(f"{self.prefix}-") and r["RoleName"].endswith("-sfn")
            ]
        return names

    def read(self, name: str) -> Resource | None:
        found = _read(lambda: self.client.get_role(RoleName=name))
        if found is None:
            return None
        role = found["Role"]
        inline = _read(lambda: self.client.get_role_policy(RoleName=name, PolicyName=INLINE_POLICY))
        spec = {
            "path": role["Path"],
            "trust": _policy(role["AssumeRolePolicyDocument"]),
            "policy": _policy(inline["PolicyDocument"]) if inline else None,
        }
        return Resource(self.kind, name, spec, tag_dict(role.get("Tags", [])), arn=role["Arn"])

    def create(self, resource: Resource) -> None:
        try:
            self.client.create_role(
                RoleName=resource.name,
                Path=resource.spec["path"],
                AssumeRolePolicyDocument=json.dumps(resource.spec["trust"]),
                Description="managed by jobctl",
                Tags=tag_list(resource.tags),
            )
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) != "EntityAlreadyExists":
                raise
        self._put_policy(resource)

    def _put_policy(self, resource: Resource) -> None:
        self.client.put_role_policy(
            RoleName=resource.name,
            PolicyName=INLINE_POLICY,
            PolicyDocument=json.dumps(resource.spec["policy"]),
        )

    def update(self, old: Resource, new: Resource) -> None:
        if old.spec["trust"] != new.spec["trust"]:
            self.client.update_assume_role_policy(
                RoleName=new.name, PolicyDocument=json.dumps(new.spec["trust"])
            )
        if old.spec["policy"] != new.spec["policy"]:
            self._put_policy(new)
        _sync_tags(
            old,
            new,
            lambda tags: self.client.tag_role(RoleName=new.name, Tags=tag_list(tags)),
            lambda keys: self.client.untag_role(RoleName=new.name, TagKeys=keys),
        )

    def delete(self, resource: Resource) -> None:
        _read(
            lambda: self.client.delete_role_policy(RoleName=resource.name, PolicyName=INLINE_POLICY)
        )
        _read(lambda: self.client.delete_role(RoleName=resource.name))


class TriggerRoleGateway(RoleGateway):
    kind = "trigger-role"

    def discover(self) -> list[str]:
        return []  # shared: found by name, deleted only by destroy


class StateMachineGateway(Gateway):
    kind = "state-machine"

    @property
    def client(self) -> Any:
        return self.factory.client("stepfunctions")

    def discover(self) -> list[str]:
        names = []
        for page in self.client.get_paginator("list_state_machines").paginate():
            names += [
                m["name"] for m in page["stateMachines"] if m["name"].startswith(f"{self.prefix}-")
            ]
        return names

    def read(self, name: str) -> Resource | None:
        arn = self.arn("states", f"stateMachine:{name}")
        described = _read(lambda: self.client.describe_state_machine(stateMachineArn=arn))
        if described is None or described.get("status") == "DELETING":
            return None
        tags = self.client.list_tags_for_resource(resourceArn=arn).get("tags", [])
        logging = described.get("loggingConfiguration") or {}
        spec = {
            "definition": json.loads(described["definition"]),
            "role": described["roleArn"],
            "type": described.get("type", "STANDARD"),
            "logging": {
                "level": logging.get("level", "OFF"),
                "includeExecutionData": logging.get("includeExecutionData", False),
                "destinations": logging.get("destinations", []),
            },
            "tracing": bool((described.get("tracingConfiguration") or {}).get("enabled", False)),
        }
        return Resource(self.kind, name, spec, tag_dict(tags, "key", "value"), arn=arn)

    def create(self, resource: Resource) -> None:
        try:
            _retry_while_role_propagates(
                lambda: self.client.create_state_machine(
                    name=resource.name,
                    definition=json.dumps(resource.spec["definition"], sort_keys=True),
                    roleArn=resource.spec["role"],
                    type=resource.spec["type"],
                    tags=tag_list(resource.tags, "key", "value"),
                    **_observability(resource.spec),
                )
            )
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) != "StateMachineAlreadyExists":
                raise
            old = self.read(resource.name)
            if old is not None:
                self.update(old, resource)

    def update(self, old: Resource, new: Resource) -> None:
        arn = old.arn or self.arn("states", f"stateMachine:{new.name}")
        if old.spec != new.spec:
            _retry_while_role_propagates(
                lambda: self.client.update_state_machine(
                    stateMachineArn=arn,
                    definition=json.dumps(new.spec["definition"], sort_keys=True),
                    roleArn=new.spec["role"],
                    **_observability(new.spec),
                )
            )
        _sync_tags(
            old,
            new,
            lambda tags: self.client.tag_resource(
                resourceArn=arn, tags=tag_list(tags, "key", "value")
            ),
            lambda keys: self.client.untag_resource(resourceArn=arn, tagKeys=keys),
        )

    def delete(self, resource: Resource) -> None:
        arn = resource.arn or self.arn("states", f"stateMachine:{resource.name}")
        _read(lambda: self.client.delete_state_machine(stateMachineArn=arn))


def _observability(spec: dict[str, Any]) -> dict[str, Any]:
    logging = {key: value for key, value in spec["logging"].items() if value != []}
    return {"loggingConfiguration": logging, "tracingConfiguration": {"enabled": spec["tracing"]}}


class LogGroupGateway(Gateway):
    """The environment's log group for Step Functions execution logs."""

    kind = "log-group"

    @property
    def client(self) -> Any:
        return self.factory.client("logs")

    def read(self, name: str) -> Resource | None:
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
        _sync_tags(
            old,
            new,
            lambda tags: self.client.tag_log_group(logGroupName=new.name, tags=tags),
            lambda keys: self.client.untag_log_group(logGroupName=new.name, tags=keys),
        )

    def delete(self, resource: Resource) -> None:
        _read(lambda: self.client.delete_log_group(logGroupName=resource.name))


class RuleGateway(Gateway):
    kind = "rule"

    @property
    def client(self) -> Any:
        return self.factory.client("events")

    def discover(self) -> list[str]:
        names = []
        for page in self.client.get_paginator("list_rules").paginate(NamePrefix=f"{self.prefix}-"):
            names += [rule["Name"] for rule in page["Rules"]]
        return names

    def read(self, name: str) -> Resource | None:
        rule = _read(lambda: self.client.describe_rule(Name=name))
        if rule is None:
            return None
        targets = self.client.list_targets_by_rule(Rule=name)["Targets"]
        tags = self.client.list_tags_for_resource(ResourceARN=rule["Arn"]).get("Tags", [])
        spec = {
            "ScheduleExpression": rule.get("ScheduleExpression"),
            "State": rule["State"],
            "Description": rule.get("Description", ""),
            "Targets": [_normalize_target(t) for t in sorted(targets, key=lambda t: t["Id"])],
        }
        return Resource(self.kind, name, spec, tag_dict(tags), arn=rule["Arn"])

    def create(self, resource: Resource) -> None:
        self._put(resource, tags=True)

    def _put(self, resource: Resource, *, tags: bool) -> None:
        spec = resource.spec
        extra = {"Tags": tag_list(resource.tags)} if tags else {}
        _retry_while_role_propagates(
            lambda: self.client.put_rule(
                Name=resource.name,
                ScheduleExpression=spec["ScheduleExpression"],
                State=spec["State"],
                Description=spec["Description"],
                **extra,
            )
        )
        self.client.put_targets(Rule=resource.name, Targets=spec["Targets"])

    def update(self, old: Resource, new: Resource) -> None:
        if old.spec != new.spec:
            self._put(new, tags=False)
            stale = {t["Id"] for t in old.spec["Targets"]} - {t["Id"] for t in new.spec["Targets"]}
            if stale:
                self.client.remove_targets(Rule=new.name, Ids=sorted(stale))
        self._sync_tags_by_arn(old, new, arn_key="ResourceARN")

    def delete(self, resource: Resource) -> None:
        targets = [t["Id"] for t in resource.spec.get("Targets", [])]
        if targets:
            _read(lambda: self.client.remove_targets(Rule=resource.name, Ids=targets))
        _read(lambda: self.client.delete_rule(Name=resource.name))


def _normalize_target(target: dict[str, Any]) -> dict[str, Any]:
    keep = ("Id", "Arn", "RoleArn", "Input", "InputTransformer", "RetryPolicy")
    normalized = {key: target[key] for key in keep if key in target}
    if "RetryPolicy" in normalized:
        normalized["RetryPolicy"] = dict(sorted(normalized["RetryPolicy"].items()))
    return normalized


class ScheduleGroupGateway(Gateway):
    kind = "schedule-group"

    @property
    def client(self) -> Any:
        return self.factory.client("scheduler")

    def read(self, name: str) -> Resource | None:
        group = _read(lambda: self.client.get_schedule_group(Name=name))
        if group is None or group.get("State") == "DELETING":
            return None
        tags = self.client.list_tags_for_resource(ResourceArn=group["Arn"]).get("Tags", [])
        return Resource(self.kind, name, {}, tag_dict(tags), arn=group["Arn"])

    def create(self, resource: Resource) -> None:
        try:
            self.client.create_schedule_group(Name=resource.name, Tags=tag_list(resource.tags))
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) != "ConflictException":
                raise

    def update(self, old: Resource, new: Resource) -> None:
        self._sync_tags_by_arn(old, new)

    def delete(self, resource: Resource) -> None:
        _read(lambda: self.client.delete_schedule_group(Name=resource.name))


class ScheduleGateway(Gateway):
    """Schedules are not taggable: they are owned through their (tagged) group."""

    kind = "schedule"

    @property
    def client(self) -> Any:
        return self.factory.client("scheduler")

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
            if not _missing(exc):
                raise
        return names

    def read(self, name: str) -> Resource | None:
        found = _read(lambda: self.client.get_schedule(Name=name, GroupName=self.group))
        if found is None:
            return None
        target = _normalize_target(found["Target"])
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

    def _request(self, resource: Resource) -> dict[str, Any]:
        return {"Name": resource.name, **resource.spec}

    def create(self, resource: Resource) -> None:
        try:
            _retry_while_role_propagates(
                lambda: self.client.create_schedule(**self._request(resource))
            )
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) != "ConflictException":
                raise
            self.client.update_schedule(**self._request(resource))

    def update(self, old: Resource, new: Resource) -> None:
        _retry_while_role_propagates(lambda: self.client.update_schedule(**self._request(new)))

    def delete(self, resource: Resource) -> None:
        _read(lambda: self.client.delete_schedule(Name=resource.name, GroupName=self.group))


class JobMetaGateway(Gateway):
    """The job's configuration for the API, stored in the history table's META item.

    Only the `config` attribute is jobctl deploy's: the same item holds the pause flag and
    the concurrency lock, which the API and the state machine own.
    """

    kind = "job-meta"

    def __init__(
        self, factory: ClientFactory, context: AwsContext, prefix: str, table: str
    ) -> None:
        super().__init__(factory, context, prefix)
        self.table = table

    @property
    def client(self) -> Any:
        return self.factory.client("dynamodb")

    def _key(self, job: str) -> dict[str, Any]:
        return {"pk": {"S": f"JOB#{job}"}, "sk": {"S": "META"}}

    def read(self, name: str) -> Resource | None:
        found = _read(
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
            "entity": item.get("entity", {}).get("S"),
        }
        return Resource(self.kind, name, spec, job=name)

    def create(self, resource: Resource) -> None:
        self.client.update_item(
            TableName=self.table,
            Key=self._key(resource.name),
            UpdateExpression="SET config = :config, job_name = :job, #entity = :entity",
            ExpressionAttributeNames={"#entity": "entity"},
            ExpressionAttributeValues={
                ":config": {"S": json.dumps(resource.spec["config"], sort_keys=True)},
                ":job": {"S": resource.name},
                ":entity": {"S": "job"},
            },
        )

    def update(self, old: Resource, new: Resource) -> None:
        self.create(new)

    def delete(self, resource: Resource) -> None:
        _read(
            lambda: self.client.update_item(
                TableName=self.table,
                Key=self._key(resource.name),
                UpdateExpression="REMOVE config, #entity",
                ExpressionAttributeNames={"#entity": "entity"},
            )
        )
