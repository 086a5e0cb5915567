"""The platform for end-to-end tests: jobs deployed by jobctl into moto, executed by its
interpreter with the runtime fixes, tasks decided by the ECS double, alerts read from SQS.

Time runs 1000x faster (retry intervals, TimeoutSeconds) without touching the compiled
definitions, so no test sleeps for real intervals. Teardown stops every execution still
running so no interpreter thread outlives its test.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.aws.clients import ClientFactory
from jobctl.deploy.service import DeployService
from jobctl.local.moto import ecs_double, install, set_time_speed
from jobctl.local.seed import register_task_definition
from jobctl.registry.loader import parse_registry
from tests.support.aws import offline_aws

REGION = "us-east-1"
ACCOUNT = "123456789012"
TIME_SPEED = 0.001
JOBS = """\
version: 1
project: e2e
defaults:
  cluster: app
  task_definition: app-batch
  container: app
  launch_type: FARGATE
  network: {subnets: [SUBNET], security_groups: [GROUP]}
  timeout: 1d
  retry: {retries: 0, interval: 30s}
jobs:
  ok: {schedule: cron(0 3 * * ? *), command: [bin/ok]}
  flaky: {schedule: cron(0 4 * * ? *), retry: {retries: 2, interval: 30s}}
  broken: {schedule: cron(0 5 * * ? *), retry: {retries: 2, interval: 30s}}
  capacity: {schedule: cron(0 6 * * ? *)}
  slow: {schedule: cron(0 7 * * ? *), timeout: 10m}
  single: {schedule: rate(5 minutes), concurrency: forbid}
  replacer: {schedule: rate(5 minutes), concurrency: replace}
  deadline: {schedule: cron(0 8 * * ? *), starting_deadline: 5m}
  params:
    schedule: cron(0 9 1 * ? *)
    environment: {MODE: nightly}
    parameters:
      DAY: {pattern: '\\d{4}-\\d{2}-\\d{2}'}
      LEVEL: {enum: [low, high], default: low}
"""


class Platform:
    def __init__(self) -> None:
        ec2 = boto3.client("ec2", region_name=REGION)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        group = ec2.create_security_group(GroupName="jobs", Description="jobs", VpcId=vpc)[
            "GroupId"
        ]
        self.ecs = boto3.client("ecs", region_name=REGION)
        self.ecs.create_cluster(clusterName="app")
        register_task_definition(self.ecs)
        self.registry_text = JOBS.replace("SUBNET", subnet).replace("GROUP", group)
        registry = parse_registry(self.registry_text)
        deploy = DeployService(ClientFactory(region=REGION), registry, None)
        result = deploy.apply(deploy.plan())
        assert result.ok, result.failed
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        self.ddb = boto3.client("dynamodb", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.queue = self.sqs.create_queue(QueueName="alerts")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        boto3.client("sns", region_name=REGION).subscribe(
            TopicArn=f"arn:aws:sns:{REGION}:{ACCOUNT}:e2e-alerts",
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "true"},
        )
        self.executions: list[str] = []

    def start(self, job: str, name: str, payload: dict[str, Any] | None = None) -> str:
        arn = self.sfn.start_execution(
            stateMachineArn=f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:e2e-{job}",
            name=name,
            input=json.dumps(payload or {"trigger": "manual"}),
        )["executionArn"]
        self.executions.append(arn)
        return arn

    def wait(self, arn: str, timeout: float = 15.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            described = self.sfn.describe_execution(executionArn=arn)
            if described["status"] != "RUNNING":
                return described
            time.sleep(0.02)
        raise AssertionError(f"{arn} still running after {timeout}s")

    def run(self, job: str, name: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.wait(self.start(job, name, payload))

    def record(self, job: str, run_id: str) -> dict[str, Any]:
        item = self.ddb.get_item(
            TableName="e2e-history", Key={"pk": {"S": f"JOB#{job}"}, "sk": {"S": f"RUN#{run_id}"}}
        ).get("Item", {})
        return {key: _plain(value) for key, value in item.items()}

    def meta(self, job: str) -> dict[str, Any]:
        item = self.ddb.get_item(
            TableName="e2e-history", Key={"pk": {"S": f"JOB#{job}"}, "sk": {"S": "META"}}
        ).get("Item", {})
        return {key: _plain(value) for key, value in item.items()}

    def alerts(self) -> list[dict[str, Any]]:
        messages = self.sqs.receive_message(
            QueueUrl=self.queue, MaxNumberOfMessages=10, WaitTimeSeconds=0
        )
        return [json.loads(m["Body"]) for m in messages.get("Messages", [])]

    def events(self, arn: str) -> list[dict[str, Any]]:
        return self.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]

    def stop_all(self) -> None:
        for task in ecs_double.running():
            ecs_double.finish(task.task_arn, 0)
        for arn in self.executions:
            if self.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
                self.sfn.stop_execution(executionArn=arn)
        for arn in self.executions:
            self.wait(arn)


def _plain(value: dict[str, Any]) -> Any:
    kind, inner = next(iter(value.items()))
    if kind == "N":
        return int(inner) if inner.lstrip("-").isdigit() else float(inner)
    if kind == "NULL":
        return None
    return inner


@pytest.fixture
def platform(monkeypatch: pytest.MonkeyPatch) -> Iterator[Platform]:
    offline_aws(monkeypatch, REGION)
    install()
    set_time_speed(TIME_SPEED)
    ecs_double.reset()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        lab = Platform()
        try:
            yield lab
        finally:
            lab.stop_all()
            ecs_double.reset()
            leftover = interpreter_threads(wait=5.0)
    set_time_speed(1.0)
    assert leftover == [], f"execution threads outlived the test: {leftover}"


def interpreter_threads(wait: float) -> list[str]:
    """moto's execution and .sync waiter threads still alive after `wait` seconds."""
    deadline = time.monotonic() + wait
    while True:
        alive = [
            t.name
            for t in threading.enumerate()
            if "_execution_logic" in t.name or t.name.startswith("WaitForTaskToken")
        ]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.02)
