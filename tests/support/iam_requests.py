"""What IAM authorizes for each request a state machine's Task makes.

Owns `authorizations(request, context)`: one Task request (tests.support.asl_requests) ->
the IAM requests AWS evaluates against the execution role, as the Service Authorization
Reference and the Step Functions integration pages define them:

- DynamoDB `getItem/putItem/updateItem/deleteItem` (optimized or aws-sdk): `dynamodb:<Op>`
  on `table/<name>` with `dynamodb:LeadingKeys` = the item's partition key value.
  `transactWriteItems` / `transactGetItems` have no IAM action of their own: each item is
  authorized as its own `PutItem`, `UpdateItem`, `DeleteItem`, `ConditionCheckItem` or
  `GetItem`, with its own leading key.
- SNS `publish`: `sns:Publish` on the topic ARN.
- ECS `runTask`: `ecs:RunTask` on `task-definition/<family>:<revision>` (a family alone
  resolves to its latest ACTIVE revision) with `ecs:cluster`; `iam:PassRole` on each role
  of the task definition with `iam:PassedToService = ecs-tasks.amazonaws.com`;
  `ecs:TagResource` with `ecs:CreateAction = RunTask` when the request carries `Tags`.
  `.sync` adds the polling and stopping calls (`ecs:DescribeTasks`, `ecs:StopTask` on
  `task/<cluster>/<id>` with `ecs:cluster`) and the managed rule's
  `events:PutTargets`, `events:PutRule`, `events:DescribeRule` on
  `rule/StepFunctionsGetEventsForECSTaskRule`.
- `aws-sdk:sfn:stopExecution`: `states:StopExecution` on the execution ARN.

An integration not listed raises `Unmapped`: a Task that starts a new kind of call fails
the oracle until its authorization is written down here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalicelib.aws.clients import AwsContext
from tests.support.asl_requests import TaskRequest

LATEST_REVISION = 3  # what a family-only task definition resolves to in these requests
TASK_ID = "0123456789abcdef0123456789abcdef"


@dataclass(frozen=True)
class IamRequest:
    action: str
    resource: str
    context: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        return f"{self.action} on {self.resource} with {self.context}"


class Unmapped(Exception):
    """A Task integration whose IAM requests are not modelled here."""


def _integration(resource: str) -> tuple[str, str, str]:
    """`arn:aws:states:::ecs:runTask.sync` -> ("ecs", "runTask", ".sync")."""
    tail = resource.split(":::", 1)[1]
    if tail.startswith("aws-sdk:"):
        tail = tail.removeprefix("aws-sdk:")
    service, _, action = tail.partition(":")
    pattern = ""
    for suffix in (".sync:2", ".sync", ".waitForTaskToken"):
        if action.endswith(suffix):
            action, pattern = action.removesuffix(suffix), suffix
    return service, action, pattern


# The IAM action each item of a DynamoDB transaction is authorised as.
TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}


def _key(item: dict[str, Any]) -> str:
    (value,) = item["pk"].values()
    return str(value)


def authorizations(
    request: TaskRequest, context: AwsContext, task_roles: list[str]
) -> list[IamRequest]:
    service, action, pattern = _integration(request.resource)
    args = request.arguments
    base = f"arn:{context.partition}:{{}}:{context.region}:{context.account}:"

    def item(op: str, spec: dict[str, Any], key: dict[str, Any]) -> IamRequest:
        table = base.format("dynamodb") + f"table/{spec['TableName']}"
        return IamRequest(f"dynamodb:{op}", table, {"dynamodb:LeadingKeys": [_key(key)]})

    if service == "dynamodb":
        single = {
            "getItem": "GetItem",
            "putItem": "PutItem",
            "updateItem": "UpdateItem",
            "deleteItem": "DeleteItem",
        }
        if action in single:
            return [item(single[action], args, args.get("Key") or args["Item"])]
        if action in ("transactWriteItems", "transactGetItems"):
            found = []
            for entry in args["TransactItems"]:
                ((kind, spec),) = entry.items()
                found.append(item(TRANSACT_ACTIONS[kind], spec, spec.get("Key") or spec["Item"]))
            return found
    if service == "sns" and action == "publish":
        return [IamRequest("sns:Publish", args["TopicArn"])]
    if service == "sfn" and action == "stopExecution":
        return [IamRequest("states:StopExecution", args["ExecutionArn"])]
    if service == "ecs" and action == "runTask":
        ecs = base.format("ecs")
        cluster = args.get("Cluster", "default")
        cluster_arn = cluster if cluster.startswith("arn:") else f"{ecs}cluster/{cluster}"
        definition = args["TaskDefinition"]
        if not definition.startswith("arn:"):
            if ":" not in definition:
                definition = f"{definition}:{LATEST_REVISION}"
            definition = f"{ecs}task-definition/{definition}"
        on_cluster = {"ecs:cluster": cluster_arn}
        found = [IamRequest("ecs:RunTask", definition, on_cluster)]
        found += [
            IamRequest("iam:PassRole", role, {"iam:PassedToService": "ecs-tasks.amazonaws.com"})
            for role in task_roles
        ]
        if args.get("Tags"):
            found.append(
                IamRequest(
                    "ecs:TagResource",
                    f"{ecs}task/{cluster_arn.rsplit('/', 1)[-1]}/*",
                    {"ecs:CreateAction": "RunTask"},
                )
            )
        if pattern.startswith(".sync"):
            task = f"{ecs}task/{cluster_arn.rsplit('/', 1)[-1]}/{TASK_ID}"
            rule = base.format("events") + "rule/StepFunctionsGetEventsForECSTaskRule"
            found += [
                IamRequest(a, task, on_cluster) for a in ("ecs:DescribeTasks", "ecs:StopTask")
            ]
            found += [
                IamRequest(a, rule)
                for a in ("events:PutTargets", "events:PutRule", "events:DescribeRule")
            ]
        return found
    raise Unmapped(f"{request.state}: no IAM mapping for {request.resource}")
