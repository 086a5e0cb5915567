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
from tests.support.moto_state import DeployedState

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
        self.sns = boto3.client("sns", region_name=REGION)
        self.queues = 0
        self.queue, self.subscription = self.alert_queue()
        self.executions: list[str] = []
        self.deployed: DeployedState | None = None

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

    def transitions(self, arn: str) -> tuple[int, list[str]]:
        """Billed state transitions of an execution, and the states it entered, in order.

        Step Functions Standard bills every state entered and every retry attempt: a Task
        counts its attempts (TaskScheduled events), and once if it failed before its first
        (in its Arguments).
        """
        count = attempts = 0
        entered = []
        for event in self.events(arn):
            kind = event["type"]
            if kind.endswith("StateEntered"):
                entered.append(event["stateEnteredEventDetails"]["name"])
                count += 1
                attempts = 0
            elif kind == "TaskScheduled":
                attempts += 1
                count += attempts > 1
        return count, entered

    def alert_queue(self) -> tuple[str, str]:
        """A new SQS queue subscribed to the alert topic (raw delivery): its URL, the
        subscription ARN."""
        self.queues += 1
        queue = self.sqs.create_queue(QueueName=f"alerts-{self.queues}")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        subscription = self.sns.subscribe(
            TopicArn=f"arn:aws:sns:{REGION}:{ACCOUNT}:e2e-alerts",
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "true"},
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
        return queue, subscription

    def reset(self) -> None:
        """Back to the state right after the deploy (`deployed`): the history table's items,
        no executions, no queued alerts, a fresh ECS double."""
        assert self.deployed is not None
        self.deployed.restore()
        self.executions.clear()
        # A fresh alert queue: SQS allows one purge a minute, and alerts already read are
        # only invisible for a while.
        self.sns.unsubscribe(SubscriptionArn=self.subscription)
        self.sqs.delete_queue(QueueUrl=self.queue)
        self.queue, self.subscription = self.alert_queue()
        ecs_double.reset()

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


@pytest.fixture(scope="module")
def deployed() -> Iterator[Platform]:
    """One deployment of the e2e registry per test module (deploying costs seconds of CPU);
    `platform` gives each test the state right after it."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        offline_aws(monkeypatch, REGION)
        install()
        set_time_speed(TIME_SPEED)
        ecs_double.reset()
        with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
            lab = Platform()
            lab.deployed = DeployedState()
            yield lab
        set_time_speed(1.0)


@pytest.fixture
def platform(deployed: Platform) -> Iterator[Platform]:
    """The module's deployment as the deploy left it: the history table's items as written by
    apply, no executions, no alerts, no ECS requests."""
    deployed.reset()
    try:
        yield deployed
    finally:
        deployed.stop_all()
        ecs_double.reset()
        leftover = interpreter_threads(wait=5.0)
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
