"""The Lambda handlers, invoked through chalice.test.Client on moto."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws

import app as lambda_app
from chalicelib.aws.clients import AwsContext, ClientFactory
from chalicelib.history.store import RunStore
from jobctl.deploy.desired import shared_resources
from jobctl.deploy.gateways.table import TableGateway
from jobctl.deploy.resources import ResourceKind
from tests.support.aws import offline_aws
from tests.support.events import execution_status_change
from tests.support.history import deploy_meta, run_item

REGION = "us-east-1"
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:lab-report"


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    offline_aws(monkeypatch, REGION)
    monkeypatch.setenv("JOBCTL_HISTORY_TABLE", "lab-history")
    monkeypatch.setenv("JOBCTL_PREFIX", "lab")
    with mock_aws():
        context = AwsContext("123456789012", REGION, "aws")
        table = next(
            r
            for r in shared_resources("lab", None, context.placeholders())
            if r.kind is ResourceKind.TABLE
        )
        TableGateway(ClientFactory(), context, "lab").create(table)
        deploy_meta(boto3.client("dynamodb", region_name=REGION), table.name, "report", MACHINE)
        with Client(lambda_app.app) as test_client:
            yield test_client


def status_event(client: Client, status: str) -> dict[str, Any]:
    return execution_status_change(client, MACHINE, "r1", status, REGION)


def test_status_change_events_are_recorded(client: Client) -> None:
    assert client.lambda_.invoke(
        "record_execution_status", status_event(client, "RUNNING")
    ).payload == {"result": "created"}
    assert client.lambda_.invoke(
        "record_execution_status", status_event(client, "ABORTED")
    ).payload == {"result": "finished"}
    run = RunStore(boto3.client("dynamodb", region_name=REGION), "lab-history").get("report", "r1")
    assert run is not None and run["status"] == "ABORTED"


def test_a_malformed_event_is_dropped_not_retried(client: Client) -> None:
    event = client.events.generate_cw_event(
        source="aws.states", detail_type="Something Else", detail={}, resources=[]
    )
    assert client.lambda_.invoke("record_execution_status", event).payload == {"result": "rejected"}


def test_reconciler_runs_on_schedule(client: Client) -> None:
    event = client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    assert client.lambda_.invoke("reconcile_history", event).payload == {
        "repaired": 0,
        "gone": 0,
        "unchecked": 0,
    }


def test_a_malformed_status_change_is_rejected_not_raised(client: Client) -> None:
    event = status_event(client, "RUNNING") | {"detail": "RUNNING"}
    assert client.lambda_.invoke("record_execution_status", event).payload == {"result": "rejected"}


def test_the_reconciler_records_a_run_whose_execution_is_gone(client: Client) -> None:
    # A RUNNING record of a job pruned since: DescribeExecution says ExecutionDoesNotExist.
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.put_item(
        TableName="lab-history",
        Item=run_item("report", "r9", "RUNNING", "2026-11-18T11:06:40.000Z"),
    )
    event = client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    assert client.lambda_.invoke("reconcile_history", event).payload == {
        "repaired": 0,
        "gone": 1,
        "unchecked": 0,
    }
    run = RunStore(dynamodb, "lab-history").get("report", "r9")
    assert run is not None and (run["status"], run["error"]) == ("ABORTED", "ExecutionDoesNotExist")
