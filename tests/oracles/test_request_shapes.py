"""Oracle 2: request shapes and limits, checked against botocore's service models (offline).

moto accepts what AWS refuses (no override, item or message size limits, few enums and
patterns). Here:
- every request each Task state of every test registry's machines makes (evaluated by
  tests.support.asl_requests on representative inputs, including every field at the
  limit the API allows) is validated against the operation's input shape in botocore's
  model (tests.support.botocore_shapes: members, types, enums, lengths, patterns), plus
  the limits the models do not carry: ECS overrides 8,192 characters, a DynamoDB item
  400 KB, an SNS message 256 KB, a Step Functions payload 256 KiB;
- every trigger's input fits EventBridge's and Scheduler's 8,192 characters, and the
  names it gives fit Step Functions' (80 characters);
- every boto3 call `jobctl apply` makes to deploy each test registry (on moto, recorded by
  tests.support.call_recorder) is validated against its shape before moto sees it;
- what jobctl's moto fix for `ecs:runTask.sync` sets on the task it returns (the fields
  the machine reads) are fields botocore's DescribeTasks output documents, with values
  from its enums, so the fix cannot invent what AWS does not return.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from jobctl.deploy.resources import ResourceKind
from tests.support.asl_requests import TaskRequest
from tests.support.botocore_shapes import operation_model, output_members, problems, to_api
from tests.support.call_recorder import Call, recording
from tests.support.iam_requests import _integration
from tests.support.oracle_registries import Deployment, deployment_ids, deployments, task_requests

DEPLOYMENTS = {deployment.id: deployment for deployment in deployments()}
ECS_OVERRIDES = 8192  # characters of the overrides' JSON (ECS RunTask)
DYNAMODB_ITEM = 400 * 1024  # bytes: attribute names plus values
SNS_MESSAGE = 256 * 1024  # bytes: the message, subject and attributes
SFN_PAYLOAD = 256 * 1024  # bytes of a state's input, parameters or output
TRIGGER_INPUT = 8192  # characters of an EventBridge target's or a schedule's input
SFN_NAME = 80


def api_request(request: TaskRequest) -> tuple[str, str, dict[str, Any]]:
    """(botocore service, operation, params in the API's spelling) of a Task request."""
    service, action, _pattern = _integration(request.resource)
    model = operation_model(service, action)
    params = to_api(model.input_shape, request.arguments)
    return model.service_model.service_name, model.name, params


def _attribute_size(value: dict[str, Any]) -> int:
    ((kind, data),) = value.items()
    if kind in ("S", "N", "B"):
        return len(str(data).encode())
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(len(str(v).encode()) for v in data)
    if kind == "L":
        return 3 + sum(1 + _attribute_size(v) for v in data)
    if kind == "M":
        return 3 + sum(len(k.encode()) + 1 + _attribute_size(v) for k, v in data.items())
    raise AssertionError(kind)


def item_size(item: dict[str, Any]) -> int:
    """DynamoDB's item size: the UTF-8 lengths of attribute names plus their values."""
    return sum(len(name.encode()) + _attribute_size(value) for name, value in item.items())


def limit_problems(service: str, operation: str, params: dict[str, Any]) -> list[str]:
    found = []
    size = len(json.dumps(params, ensure_ascii=False).encode())
    if size > SFN_PAYLOAD:
        found.append(f"{operation}: {size} bytes of parameters (Step Functions: {SFN_PAYLOAD})")
    if service == "ecs" and "overrides" in params:
        text = json.dumps(params["overrides"], separators=(",", ":"), ensure_ascii=False)
        if len(text) > ECS_OVERRIDES:
            found.append(f"RunTask overrides: {len(text)} characters (ECS: {ECS_OVERRIDES})")
    if service == "dynamodb":
        items = [params.get("Item")] + [
            entry.get("Put", {}).get("Item") for entry in params.get("TransactItems", [])
        ]
        for item in filter(None, items):
            if item_size(item) > DYNAMODB_ITEM:
                found.append(f"{operation}: item of {item_size(item)} bytes (DynamoDB: 400 KB)")
    if service == "sns" and operation == "Publish":
        size = len(params["Message"].encode()) + len(params.get("Subject", "").encode())
        if size > SNS_MESSAGE:
            found.append(f"Publish: {size} bytes (SNS: {SNS_MESSAGE})")
    return found


@pytest.mark.parametrize("deployment_id", deployment_ids())
def test_every_task_request_fits_its_botocore_shape_and_aws_limits(deployment_id: str) -> None:
    deployment = DEPLOYMENTS[deployment_id]
    found = []
    for job in deployment.jobs():
        for request in task_requests(deployment_id, job.name):
            service, operation, params = api_request(request)
            for problem in problems(service, operation, params) + limit_problems(
                service, operation, params
            ):
                found.append(f"{job.name} {request.state}: {problem}")
    assert sorted(set(found)) == []


@pytest.mark.parametrize("deployment_id", deployment_ids())
def test_task_timeouts_are_within_step_functions_range(deployment_id: str) -> None:
    deployment = DEPLOYMENTS[deployment_id]
    for job in deployment.jobs():
        for request in task_requests(deployment_id, job.name):
            if request.timeout_seconds is not None:
                assert 1 <= request.timeout_seconds <= 99_999_999, (job.name, request.state)


def test_the_shape_oracle_finds_planted_violations() -> None:
    deployment = deployments()[0]
    job = deployment.jobs()[0].name
    requests = task_requests(deployment.id, job)
    run_task = next(r for r in requests if r.resource.endswith("ecs:runTask.sync"))
    service, operation, params = api_request(run_task)
    bad = json.loads(json.dumps(params))
    bad["launchType"] = "FARGATE_SPOT"  # not in the LaunchType enum
    bad["overrides"]["containerOverrides"][0]["command"] = ["x" * 9000]
    bad["clusterName"] = "app"  # unknown member
    found = problems(service, operation, bad) + limit_problems(service, operation, bad)
    assert any("FARGATE_SPOT" in p for p in found), found
    assert any("clusterName" in p for p in found), found
    assert any("overrides" in p for p in found), found
    put = next(
        r
        for r in requests
        if r.resource.endswith("dynamodb:putItem") or "transactWriteItems" in r.resource
    )
    service, operation, params = api_request(put)
    big = json.loads(json.dumps(params))
    item = big.get("Item") or big["TransactItems"][-1]["Put"]["Item"]
    item["reason"] = {"S": "r" * (DYNAMODB_ITEM + 1)}
    assert limit_problems(service, operation, big)
    del item["pk"]["S"]
    item["pk"]["Q"] = "x"  # not an attribute type
    assert problems(service, operation, big)


@pytest.mark.parametrize("deployment_id", deployment_ids())
def test_trigger_inputs_and_names_fit(deployment_id: str) -> None:
    deployment = DEPLOYMENTS[deployment_id]
    for rule in deployment.of_kind(ResourceKind.RULE):
        for target in rule.spec["Targets"]:
            template = target.get("InputTransformer", {}).get("InputTemplate", "")
            assert len(target.get("Input", "")) <= TRIGGER_INPUT and len(template) <= TRIGGER_INPUT
        params = {"Rule": rule.name, "Targets": rule.spec["Targets"]}
        assert problems("events", "PutTargets", params) == [], rule.name
        put_rule = {
            "Name": rule.name,
            **{k: rule.spec[k] for k in ("ScheduleExpression", "State", "Description")},
        }
        assert problems("events", "PutRule", put_rule) == [], rule.name
    for schedule in deployment.of_kind(ResourceKind.SCHEDULE):
        target = schedule.spec["Target"]
        assert len(target.get("Input", "")) <= TRIGGER_INPUT
        assert (
            problems("scheduler", "CreateSchedule", {"Name": schedule.name, **schedule.spec}) == []
        )
        if target["Arn"].endswith("aws-sdk:sfn:startExecution"):
            start = json.loads(target["Input"])
            name = start.get("Name", "")
            # Scheduler fills its context attributes: the longest execution id it can give.
            filled = name.replace("<aws.scheduler.execution-id>", "0" * 36).replace(
                "<aws.scheduler.scheduled-time>", "2026-12-01T03:00:00Z"
            )
            assert len(filled) <= SFN_NAME, filled
        else:  # the machine itself: Step Functions names the execution (a UUID)
            assert target["Arn"].endswith(f":stateMachine:{schedule.name}"), target["Arn"]
    for machine in deployment.of_kind(ResourceKind.STATE_MACHINE):
        assert len(machine.name) <= SFN_NAME


# --- deploy's own boto3 calls -------------------------------------------------------------


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from tests.support.aws import offline_aws

    offline_aws(monkeypatch, "ap-northeast-1")
    with mock_aws():
        yield


def _deploy(deployment: Deployment) -> list[Call]:
    from chalicelib.aws.clients import ClientFactory
    from jobctl.deploy.service import DeployService
    from jobctl.local.seed import seed_jobs

    ecs = boto3.client("ecs", region_name=deployment.context.region)
    ec2 = boto3.client("ec2", region_name=deployment.context.region)
    seed_jobs(ecs, ec2, deployment.jobs(), "123456789012")
    with recording() as calls:
        service = DeployService(
            ClientFactory(region=deployment.context.region), deployment.registry, deployment.env
        )
        result = service.apply(service.plan())
    assert result.ok, result.failed
    return calls


@pytest.mark.parametrize(
    "deployment_id", [d.id for d in deployments() if d.context.account == "123456789012"]
)
def test_every_call_apply_makes_fits_its_botocore_shape(offline: None, deployment_id: str) -> None:
    calls = _deploy(DEPLOYMENTS[deployment_id])
    mutating = [c for c in calls if not c.operation.startswith(("Describe", "Get", "List"))]
    assert mutating, "apply made no call: nothing was checked"
    found = [
        f"{call.service}.{call.operation}: {problem}"
        for call in calls
        for problem in problems(call.service, call.operation, call.params)
    ]
    assert found == []


# --- the moto fix's .sync output ----------------------------------------------------------


def test_the_sync_fix_sets_only_fields_describe_tasks_documents() -> None:
    from botocore.model import StructureShape

    from jobctl.local.moto import ecs_task
    from jobctl.local.moto.ecs_double import TaskExit

    shape = operation_model("ecs", "DescribeTasks").output_shape

    class Client:
        def stop_task(self, **_: Any) -> None:
            return None

        def describe_tasks(self, **_: Any) -> dict[str, Any]:
            return {
                "tasks": [
                    {
                        "taskArn": "arn:aws:ecs:r:1:task/c/t",
                        "lastStatus": "RUNNING",
                        "containers": [{"name": "app", "lastStatus": "RUNNING"}],
                    }
                ],
                "failures": [],
            }

    class Service:
        def _normalise_response(self, response: Any, service_action_name: str) -> None:
            _sfn_case(response, shape)

    returned = ecs_task._stopped(Service(), None, (Client(), "c", "t"), TaskExit(exit_code=0))  # type: ignore[arg-type]
    task_members = {m.lower(): m for m in output_members("ecs", "DescribeTasks", ["tasks"])}
    container_members = {
        m.lower(): m for m in output_members("ecs", "DescribeTasks", ["tasks", "containers"])
    }
    task_shape = shape.members["tasks"].member  # type: ignore[attr-defined]
    for key, value in returned.items():
        assert key.lower() in task_members, f"the fix invents task field {key}"
        member = task_shape.members[task_members[key.lower()]]
        if getattr(member, "enum", None):
            assert value in member.enum, (key, value, member.enum)
    for container in returned["Containers"]:
        for key in container:
            assert key.lower() in container_members, f"the fix invents container field {key}"
    assert isinstance(shape, StructureShape)
    # every stop code the ECS double can script is one AWS documents
    stop_codes = task_shape.members["stopCode"].enum
    assert TaskExit(exit_code=1).stop_code in stop_codes


def _sfn_case(value: Any, shape: Any) -> None:
    """botocore camelCase -> Step Functions' PascalCase, as moto's converter does."""
    if isinstance(value, dict):
        for key in list(value):
            member = shape.members.get(key) if hasattr(shape, "members") else None
            item = value.pop(key)
            if member is not None and member.type_name == "list" and isinstance(item, list):
                for entry in item:
                    _sfn_case(entry, member.member)
            elif member is not None:
                _sfn_case(item, member)
            value[key[:1].upper() + key[1:]] = item
