"""Run history on moto: the recorder (duplicate, out-of-order, missing, malformed and foreign
events), lock release, queries by job and status, and the reconciler for events that never
arrive and executions that no longer exist."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from chalicelib.aws.clients import AwsContext, ClientFactory
from chalicelib.history.recorder import ExecutionChange, Reconciler, Recorder
from chalicelib.history.service import HistoryService, ReconcileIncomplete
from chalicelib.history.store import RunStore
from jobctl.deploy.desired import shared_resources
from jobctl.deploy.gateways.table import TableGateway
from jobctl.deploy.resources import ResourceKind
from tests.support.aws import offline_aws
from tests.support.history import deploy_meta

REGION = "us-east-1"
ACCOUNT = "123456789012"
MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:lab-report"
HOME = AwsContext(ACCOUNT, REGION, "aws")


def event(
    name: str, status: str, *, start: int = 1_795_000_000_000, stop: int | None = None, **extra: Any
) -> dict[str, Any]:
    machine = extra.pop("machine", MACHINE)
    return {
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": extra.pop("account", ACCOUNT),
        "region": extra.pop("region", REGION),
        "detail": {
            "executionArn": extra.pop(
                "execution", machine.replace(":stateMachine:", ":execution:") + f":{name}"
            ),
            "stateMachineArn": machine,
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
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        deploy_meta(dynamodb, table.name, "report", MACHINE)
        yield RunStore(dynamodb, table.name)


def record(store: RunStore, *events: dict[str, Any]) -> list[str]:
    recorder = Recorder(store, "lab", lambda: HOME)
    return [recorder.record(ExecutionChange.from_event(e)) for e in events]


def hold_lock(store: RunStore, job: str, holder: str) -> None:
    """The lock as a `forbid` job's Acquire state takes it (on the deployed META item)."""
    store.dynamodb.update_item(
        TableName=store.table,
        Key=store.meta_key(job),
        UpdateExpression="SET lock_holder = :holder, lock_until = :until",
        ExpressionAttributeValues={":holder": {"S": holder}, ":until": {"N": "9999999999999"}},
    )


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
    hold_lock(store, "report", holder)
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
    recorder = Recorder(store, "lab", lambda: HOME)
    for arn in (ended, alive):
        recorder.record(
            ExecutionChange.from_description(
                sfn.describe_execution(executionArn=arn) | {"status": "RUNNING"}
            )
        )
    repaired = Reconciler(store, sfn, recorder).run(page_size=1).repaired
    assert repaired == [("report", "lost")]
    lost, still = store.get("report", "lost"), store.get("report", "alive")
    assert lost is not None and still is not None
    assert (lost["status"], still["status"]) == ("ABORTED", "RUNNING")
    assert Reconciler(store, sfn, recorder).run().summary() == {
        "repaired": 0,
        "gone": 0,
        "unchecked": 0,
    }, "nothing left to repair"


def service(store: RunStore, stepfunctions: Any = None) -> HistoryService:
    return HistoryService(store, lambda: stepfunctions, "lab", lambda: HOME)


def machine(sfn: Any, name: str, wait: bool = False) -> str:
    state = {"Type": "Wait", "Seconds": 100000} if wait else {"Type": "Pass"}
    definition = {"StartAt": "S", "States": {"S": {**state, "End": True}}}
    return str(
        sfn.create_state_machine(
            name=name, definition=json.dumps(definition), roleArn=f"arn:aws:iam::{ACCOUNT}:role/x"
        )["stateMachineArn"]
    )


def record_running(sfn: Any, recorder: Recorder, *arns: str) -> None:
    for arn in arns:
        described = sfn.describe_execution(executionArn=arn) | {"status": "RUNNING"}
        assert recorder.record(ExecutionChange.from_description(described)) == "created"


# ---------------------------------------------------------------- reconciler (issue 12.13)


