"""Oracle 1, the Lambda functions: each function's recorded calls against its .chalice policy.

The functions run on moto, which enforces no IAM. Here each function of app.py is driven
through its paths on jobs deployed by jobctl (every HTTP route in the app's route table,
whatever routes exist, with a known job and run; the status-change recorder with a
RUNNING and a terminal event; the reconciler and the watchdog on their schedule), every
botocore call it makes is recorded (tests.support.call_recorder), mapped to the IAM request
AWS authorizes (`to_iam`), and evaluated with principalmapper (tests.support.iam_eval)
against the policy that function gets in that stage (jobctl.deploy.lambda_policies, the
generator of .chalice/policy-*.json). A call no policy grants fails here, so does a call
this module cannot map (a new kind of call), and every recorded call must fit its
botocore shape too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws

import app as lambda_app
from chalicelib.aws.clients import ClientFactory
from jobctl.deploy.lambda_policies import FUNCTIONS, function_policy
from jobctl.deploy.service import DeployService
from jobctl.local.seed import register_task_definition
from jobctl.registry.loader import parse_registry
from tests.support.api_caller import sign_requests_as
from tests.support.aws import offline_aws
from tests.support.botocore_shapes import problems
from tests.support.call_recorder import Call, recording
from tests.support.events import execution_status_change
from tests.support.history import put_runs, run_item
from tests.support.iam_eval import allows
from tests.support.iam_requests import TRANSACT_ACTIONS, IamRequest
from tests.support.registries import BASE

REGION = "us-east-1"
ACCOUNT = "123456789012"
PROJECT = "orc"
ENV = "production"
BASE_NAME = f"{PROJECT}-{ENV}"
TABLE = f"{BASE_NAME}-history"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
JOBS = (
    BASE.replace("project: demo", f"project: {PROJECT}")
    + f"""\
environments:
  {ENV}: {{account: "{ACCOUNT}", region: {REGION}}}
jobs:
  report:
    schedule: cron(0 3 * * ? *)
    parameters:
      DAY: {{pattern: '\\d{{4}}-\\d{{2}}-\\d{{2}}'}}
