"""The run protocol, proven by executing the deployed state machines on moto."""

from __future__ import annotations

import datetime
import time

import pytest

from jobctl.local.moto import TaskExit, ecs_double
from jobctl.local.moto.ecs_double import API_ERRORS

from .conftest import Platform

# Billed state transitions per run kind (Step Functions Standard bills each state entered and
# each retry): the protocol's cost, counted from execution histories, never timed.
SUCCESS = 3  # Claim > RunTask > Finish, with or without a starting deadline
FAILURE_WITH_ALERT = 5  # Claim > RunTask > FinishFailed > Alert > Failed, + retries
SKIPPED_BY_CLAIM = 4  # Claim > Diagnose > Blocked? > RecordSkip
LATE = 2  # Claim (refused) > RecordSkip
INVALID_INPUT = 4  # Claim (refused) > RecordInvalid > Alert > Failed; + RecordSkip with a deadline
RECOVERY = 7  # the success path, refused at Finish: RecordSuccess > Release > ... > Notify


def transitions(platform: Platform, arn: str) -> int:
    return platform.transitions(arn)[0]


def test_success(platform: Platform) -> None:
    ecs_double.script("ok", 0)
    ended = platform.run("ok", "ok-1")
    assert ended["status"] == "SUCCEEDED"
    record = platform.record("ok", "ok-1")
    assert (record["status"], record["exit_code"], record["attempts"]) == ("SUCCEEDED", 0, 1)
    assert record["task_arn"].startswith("arn:aws:ecs:")
    assert ecs_double.started[0].command() == ["bin/ok"]
    assert platform.alerts() == []
    assert transitions(platform, ended["executionArn"]) == SUCCESS


def test_success_with_a_starting_deadline_costs_the_same(platform: Platform) -> None:
    ecs_double.script("deadline", 0)
    payload = {
        "trigger": "schedule",
        "scheduled_time": time.strftime("%Y-%m-%dT%H:%M:00Z", time.gmtime()),
    }
    ended = platform.run("deadline", "on-time", payload)
    assert ended["status"] == "SUCCEEDED"
    assert platform.record("deadline", "on-time")["status"] == "SUCCEEDED"
    assert transitions(platform, ended["executionArn"]) == SUCCESS


def test_exit_1_then_success_on_retry(platform: Platform) -> None:
    ecs_double.script("flaky", 1, 0)
    ended = platform.run("flaky", "flaky-1")
    assert ended["status"] == "SUCCEEDED"
    assert transitions(platform, ended["executionArn"]) == SUCCESS + 1
    record = platform.record("flaky", "flaky-1")
    assert (record["status"], record["attempts"]) == ("SUCCEEDED", 2)
    assert len(ecs_double.started) == 2
    assert platform.alerts() == []


def test_failing_every_time_alerts_once_with_exit_code(platform: Platform) -> None:
    ecs_double.script(
        "broken", 1, 1, TaskExit(3, "OutOfMemoryError: Container killed due to memory usage")
    )
    ended = platform.run("broken", "broken-1")
    assert (ended["status"], ended["error"]) == ("FAILED", "Job.Failed")
    record = platform.record("broken", "broken-1")
    assert (record["status"], record["attempts"], record["exit_code"]) == ("FAILED", 3, 3)
    assert record["stopped_reason"] == "OutOfMemoryError: Container killed due to memory usage"
    assert record["error"] == "States.TaskFailed"
    (alert,) = platform.alerts()
    context = alert["metadata"]["additionalContext"]
    assert (context["event"], context["status"], context["exit_code"]) == ("failure", "FAILED", "3")
    assert context["attempts"] == "3" and context["run_id"] == "broken-1"
    assert "exit code 3" in alert["content"]["description"]
    assert platform.meta("broken")["last_status"] == "FAILED"
    assert transitions(platform, ended["executionArn"]) == FAILURE_WITH_ALERT + 2