def test_reconciler_records_a_gone_execution_aborted_frees_its_lock_and_repairs_the_rest(
    store: RunStore,
) -> None:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    report, old = machine(sfn, "lab-report"), machine(sfn, "lab-old", wait=True)
    deploy_meta(store.dynamodb, store.table, "old", old)
    lost = sfn.start_execution(stateMachineArn=report, name="lost", input="{}")["executionArn"]
    sfn.stop_execution(executionArn=lost, cause="operator")  # its ABORTED event is lost
    time.sleep(0.01)  # the orphan is the newest RUNNING record: the reconciler reads it first
    orphan = sfn.start_execution(stateMachineArn=old, name="orphan", input="{}")["executionArn"]
    recorder = Recorder(store, "lab", lambda: HOME)
    record_running(sfn, recorder, lost, orphan)
    hold_lock(store, "old", orphan)
    # `jobctl apply --prune` of job `old`: its machine and META config go, the record stays.
    sfn.delete_state_machine(stateMachineArn=old)
    store.dynamodb.update_item(
        TableName=store.table, Key=store.meta_key("old"), UpdateExpression="REMOVE config"
    )

    now = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)
    outcome = Reconciler(store, sfn, recorder, now=lambda: now).run(page_size=1)

    assert (outcome.gone, outcome.repaired, outcome.unchecked) == (
        [("old", "orphan")],
        [("report", "lost")],
        [],
    )
    gone = store.get("old", "orphan")
    assert gone is not None
    assert (gone["status"], gone["error"], gone["ended_at"]) == (
        "ABORTED",
        "ExecutionDoesNotExist",
        "2026-12-01T20:00:00.000Z",
    )
    assert "the execution no longer exists" in gone["cause"]
    meta = store.meta("old")
    assert "lock_holder" not in meta and meta["last_status"] == "ABORTED", "the lock is free"
    lost_run = store.get("report", "lost")
    assert lost_run is not None and lost_run["status"] == "ABORTED"
    assert Reconciler(store, sfn, recorder).run().summary() == {
        "repaired": 0,
        "gone": 0,
        "unchecked": 0,
    }


class DeniedFor:
    """A Step Functions client whose DescribeExecution is denied for some executions."""

    def __init__(self, client: Any, *denied: str) -> None:
        self.client, self.denied = client, set(denied)

    def describe_execution(self, executionArn: str) -> Any:
        if executionArn in self.denied:
            raise ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}},
                "DescribeExecution",
            )
        return self.client.describe_execution(executionArn=executionArn)


def test_a_record_that_cannot_be_checked_fails_the_pass_only_after_every_other_record(
    store: RunStore, caplog: pytest.LogCaptureFixture
) -> None:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    report = machine(sfn, "lab-report")
    lost = sfn.start_execution(stateMachineArn=report, name="lost", input="{}")["executionArn"]
    time.sleep(0.01)  # the denied one is read first
    denied = sfn.start_execution(stateMachineArn=report, name="denied", input="{}")["executionArn"]
    history = service(store, DeniedFor(sfn, denied))
    record_running(sfn, history.recorder, lost, denied)
    for arn in (lost, denied):
        sfn.stop_execution(executionArn=arn, cause="operator")

    with pytest.raises(ReconcileIncomplete, match="report/denied: AccessDeniedException"):
        history.reconcile()

    lost_run, denied_run = store.get("report", "lost"), store.get("report", "denied")
    assert lost_run is not None and lost_run["status"] == "ABORTED", "repaired all the same"
    assert denied_run is not None and denied_run["status"] == "RUNNING"
    assert "run report/denied could not be checked: AccessDeniedException" in caplog.text


def test_a_pruned_job_whose_execution_aws_will_not_describe_is_recorded_gone(
    store: RunStore,
) -> None:
    # The reconciler's policy covers the deployed jobs' executions only: after a prune,
    # AWS answers AccessDenied rather than ExecutionDoesNotExist.
    sfn = boto3.client("stepfunctions", region_name=REGION)
    old = machine(sfn, "lab-old", wait=True)
    deploy_meta(store.dynamodb, store.table, "old", old)
    orphan = sfn.start_execution(stateMachineArn=old, name="orphan", input="{}")["executionArn"]
    history = service(store, DeniedFor(sfn, orphan))
    record_running(sfn, history.recorder, orphan)
    with pytest.raises(ReconcileIncomplete, match="old/orphan"):
        history.reconcile()  # still deployed: denied is a problem to show, not a verdict
    store.dynamodb.update_item(
        TableName=store.table, Key=store.meta_key("old"), UpdateExpression="REMOVE config"
    )
    assert history.reconcile().summary() == {"repaired": 0, "gone": 1, "unchecked": 0}
    run = store.get("old", "orphan")
    assert run is not None and (run["status"], run["error"]) == ("ABORTED", "JobNotDeployed")
    assert "no longer deployed" in run["cause"]