"""
)
RUN = "manual-20261201T101500Z-0a1b2c3d"


class UnmappedCall(Exception):
    pass


def to_iam(call: Call) -> list[IamRequest]:
    """The IAM request AWS authorizes for one recorded call (Service Authorization Reference)."""
    p = call.params
    base = f"arn:aws:{{}}:{REGION}:{ACCOUNT}:"
    if call.service == "dynamodb":
        table = base.format("dynamodb") + f"table/{p.get('TableName', '')}"
        if call.operation == "Query" and p.get("IndexName"):
            table += f"/index/{p['IndexName']}"
        if call.operation in ("BatchGetItem", "BatchWriteItem"):
            return [
                IamRequest(f"dynamodb:{call.operation}", base.format("dynamodb") + f"table/{name}")
                for name in p["RequestItems"]
            ]
        if call.operation in ("TransactWriteItems", "TransactGetItems"):
            return [
                IamRequest(
                    f"dynamodb:{TRANSACT_ACTIONS[kind]}",
                    base.format("dynamodb") + f"table/{spec['TableName']}",
                )
                for entry in p["TransactItems"]
                for kind, spec in entry.items()
            ]
        return [IamRequest(f"dynamodb:{call.operation}", table)]
    if call.service == "stepfunctions":
        resource = p.get("stateMachineArn") or p.get("executionArn") or "*"
        return [IamRequest(f"states:{call.operation}", resource)]
    if call.service == "sns" and call.operation == "Publish":
        return [IamRequest("sns:Publish", p["TopicArn"])]
    if call.service == "secretsmanager":
        secret = p["SecretId"]
        arn = (
            secret
            if secret.startswith("arn:")
            else base.format("secretsmanager") + f"secret:{secret}-AbCdEf"
        )
        return [IamRequest(f"secretsmanager:{call.operation}", arn)]
    if call.service == "ssm":
        return [
            IamRequest(
                f"ssm:{call.operation}", base.format("ssm") + "parameter/" + p["Name"].lstrip("/")
            )
        ]
    if call.service == "logs":
        group = base.format("logs") + f"log-group:{p.get('logGroupName', '')}"
        if "logStreamName" in p:
            return [
                IamRequest(f"logs:{call.operation}", f"{group}:log-stream:{p['logStreamName']}")
            ]
        return [IamRequest(f"logs:{call.operation}", f"{group}:*")]
    if call.service == "sts" and call.operation == "GetCallerIdentity":
        return []  # needs no permission
    raise UnmappedCall(f"no IAM mapping for {call.service}.{call.operation}: add it to to_iam")


def assert_granted_and_well_shaped(calls: list[Call], policy: dict[str, Any]) -> None:
    """Every recorded call is allowed by `policy`, request by request, and fits its
    botocore shape."""
    denied = sorted(
        {
            f"{call.service}.{call.operation}: {request.describe()}"
            for call in calls
            for request in to_iam(call)
            if not allows(policy, request.action, request.resource, **request.context)
        }
    )
    assert denied == [], "\n".join(denied)
    shapes = sorted(
        {f"{c.operation}: {p}" for c in calls for p in problems(c.service, c.operation, c.params)}
    )
    assert shapes == []


@pytest.fixture(scope="module")
def platform() -> Iterator[Client]:
    patch = pytest.MonkeyPatch()
    offline_aws(patch, REGION)
    patch.setenv("JOBCTL_HISTORY_TABLE", TABLE)
    patch.setenv("JOBCTL_PREFIX", BASE_NAME)
    sign_requests_as(patch, ALICE)
    with mock_aws():
        register_task_definition(boto3.client("ecs", region_name=REGION))
        deploy = DeployService(ClientFactory(region=REGION), parse_registry(JOBS), ENV)
        result = deploy.apply(deploy.plan())
        assert result.ok, result.failed
        machine = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{BASE_NAME}-report"
        execution = boto3.client("stepfunctions").start_execution(
            stateMachineArn=machine, name=RUN, input="{}"
        )["executionArn"]
        put_runs(
            boto3.client("dynamodb"),
            TABLE,
            [run_item("report", RUN, "RUNNING", "2026-12-01T10:15:00Z", execution_arn=execution)],
        )
        with Client(lambda_app.app) as client:
            yield client
    patch.undo()


def _drive_routes(client: Client) -> None:
    values = {"name": "report", "run_id": RUN, "id": RUN}
    start = json.dumps({"reason": "oracle", "parameters": {"DAY": "2026-11-01"}}).encode()
    other = json.dumps({"reason": "oracle"}).encode()
    for path, methods in sorted(lambda_app.app.routes.items()):
        if "{" in path and not any("{" + key + "}" in path for key in values):
            continue  # the catch-all `no route` paths
        concrete = path
        for key, value in values.items():
            concrete = concrete.replace("{" + key + "}", value)
        for method in sorted(methods):
            if method == "GET":
                client.http.get(concrete)
            elif method == "POST" and not concrete.startswith("/slack"):
                body = start if path.endswith("/jobs/{name}/runs") else other
                client.http.post(concrete, headers={"Content-Type": "application/json"}, body=body)


def _status_event(client: Client, status: str) -> dict[str, Any]:
    machine = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{BASE_NAME}-report"
    return execution_status_change(client, machine, RUN, status, REGION)


def _drive(client: Client, function: str) -> None:
    if function == "api_handler":
        _drive_routes(client)
    elif function == "record_execution_status":
        for status in ("RUNNING", "FAILED"):
            client.lambda_.invoke(function, _status_event(client, status))
    elif function in ("reconcile_history", "watch_missed_runs"):
        event = client.events.generate_cw_event(
            source="aws.events",
            detail_type="Scheduled Event",
            detail={},
            resources=[],
            region=REGION,
        )
        client.lambda_.invoke(function, event)
    elif function == "notify_slack":
        pytest.skip("notify_slack needs Slack: tests/oracles/test_lambda_calls_alerts.py")
    else:
        raise AssertionError(f"a new function {function}: drive it here")


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_every_call_a_function_makes_is_allowed_by_its_policy(
    platform: Client, function: str
) -> None:
    with recording() as calls:
        _drive(platform, function)
    mine = [c for c in calls if c.service != "sts"]
    assert mine, f"{function} made no AWS call: nothing was checked"
    policy = function_policy(PROJECT, ENV, function, account=ACCOUNT, region=REGION)
    assert_granted_and_well_shaped(mine, policy)


def test_a_call_no_policy_grants_is_found() -> None:
    policy = function_policy(
        PROJECT, ENV, "record_execution_status", account=ACCOUNT, region=REGION
    )
    start = Call(
        "stepfunctions",
        "StartExecution",
        {"stateMachineArn": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{BASE_NAME}-report"},
    )
    (request,) = to_iam(start)
    assert not allows(policy, request.action, request.resource)
    with pytest.raises(UnmappedCall):
        to_iam(Call("lambda", "Invoke", {"FunctionName": "f"}))


# --- the operator policy the README recommends, against the ops CLI's calls -------------


def readme_operator_policy() -> dict[str, Any]:
    """The JSON block after "operator policy" in the README, for this test's environment."""
    from tests.support.oracle_registries import ROOT

    text = (ROOT / "README.md").read_text()
    start = text.index("```json", text.index("operator policy"))
    block = text[start + len("```json") : text.index("```", start + 7)]
    for placeholder, value in (
        ("REGION", REGION),
        ("ACCOUNT", ACCOUNT),
        ("PROJECT-ENV", BASE_NAME),
        ("LOG-GROUP", "/ecs/app-batch"),  # what register_task_definition logs to
    ):
        block = block.replace(placeholder, value)
    return json.loads(block)  # type: ignore[no-any-return]


def _ops_verbs() -> list[str]:
    import argparse

    from jobctl.cli import ops
    from jobctl.cli.verbs import Verbs

    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers()
    ops.register(Verbs(commands))
    return sorted(commands.choices)


def test_the_readme_operator_policy_allows_every_call_the_ops_cli_makes(
    platform: Client, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from jobctl.cli.main import main

    registry = tmp_path_factory.mktemp("ops") / "jobs.yaml"
    registry.write_text(JOBS)
    common = ["-f", str(registry), "--env", ENV, "--json"]
    invocations = {
        "jobs": [[]],
        "job": [["report"]],
        "runs": [[], ["report"]],
        "show": [[RUN]],
        "logs": [[RUN]],
        "run": [["report", "--reason", "oracle", "--param", "DAY=2026-11-01"]],
        "rerun": [[RUN, "--reason", "oracle"]],
        "pause": [["report", "--reason", "oracle"]],
        "resume": [["report"]],
        "stop": [[RUN, "--reason", "oracle"]],
    }
    assert set(_ops_verbs()) <= set(invocations), "a new ops verb: drive it here"
    with recording() as calls:
        for verb in _ops_verbs():
            for extra in invocations[verb]:
                main([verb, *extra, *common])
    mine = [c for c in calls if c.service != "sts"]
    assert {c.operation for c in mine} >= {"Query", "GetItem", "StartExecution"}
    policy = readme_operator_policy()
    assert_granted_and_well_shaped(mine, policy)