def test_recovery_after_failure_sends_one_recovery_message(platform: Platform) -> None:
    ecs_double.script("broken", 1, 1, 1, 0)
    platform.run("broken", "broken-1")
    recovered = platform.run("broken", "broken-2")
    assert transitions(platform, recovered["executionArn"]) == RECOVERY
    kinds = [alert["metadata"]["additionalContext"]["event"] for alert in platform.alerts()]
    assert sorted(kinds) == ["failure", "recovery"]
    ecs_double.script("broken", 0)
    again = platform.run("broken", "broken-3")
    assert platform.alerts() == [], "a success after a success is not news"
    assert transitions(platform, again["executionArn"]) == SUCCESS


def test_capacity_failures_use_the_capacity_policy_not_the_job_retries(platform: Platform) -> None:
    ecs_double.fail_run_task("capacity", times=2)
    ecs_double.fail_run_task("throttle", times=1)
    ecs_double.script("capacity", 0)
    ended = platform.run("capacity", "cap-1")
    assert ended["status"] == "SUCCEEDED", "retries: 0 for the job, yet no-capacity was retried"
    errors = [
        e["taskFailedEventDetails"]["error"]
        for e in platform.events(ended["executionArn"])
        if e["type"] == "TaskFailed"
    ]
    assert errors == ["AmazonECS.Unknown", "AmazonECS.Unknown", "ECS.AmazonECSException"]
    assert platform.record("capacity", "cap-1")["status"] == "SUCCEEDED"


@pytest.mark.parametrize("fault", ["cluster_not_found", "access_denied", "invalid_parameter"])
def test_configuration_errors_fail_at_once_recorded_and_alerted(
    platform: Platform, fault: str
) -> None:
    """Step Functions names every ECS API error ECS.AmazonECSException; the Cause's error
    code (AccessDenied, ClusterNotFound, InvalidParameter, ...) says retrying cannot help."""
    ecs_double.fail_run_task(fault, times=5)
    ended = platform.run("capacity", "config-1")
    assert (ended["status"], ended["error"]) == ("FAILED", "Job.Failed")
    assert len(ecs_double.requests) == 1, "a configuration error is not retried as capacity"
    record = platform.record("capacity", "config-1")
    assert (record["status"], record["error"], record["attempts"]) == (
        "FAILED",
        "Job.ConfigurationError",
        1,
    )
    code = API_ERRORS[fault][0]
    assert f"Error Code: {code}" in record["cause"]
    (alert,) = platform.alerts()
    assert alert["metadata"]["additionalContext"]["error"] == "Job.ConfigurationError"
    assert f"Job.ConfigurationError: {API_ERRORS[fault][1]}" in alert["content"]["description"]


def test_capacity_is_still_retried_after_the_configuration_check(platform: Platform) -> None:
    ecs_double.fail_run_task("throttle", times=2)
    ecs_double.script("capacity", 0)
    assert platform.run("capacity", "throttled")["status"] == "SUCCEEDED"
    assert len(ecs_double.requests) == 3
    assert platform.record("capacity", "throttled")["attempts"] == 3


def test_job_failure_is_not_retried_by_the_capacity_policy(platform: Platform) -> None:
    ecs_double.script("capacity", 1)
    assert platform.run("capacity", "cap-2")["status"] == "FAILED"
    assert len(ecs_double.started) == 1, "retries: 0 means one run"


def test_timeout_is_timed_out_with_an_alert_and_the_task_stopped(platform: Platform) -> None:
    ended = platform.run("slow", "slow-1")  # no scripted exit: the task never finishes
    assert (ended["status"], ended["error"]) == ("FAILED", "Job.TimedOut")
    assert platform.record("slow", "slow-1")["status"] == "TIMED_OUT"
    (alert,) = platform.alerts()
    assert alert["metadata"]["additionalContext"]["status"] == "TIMED_OUT"
    assert ecs_double.running() == [], "a timed-out task is stopped"


def test_same_scheduled_event_twice_runs_once(platform: Platform) -> None:
    ecs_double.script("ok", 0, 0)
    event = {
        "trigger": "schedule",
        "scheduled_time": time.strftime("%Y-%m-%dT%H:%M:00Z", time.gmtime()),
        "event_id": "e-1",
    }
    platform.run("ok", "first", event)
    second = platform.run("ok", "second", event)
    assert second["status"] == "SUCCEEDED"
    record = platform.record("ok", "second")
    assert (record["status"], record["skip_reason"]) == ("SKIPPED", "duplicate")
    assert len(ecs_double.started) == 1
    assert transitions(platform, second["executionArn"]) == SKIPPED_BY_CLAIM