# ---------------------------------------------------------------- whose events (issue 12.14)

OTHER_REGION = "eu-west-1"
OTHER_ACCOUNT = "210987654321"


@pytest.mark.parametrize(
    "prefix, changes",
    [
        pytest.param("lab", {"machine": MACHINE.replace("lab-report", "lab-evil")}, id="hand-made"),
        pytest.param(
            "lab-prod",
            {"machine": MACHINE.replace("lab-report", "lab-prod-eu-report")},
            id="an-environment-extending-the-prefix",
        ),
        pytest.param(
            "lab",
            {"machine": MACHINE.replace(REGION, OTHER_REGION)},
            id="machine-in-another-region",
        ),
        pytest.param(
            "lab",
            {"machine": MACHINE.replace(ACCOUNT, OTHER_ACCOUNT)},
            id="machine-in-another-account",
        ),
        pytest.param("lab", {"account": OTHER_ACCOUNT}, id="event-from-another-account"),
        pytest.param("lab", {"region": OTHER_REGION}, id="event-from-another-region"),
        pytest.param(
            "lab",
            {"execution": f"arn:aws:states:{REGION}:{ACCOUNT}:execution:lab-other:r1"},
            id="execution-of-another-machine",
        ),
    ],
)
def test_only_the_machines_jobctl_deployed_here_write_history(
    store: RunStore, prefix: str, changes: dict[str, Any]
) -> None:
    recorder = Recorder(store, prefix, lambda: HOME)
    for status in ("RUNNING", "ABORTED"):
        foreign = event("r1", status, stop=None if status == "RUNNING" else 1, **changes)
        assert recorder.record(ExecutionChange.from_event(foreign)) == "ignored"
    hold_lock(store, "report", event("r1", "RUNNING", **changes)["detail"]["executionArn"])
    assert store.by_status("RUNNING").items == [] and store.by_status("ABORTED").items == []
    assert "lock_holder" in store.meta("report"), "a foreign abort frees no lock"


def test_the_deployed_arn_is_read_once_per_ttl_and_a_new_job_is_trusted_at_once(
    store: RunStore,
) -> None:
    clock = [0.0]
    recorder = Recorder(store, "lab", lambda: HOME, ttl=60, clock=lambda: clock[0])
    newer = MACHINE.replace("lab-report", "lab-newer")
    assert recorder.record(ExecutionChange.from_event(event("n1", "RUNNING", machine=newer))) == (
        "ignored"
    )
    deploy_meta(store.dynamodb, store.table, "newer", newer)  # `jobctl apply` adds the job
    assert recorder.record(ExecutionChange.from_event(event("n2", "RUNNING", machine=newer))) == (
        "created"
    )
    store.dynamodb.update_item(  # pruned: trusted until the cached entry expires
        TableName=store.table, Key=store.meta_key("newer"), UpdateExpression="REMOVE config"
    )
    assert recorder.record(ExecutionChange.from_event(event("n3", "RUNNING", machine=newer))) == (
        "created"
    )
    clock[0] = 61.0
    assert recorder.record(ExecutionChange.from_event(event("n4", "RUNNING", machine=newer))) == (
        "ignored"
    )


# ---------------------------------------------------------------- malformed events (12.15)


