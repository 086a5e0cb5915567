"""A job's Step Functions state machine: definition, role, logging, tracing and tags.

Spec: `{"definition": ASL as data, "role": ARN, "type", "logging": loggingConfiguration as
DescribeStateMachine returns it, "tracing": bool}`. Invariants: definitions are compared as
data and written with sorted keys; a state machine being deleted reads as absent (its name
is free again only once it is gone); calls that name a role retry while IAM propagates it.
A cheap plan glances with one DescribeStateMachine each (no list call returns definitions)
and the tags of all of them from the tagging API, 100 per call: the whole spec is seen, so a
definition, role, logging or tracing changed by hand is found without `--refresh`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, Literal, Protocol, cast

import botocore.exceptions

from chalicelib.aws.clients import error_code
from jobctl.deploy.gateways.base import (
    Gateway,
    Page,
    each,
    read_or_none,
    retry_while_role_propagates,
    sync_tags,
    tags_of,
)
from jobctl.deploy.resources import Resource, ResourceKind, tag_dict, tag_list


class StateMachinePages(Protocol):
    def paginate(self) -> Iterable[Page]: ...


class StepFunctions(Protocol):
    """The Step Functions calls the state machine gateway makes.

    `create_state_machine` and `update_state_machine` also take `loggingConfiguration` and
    `tracingConfiguration`, passed as `**_observability(spec)`.
    """

    def get_paginator(
        self, operation_name: Literal["list_state_machines"]
    ) -> StateMachinePages: ...

    def describe_state_machine(self, *, stateMachineArn: str) -> dict[str, Any]: ...

    def list_tags_for_resource(self, *, resourceArn: str) -> dict[str, Any]: ...

    def create_state_machine(
        self,
        *,
        name: str,
        definition: str,
        roleArn: str,
        type: str,
        tags: list[dict[str, str]],
        **observability: Any,
    ) -> object: ...

    def update_state_machine(
        self, *, stateMachineArn: str, definition: str, roleArn: str, **observability: Any
    ) -> object: ...

    def tag_resource(self, *, resourceArn: str, tags: list[dict[str, str]]) -> object: ...

    def untag_resource(self, *, resourceArn: str, tagKeys: list[str]) -> object: ...

    def delete_state_machine(self, *, stateMachineArn: str) -> object: ...


class StateMachineGateway(Gateway):
    kind = ResourceKind.STATE_MACHINE

    @property
    def client(self) -> StepFunctions:
        return cast(StepFunctions, self.factory.client("stepfunctions"))

    def _arn(self, name: str) -> str:
        return self.arn("states", f"stateMachine:{name}")

    def discover(self) -> list[str]:
        names = []
        for page in self.client.get_paginator("list_state_machines").paginate():
            names += [
                m["name"] for m in page["stateMachines"] if m["name"].startswith(f"{self.prefix}-")
            ]
        return names

    def read(self, name: str) -> Resource | None:
        arn = self._arn(name)
        described = self._describe(name)
        if described is None:
            return None
        tags = self.client.list_tags_for_resource(resourceArn=arn).get("tags", [])
        return self._resource(name, described, tag_dict(tags, "key", "value"))

    def _describe(self, name: str) -> dict[str, Any] | None:
        arn = self._arn(name)
        described = read_or_none(lambda: self.client.describe_state_machine(stateMachineArn=arn))
        if described is None or described.get("status") == "DELETING":
            return None
        return described

    def glance(self, names: Sequence[str], workers: int) -> dict[str, Resource]:
        described = dict(zip(names, each(self._describe, names, workers), strict=True))
        found = {name: answer for name, answer in described.items() if answer is not None}
        tags = tags_of(self.factory, [self._arn(name) for name in found])
        return {
            name: self._resource(name, answer, tags.get(self._arn(name), {}))
            for name, answer in found.items()
        }

    def _resource(self, name: str, described: dict[str, Any], tags: dict[str, str]) -> Resource:
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
        return Resource(self.kind, name, spec, tags, arn=self._arn(name))

    def create(self, resource: Resource) -> None:
        try:
            retry_while_role_propagates(
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
            # A retried create whose first attempt went through: converge on what is there.
            old = self.read(resource.name)
            if old is not None:
                self.update(old, resource)

    def update(self, old: Resource, new: Resource) -> None:
        arn = old.arn or self._arn(new.name)
        if old.spec != new.spec:
            retry_while_role_propagates(
                lambda: self.client.update_state_machine(
                    stateMachineArn=arn,
                    definition=json.dumps(new.spec["definition"], sort_keys=True),
                    roleArn=new.spec["role"],
                    **_observability(new.spec),
                )
            )
        sync_tags(
            old,
            new,
            lambda tags: self.client.tag_resource(
                resourceArn=arn, tags=tag_list(tags, "key", "value")
            ),
            lambda keys: self.client.untag_resource(resourceArn=arn, tagKeys=keys),
        )

    def delete(self, resource: Resource) -> None:
        arn = resource.arn or self._arn(resource.name)
        read_or_none(lambda: self.client.delete_state_machine(stateMachineArn=arn))


def _observability(spec: dict[str, Any]) -> dict[str, Any]:
    # Step Functions refuses an empty destinations list (logging OFF): leave it out.
    logging = {key: value for key, value in spec["logging"].items() if value != []}
    return {"loggingConfiguration": logging, "tracingConfiguration": {"enabled": spec["tracing"]}}