def test_forbid_skips_a_second_start_while_one_runs(platform: Platform) -> None:
    first = platform.start("single", "single-1")
    (task,) = ecs_double.wait_started(1)
    skipped = platform.run("single", "single-2")
    record = platform.record("single", "single-2")
    assert (record["status"], record["skip_reason"]) == ("SKIPPED", "concurrent")
    assert transitions(platform, skipped["executionArn"]) == SKIPPED_BY_CLAIM
    ecs_double.finish(task.task_arn, 0)
    assert platform.wait(first)["status"] == "SUCCEEDED"
    assert "lock_holder" not in platform.meta("single")


def test_replace_stops_the_running_execution(platform: Platform) -> None:
    first = platform.start("replacer", "replacer-1")
    ecs_double.wait_started(1)
    second = platform.start("replacer", "replacer-2")
    assert platform.wait(first)["status"] == "ABORTED"
    tasks = ecs_double.wait_started(2)
    assert tasks[0].task_arn not in {t.task_arn for t in ecs_double.running()}, (
        "the old task is stopped"
    )
    ecs_double.finish(tasks[1].task_arn, 0)
    assert platform.wait(second)["status"] == "SUCCEEDED"
    assert platform.record("replacer", "replacer-2")["status"] == "SUCCEEDED"


# A day no calendar has is compared as text too: recorded, never an execution that fails.
@pytest.mark.parametrize("scheduled_time", ["2020-01-01T08:00:00Z", "2026-02-30T08:00:00Z"])
def test_start_later_than_starting_deadline_is_skipped(
    platform: Platform, scheduled_time: str
) -> None:
    ended = platform.run(
        "deadline", "late-1", {"trigger": "schedule", "scheduled_time": scheduled_time}
    )
    record = platform.record("deadline", "late-1")
    assert (record["status"], record["skip_reason"]) == ("SKIPPED", "late")
    assert ecs_double.started == []
    assert transitions(platform, ended["executionArn"]) == LATE


def test_manual_parameters_reach_the_container_environment_and_nothing_else(
    platform: Platform,
) -> None:
    ecs_double.script("params", 0)
    payload = {"trigger": "manual", "parameters": {"DAY": "2026-11-20", "LD_PRELOAD": "/evil.so"}}
    assert platform.run("params", "params-1", payload)["status"] == "SUCCEEDED"
    environment = ecs_double.started[0].environment("app")
    assert environment == {"MODE": "nightly", "DAY": "2026-11-20", "LEVEL": "low"}


def test_aborted_execution_is_recorded_aborted_and_frees_the_lock(platform: Platform) -> None:
    from chalicelib.aws.clients import ClientFactory
    from chalicelib.history.recorder import ExecutionChange, Recorder
    from chalicelib.history.store import RunStore

    running = platform.start("single", "single-1")
    ecs_double.wait_started(1)
    assert platform.meta("single")["lock_holder"] == running
    platform.sfn.stop_execution(executionArn=running, cause="operator stopped it")
    assert platform.wait(running)["status"] == "ABORTED"
    # moto emits no status-change events: feed the recorder what EventBridge would deliver.
    recorder = Recorder(
        RunStore(platform.ddb, "e2e-history"), "e2e", ClientFactory(region="us-east-1").context
    )
    change = ExecutionChange.from_description(platform.sfn.describe_execution(executionArn=running))
    assert recorder.record(change) == "finished"
    assert platform.record("single", "single-1")["status"] == "ABORTED"
    assert "lock_holder" not in platform.meta("single")
    assert ecs_double.running() == [], "the task was stopped with the execution"
    ecs_double.script("single", 0)
    assert platform.run("single", "single-2")["status"] == "SUCCEEDED", "the lock is free"