def with_detail(base: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {**base, "detail": {**base["detail"], **fields}}


RUNNING_EVENT = event("r1", "RUNNING")
FAILED_EVENT = event("r1", "FAILED", stop=1)
MALFORMED: dict[str, Any] = {
    "detail-a-string": {**RUNNING_EVENT, "detail": "RUNNING"},
    "detail-a-list": {**RUNNING_EVENT, "detail": [1, 2]},
    "huge-start-date": with_detail(RUNNING_EVENT, startDate=10**20),
    "start-date-too-long-to-print": with_detail(RUNNING_EVENT, startDate=10**5000),
    "detail-type-too-long-to-print": {**RUNNING_EVENT, "detail-type": 10**5000},
    "start-date-a-string": with_detail(RUNNING_EVENT, startDate="yesterday"),
    "start-date-not-a-number": with_detail(RUNNING_EVENT, startDate=float("nan")),
    "start-date-a-bool": with_detail(RUNNING_EVENT, startDate=True),
    "name-a-number": with_detail(RUNNING_EVENT, name=7),
    "status-a-list": with_detail(RUNNING_EVENT, status=["RUNNING"]),
    "input-a-number": with_detail(RUNNING_EVENT, input=5),
    "cause-a-dict": with_detail(FAILED_EVENT, cause={"x": 1}),
    "name-longer-than-aws-allows": event("x" * 81, "RUNNING"),
    "lone-surrogate-in-cause": with_detail(FAILED_EVENT, cause="\ud800"),
    "no-account": {k: v for k, v in RUNNING_EVENT.items() if k != "account"},
    "account-a-number": {**RUNNING_EVENT, "account": 123456789012},
    "not-from-step-functions": {**RUNNING_EVENT, "source": "my.app"},
    "event-a-list": [RUNNING_EVENT],
    "event-null": None,
}


@pytest.mark.parametrize("malformed", list(MALFORMED.values()), ids=list(MALFORMED))
def test_a_malformed_event_is_rejected_with_a_log_line_never_raised(
    store: RunStore, malformed: Any, caplog: pytest.LogCaptureFixture
) -> None:
    assert service(store).record_event(malformed) == "rejected"
    assert "dropped an event that is not a usable status change" in caplog.text
    assert store.by_status("RUNNING").items == []


def test_unusable_input_fields_record_the_run_with_the_defaults(store: RunStore) -> None:
    deep = with_detail(RUNNING_EVENT, input="[" * 100_000)
    odd = with_detail(
        event("r2", "RUNNING"), input=json.dumps({"trigger": 5, "parameters": {"A": ["x"]}})
    )
    assert [service(store).record_event(e) for e in (deep, odd)] == ["created", "created"]
    run = store.get("report", "r2")
    assert run is not None and (run["trigger"], run["parameters"]) == ("schedule", "{}")


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["\ud800", "x" * 300, "RUNNING", "ABORTED", MACHINE, 10**400])
    # Made by a function: hypothesis itself cannot print an int of over 4300 digits.
    | st.just(5000).map(lambda digits: 10**digits),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
_DROP = object()
_DETAIL_KEYS = ["executionArn", "stateMachineArn", "name", "status", "startDate", "stopDate"]
_DETAIL_KEYS += ["input", "error", "cause"]
_ENVELOPE_KEYS = ["detail-type", "source", "account", "region"]


@st.composite
def _events(draw: st.DrawFn) -> Any:
    """Status changes of the deployed machine with up to three fields dropped or given a
    value of any JSON shape; sometimes a detail, or a whole event, of any shape."""
    base = event(draw(st.sampled_from(["r1", "r2"])), draw(st.sampled_from(["RUNNING", "FAILED"])))
    if draw(st.integers(0, 9)) == 0:
        return draw(_JSON)
    detail = dict(base["detail"])
    for key in draw(st.sets(st.sampled_from(_DETAIL_KEYS + _ENVELOPE_KEYS), max_size=3)):
        target = base if key in _ENVELOPE_KEYS else detail
        value = draw(st.one_of(st.just(_DROP), _JSON))
        if value is _DROP:
            target.pop(key, None)
        else:
            target[key] = value
    base["detail"] = detail if draw(st.integers(0, 9)) else draw(_JSON)
    return base


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(_events())
def test_record_event_never_raises(store: RunStore, malformed: Any) -> None:
    assert service(store).record_event(malformed) in {
        "created",
        "finished",
        "unchanged",
        "ignored",
        "rejected",
    }
