"""Run history on moto: the recorder (duplicate, out-of-order, missing events), lock release,
queries by job and status, and the reconciler for events that never arrive."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.aws.clients import AwsContext, ClientFactory
from chalicelib.history.recorder import ExecutionChange, Reconciler, Recorder
from chalicelib.history.store import RunStore
from jobctl.deploy.desired import shared_resources
from jobctl.deploy.gateways.table import TableGateway
from jobctl.deploy.resources import ResourceKind
from tests.support.aws import offline_aws

REGION = "us-east-1"
ACCOUNT = "123456789012"
MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:lab-report"


def event(
    name: str, status: str, *, start: int = 1_795_000_000_000, stop: int | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "detail": {
            "executionArn": f"arn:aws:states:{REGION}:{ACCOUNT}:execution:lab-report:{name}",
            "stateMachineArn": extra.pop("machine", MACHINE),
            "name": name,
            "status": status,
            "startDate": start,
            "stopDate": stop,
            "input": json.dumps(
                {"trigger": "manual", "triggered_by": "arn:aws:iam::123456789012:user/ops"}
            ),
            **extra,
        },
    }


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[RunStore]:
    offline_aws(monkeypatch, REGION)
    with mock_aws():
        context = AwsContext(ACCOUNT, REGION, "aws")
        table = next(
            r
            for r in shared_resources("lab", None, context.placeholders())
            if r.kind is ResourceKind.TABLE
        )
        TableGateway(ClientFactory(), context, "lab").create(table)
        yield RunStore(boto3.client("dynamodb", region_name=REGION), table.name)


def record(store: RunStore, *events: dict[str, Any]) -> list[str]:
    recorder = Recorder(store, "lab")
    return [recorder.record(ExecutionChange.from_event(e)) for e in events]


def test_running_then_terminal_event(store: RunStore) -> None:
    assert record(
        store, event("r1", "RUNNING"), event("r1", "SUCCEEDED", stop=1_795_000_060_000)
    ) == ["created", "finished"]
    run = store.get("report", "r1")
    assert run is not None
    assert (run["status"], run["trigger"], run["triggered_by"]) == (
        "SUCCEEDED",
        "manual",
        "arn:aws:iam::123456789012:user/ops",
    )
    assert (run["started_at"], run["ended_at"]) == (
        "2026-11-18T11:06:40.000Z",
        "2026-11-18T11:07:40.000Z",
    )


def test_duplicate_events_are_idempotent(store: RunStore) -> None:
    outcomes = record(
        store,
        event("r1", "RUNNING"),
        event("r1", "RUNNING"),
        event("r1", "FAILED", stop=1),
        event("r1", "FAILED", stop=1),
    )
    assert outcomes == ["created", "unchanged", "finished", "unchanged"]
    run = store.get("report", "r1")
    assert run is not None and run["status"] == "FAILED"


def test_a_late_running_event_never_overwrites_a_terminal_status(store: RunStore) -> None:
    assert record(store, event("r1", "TIMED_OUT", stop=2), event("r1", "RUNNING")) == [
        "finished",
        "unchanged",
    ]
    run = store.get("report", "r1")
    assert run is not None and run["status"] == "TIMED_OUT"


def test_terminal_event_without_running_event_creates_a_complete_record(store: RunStore) -> None:
    assert record(store, event("r1", "ABORTED", stop=5, cause="stopped by operator")) == [
        "finished"
    ]
    run = store.get("report", "r1")
    assert run is not None
    assert (run["status"], run["cause"], run["job"]) == ("ABORTED", "stopped by operator", "report")
    assert store.by_status("ABORTED").items[0]["run_id"] == "r1", "indexed like any other run"


def test_a_record_the_state_machine_finished_is_not_rewritten(store: RunStore) -> None:
    record(store, event("r1", "RUNNING"))
    store.finish("report", "r1", "SKIPPED", {"skip_reason": "duplicate"})
    assert record(store, event("r1", "SUCCEEDED", stop=1)) == ["unchanged"]
    run = store.get("report", "r1")
    assert run is not None and (run["status"], run["skip_reason"]) == ("SKIPPED", "duplicate")


def test_abort_releases_the_lock_only_if_this_execution_holds_it(store: RunStore) -> None:
    holder = event("r1", "RUNNING")["detail"]["executionArn"]
    store.dynamodb.put_item(
        TableName=store.table,
        Item={
            **store.meta_key("report"),
            "lock_holder": {"S": holder},
            "lock_until": {"N": "9999999999999"},
        },
    )
    record(store, event("other", "ABORTED", stop=1))
    assert store.meta("report")["lock_holder"] == holder
    record(store, event("r1", "ABORTED", stop=1))
    meta = store.meta("report")
    assert "lock_holder" not in meta and meta["last_status"] == "ABORTED"


def test_events_of_other_machines_and_malformed_events(store: RunStore) -> None:
    other = event(
        "x", "RUNNING", machine=f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:someone-else"
    )
    assert record(store, other) == ["ignored"]
    with pytest.raises(ValueError, match="not an execution status change"):
        ExecutionChange.from_event({"detail-type": "Scheduled Event", "detail": {}})
    with pytest.raises(ValueError, match="without executionArn, name"):
        ExecutionChange.from_event(
            {
                "detail-type": "Step Functions Execution Status Change",
                "detail": {"status": "RUNNING", "stateMachineArn": MACHINE},
            }
        )


def test_queries_are_newest_first_and_paginated(store: RunStore) -> None:
    for minute in range(5):
        record(store, event(f"r{minute}", "RUNNING", start=1_795_000_000_000 + minute * 60_000))
    record(store, event("r1", "SUCCEEDED", stop=1_795_000_100_000))
    first = store.by_job("report", limit=2)
    assert [i["run_id"] for i in first.items] == ["r4", "r3"] and first.next_token
    second = store.by_job("report", limit=2, next_token=first.next_token)
    assert [i["run_id"] for i in second.items] == ["r2", "r1"]
    assert [i["run_id"] for i in store.by_status("RUNNING", limit=10).items] == [
        "r4",
        "r3",
        "r2",
        "r0",
    ]
    assert [i["run_id"] for i in store.by_job("report", since="2026-11-18T11:09").items] == [
        "r4",
        "r3",
    ]


def test_reconciler_repairs_a_record_whose_terminal_event_never_came(store: RunStore) -> None:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    machine = sfn.create_state_machine(
        name="lab-report",
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/x",
    )["stateMachineArn"]
    ended = sfn.start_execution(stateMachineArn=machine, name="lost", input="{}")["executionArn"]
    alive = sfn.start_execution(stateMachineArn=machine, name="alive", input="{}")["executionArn"]
    sfn.stop_execution(executionArn=ended, cause="operator")  # its ABORTED event is never delivered
    recorder = Recorder(store, "lab")
    for arn in (ended, alive):
        recorder.record(
            ExecutionChange.from_description(
                sfn.describe_execution(executionArn=arn) | {"status": "RUNNING"}
            )
        )
    repaired = Reconciler(store, sfn, recorder).run(page_size=1)
    assert repaired == [("report", "lost")]
    lost, still = store.get("report", "lost"), store.get("report", "alive")
    assert lost is not None and still is not None
    assert (lost["status"], still["status"]) == ("ABORTED", "RUNNING")
    assert Reconciler(store, sfn, recorder).run() == [], "nothing left to repair"