def test_a_run_links_to_its_execution_and_its_task_logs(platform: Platform) -> None:
    from chalicelib.history.store import RunStore

    ecs_double.script("ok", 0)
    platform.run("ok", "linked")
    run = RunStore(platform.ddb, "e2e-history").describe("ok", "linked")
    assert run is not None
    task_id = run["task_arn"].rsplit("/", 1)[-1]
    assert run["log_url"] == (
        "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1"
        f"#logsV2:log-groups/log-group/$252Fecs$252Fapp-batch/log-events/app-batch$252Fapp$252F{task_id}"
    )
    assert run["console_url"].endswith("#/v2/executions/details/" + run["execution_arn"])


def test_run_records_expire_after_the_history_retention(platform: Platform) -> None:
    ecs_double.script("ok", 0)
    before = time.time()
    platform.run("ok", "kept")
    expires = platform.record("ok", "kept")["expires_at"]
    assert before + 90 * 86400 - 5 <= expires <= time.time() + 90 * 86400 + 5


@pytest.mark.parametrize(
    "payload, error",
    [
        ({"parameters": {"LEVEL": "extreme"}}, "parameter LEVEL must be one of: low, high"),
        ({"parameters": {"DAY": "1" * 1025}}, "parameter DAY is longer than 1024 characters"),
        ({"parameters": {"DAY": 20261120}}, "parameter DAY must be a string"),
        ({"parameters": ["DAY"]}, "parameters must be an object"),
        ({"trigger": "cron"}, "trigger must be one of: schedule, manual, rerun, slack"),
        ({"reason": "r" * 501}, "reason must be a string of at most 500 characters"),
        ({"triggered_by": {"arn": "x"}}, "triggered_by must be a string of at most 2048"),
    ],
)
def test_input_the_api_refuses_fails_the_run_before_the_task(
    platform: Platform, payload: dict[str, object], error: str
) -> None:
    """StartExecution is open to anyone with the permission: the machine checks the input."""
    ended = platform.run("params", "invalid-1", {"trigger": "manual", **payload})
    assert ended["status"] == "FAILED"
    assert ecs_double.requests == [], "no task starts for input the API would have refused"
    record = platform.record("params", "invalid-1")
    assert (record["status"], record["error"], record["attempts"]) == (
        "FAILED",
        "Job.InvalidInput",
        0,
    )
    assert record["cause"].startswith(error)
    (alert,) = platform.alerts()
    assert alert["metadata"]["additionalContext"]["error"] == "Job.InvalidInput"
    assert f"Job.InvalidInput: {error}" in alert["content"]["description"]
    assert "lock_holder" not in platform.meta("params")
    assert transitions(platform, ended["executionArn"]) == INVALID_INPUT


@pytest.mark.parametrize(
    "scheduled_time",
    [
        "yesterday",
        "2026-13-01T08:00:00Z",
        "2026-12-01 08:00",
        "2026-12-01",
        "2026-12-01T08:00+01:00",
    ],
)
def test_a_scheduled_time_that_is_no_time_fails_the_run_and_is_not_taken_for_late(
    platform: Platform, scheduled_time: str
) -> None:
    """On a job with a starting deadline the refusal passes RecordSkip, which refuses to
    record it as a skip: the run is FAILED with the input check's message, and alerted."""
    payload = {"trigger": "schedule", "scheduled_time": scheduled_time}
    ended = platform.run("deadline", "no-time", payload)
    assert ended["status"] == "FAILED"
    record = platform.record("deadline", "no-time")
    assert (record["status"], record["error"], record.get("skip_reason")) == (
        "FAILED",
        "Job.InvalidInput",
        None,
    )
    assert record["cause"].startswith("scheduled_time must be an ISO 8601 UTC time")
    assert len(platform.alerts()) == 1
    assert ecs_double.requests == []
    assert transitions(platform, ended["executionArn"]) == INVALID_INPUT + 1


def test_the_run_record_starts_when_the_execution_started(platform: Platform) -> None:
    """`started_at` is the execution's own start time (AWS's context object format), the
    same instant in the run record, its index keys and the alerts."""
    ecs_double.script("ok", 0)
    ended = platform.run("ok", "timed")
    record = platform.record("ok", "timed")
    started = ended["startDate"].astimezone(datetime.UTC)
    expected = started.strftime("%Y-%m-%dT%H:%M:%S.") + f"{started.microsecond // 1000:03d}Z"
    assert record["started_at"] == expected
    assert record["job_time"].startswith(expected)


