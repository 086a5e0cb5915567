"""Compiled state machines executed by moto's interpreter: the admission paths.

These runs never reach ECS (every case is decided before RunTask), so they hold without
moto's ECS fixes. The run protocol end to end (tasks, retries, alerts) is proven elsewhere.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.core.arns import fill_placeholders
from jobctl.compile.compiler import compile_job
from jobctl.local.moto import install, set_time_speed
from jobctl.registry.loader import parse_registry
from tests.support.registries import BASE

REGION = "us-east-1"
TABLE = "lab-history"
REGISTRY = (
    BASE.replace("project: demo", "project: lab")
    + """\
jobs:
  report: {schedule: cron(0 3 * * ? *), starting_deadline: 10m}
"""
)


class Lab:
    def __init__(self) -> None:
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        self.ddb = boto3.client("dynamodb", region_name=REGION)
        self.ddb.create_table(
            TableName=TABLE,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk")],
            BillingMode="PAY_PER_REQUEST",
        )
        boto3.client("sns", region_name=REGION).create_topic(Name="lab-alerts")
        job = parse_registry(REGISTRY).job(None, "report")
        assert job is not None
        compiled = compile_job(job)
        definition = fill_placeholders(
            compiled.definition, {"Partition": "aws", "Region": REGION, "AccountId": "123456789012"}
        )
        self.arn = self.sfn.create_state_machine(
            name=compiled.names.state_machine,
            definition=json.dumps(definition),
            roleArn="arn:aws:iam::123456789012:role/lab",
        )["stateMachineArn"]

    def run(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        arn = self.sfn.start_execution(
            stateMachineArn=self.arn, name=name, input=json.dumps(payload)
        )["executionArn"]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            described = self.sfn.describe_execution(executionArn=arn)
            if described["status"] != "RUNNING":
                return described
            time.sleep(0.05)
        self.sfn.stop_execution(executionArn=arn)
        raise AssertionError(f"{name} did not finish")

    def item(self, sort_key: str) -> dict[str, str]:
        found = self.ddb.get_item(
            TableName=TABLE, Key={"pk": {"S": "JOB#report"}, "sk": {"S": sort_key}}
        )
        return {key: next(iter(value.values())) for key, value in found.get("Item", {}).items()}

    def put_meta(self, **attributes: Any) -> None:
        item = {"pk": {"S": "JOB#report"}, "sk": {"S": "META"}}
        for key, value in attributes.items():
            item[key] = (
                {"BOOL": value}
                if isinstance(value, bool)
                else {"S": value}
                if isinstance(value, str)
                else {"N": str(value)}
            )
        self.ddb.put_item(TableName=TABLE, Item=item)


@pytest.fixture
def lab() -> Iterator[Lab]:
    install()
    set_time_speed(0.001)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield Lab()


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def test_same_scheduled_minute_delivered_twice_runs_once(lab: Lab) -> None:
    scheduled = now_iso()
    lab.run("first", {"trigger": "schedule", "scheduled_time": scheduled, "event_id": "e-1"})
    second = lab.run(
        "second", {"trigger": "schedule", "scheduled_time": scheduled, "event_id": "e-1"}
    )
    assert second["status"] == "SUCCEEDED"
    record = lab.item("RUN#second")
    assert (record["status"], record["skip_reason"]) == ("SKIPPED", "duplicate")
    assert lab.item(f"DEDUPE#{scheduled[:16]}")["run_id"] == "first"


def test_paused_job_records_a_skip(lab: Lab) -> None:
    lab.put_meta(paused=True)
    lab.run("while-paused", {"trigger": "schedule", "scheduled_time": now_iso()})
    record = lab.item("RUN#while-paused")
    assert (record["status"], record["skip_reason"]) == ("SKIPPED", "paused")


def test_run_later_than_starting_deadline_is_skipped_as_late(lab: Lab) -> None:
    lab.run("late", {"trigger": "schedule", "scheduled_time": "2020-01-01T03:00:00Z"})
    record = lab.item("RUN#late")
    assert (record["status"], record["skip_reason"]) == ("SKIPPED", "late")
    assert lab.item("DEDUPE#2020-01-01T03:00") == {}, "a late run claims nothing"


def test_forbid_skips_while_a_live_lease_is_held(lab: Lab) -> None:
    far_future_ms = int((time.time() + 3600) * 1000)
    lab.put_meta(
        lock_holder="arn:aws:states:us-east-1:123456789012:execution:lab-report:other",
        lock_until=far_future_ms,
    )
    lab.run("blocked", {"trigger": "schedule", "scheduled_time": now_iso()})
    record = lab.item("RUN#blocked")
    assert (record["status"], record["skip_reason"]) == ("SKIPPED", "concurrent")
    assert lab.item("META")["lock_holder"].endswith(":other"), "the holder keeps its lock"


def test_expired_lease_is_taken_over(lab: Lab) -> None:
    lab.put_meta(
        lock_holder="arn:aws:states:us-east-1:123456789012:execution:lab-report:crashed",
        lock_until=1,
    )
    lab.run("next", {"trigger": "schedule", "scheduled_time": now_iso()})
    record = lab.item("RUN#next")
    assert record["status"] != "SKIPPED", "a crashed holder's expired lease does not block"
    assert record["trigger"] == "schedule" and record["started_at"].endswith("Z")
    meta = lab.item("META")
    assert meta["last_run"] == "next", "the new run took the lock and released it when done"
    assert "lock_holder" not in meta


def test_task_that_cannot_start_is_recorded_failed_and_alerts_once(lab: Lab) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    sns = boto3.client("sns", region_name=REGION)
    queue = sqs.create_queue(QueueName="alerts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    topic = sns.create_topic(Name="lab-alerts")["TopicArn"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true"},
    )

    ended = lab.run(
        "doomed", {"trigger": "manual", "triggered_by": "arn:aws:iam::123456789012:user/ops"}
    )

    assert ended["status"] == "FAILED" and ended["error"] == "Job.Failed"
    record = lab.item("RUN#doomed")
    assert (record["status"], record["trigger"]) == ("FAILED", "manual")
    assert record["triggered_by"] == "arn:aws:iam::123456789012:user/ops"
    assert record["error"] and record["ended_at"] >= record["started_at"]
    meta = lab.item("META")
    assert (meta["last_status"], meta["last_run"]) == ("FAILED", "doomed")
    assert "lock_holder" not in meta, "a failed run releases the lock"
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
        "Messages", []
    )
    assert len(messages) == 1
    alert = json.loads(messages[0]["Body"])
    assert (alert["version"], alert["source"]) == (
        "1.0",
        "custom",
    )  # AWS Chatbot custom notification
    assert alert["content"]["title"] == "lab report: FAILED"
    context = alert["metadata"]["additionalContext"]
    assert (context["job"], context["run_id"], context["status"]) == ("report", "doomed", "FAILED")
    assert context["rerun_command"] == "jobctl rerun doomed"