def test_valid_enum_and_longest_value_still_run(platform: Platform) -> None:
    ecs_double.script("params", 0)
    payload = {"trigger": "manual", "parameters": {"LEVEL": "high", "DAY": "9" * 1024}}
    assert platform.run("params", "valid-1", payload)["status"] == "SUCCEEDED"
    assert ecs_double.started[0].environment("app")["LEVEL"] == "high"


OVERRIDE = {"trigger": "manual", "reason": "hotfix backfill", "concurrency": "allow"}


def test_concurrency_override_runs_beside_the_holder_and_leaves_its_lock(
    platform: Platform,
) -> None:
    holder = platform.start("single", "single-1")
    (task,) = ecs_double.wait_started(1)
    ecs_double.script("single", 0, 1)
    beside = platform.run("single", "beside-1", OVERRIDE)
    assert beside["status"] == "SUCCEEDED"
    record = platform.record("single", "beside-1")
    assert (record["status"], record["concurrency_override"]) == ("SUCCEEDED", "allow")
    assert transitions(platform, beside["executionArn"]) == SUCCESS
    meta = platform.meta("single")
    assert meta["lock_holder"] == holder, "the holder's lock stays held"
    assert meta["last_status"] == "SUCCEEDED" and meta["last_run"] == "beside-1"
    failed = platform.run("single", "beside-2", {**OVERRIDE, "trigger": "rerun"})
    assert failed["status"] == "FAILED"
    assert platform.record("single", "beside-2")["status"] == "FAILED"
    assert platform.meta("single")["lock_holder"] == holder, "a failed override frees nothing"
    skipped = platform.run("single", "single-2", {"trigger": "manual", "reason": "again"})
    record = platform.record("single", "single-2")
    assert (record["status"], record["skip_reason"]) == ("SKIPPED", "concurrent")
    assert record["concurrency_override"] == ""
    assert transitions(platform, skipped["executionArn"]) == SKIPPED_BY_CLAIM
    ecs_double.finish(task.task_arn, 0)
    assert platform.wait(holder)["status"] == "SUCCEEDED"
    assert platform.record("single", "single-1")["concurrency_override"] == ""
    assert "lock_holder" not in platform.meta("single"), "the holder releases as usual"


def test_concurrency_override_still_obeys_pause_and_is_recorded_on_the_skip(
    platform: Platform,
) -> None:
    platform.ddb.update_item(
        TableName="e2e-history",
        Key={"pk": {"S": "JOB#single"}, "sk": {"S": "META"}},
        UpdateExpression="SET paused = :true",
        ExpressionAttributeValues={":true": {"BOOL": True}},
    )
    platform.run("single", "paused-1", OVERRIDE)
    record = platform.record("single", "paused-1")
    assert (record["status"], record["skip_reason"]) == ("SKIPPED", "paused")
    assert record["concurrency_override"] == "allow"
    assert ecs_double.requests == []


@pytest.mark.parametrize(
    "job, payload, error",
    [
        ("single", {"trigger": "schedule"}, "concurrency is only for triggers manual, rerun"),
        ("single", {"trigger": "slack"}, "concurrency is only for triggers manual, rerun"),
        ("single", {"trigger": None}, "concurrency is only for triggers manual, rerun"),
        ("single", {"concurrency": "forbid"}, "concurrency must be allow"),
        ("single", {"concurrency": True}, "concurrency must be allow"),
        ("replacer", {}, "concurrency cannot be overridden for a job whose policy is replace"),
    ],
)
def test_concurrency_override_is_refused_where_it_is_not_allowed(
    platform: Platform, job: str, payload: dict[str, object], error: str
) -> None:
    """A scheduled delivery never carries the override; a replace job never takes it."""
    given = {k: v for k, v in {**OVERRIDE, **payload}.items() if v is not None}
    ended = platform.run(job, "refused-1", given)
    assert ended["status"] == "FAILED"
    assert ecs_double.requests == []
    record = platform.record(job, "refused-1")
    assert (record["status"], record["error"]) == ("FAILED", "Job.InvalidInput")
    assert record["cause"].startswith(error)
    assert record["concurrency_override"] == ""
