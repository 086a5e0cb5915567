"""The run protocol, proven by executing the deployed state machines on moto."""

from __future__ import annotations

import time

import pytest

from jobctl.local.moto import TaskExit, ecs_double
from jobctl.local.moto.ecs_double import API_ERRORS

from .conftest import Platform


def test_success(platform: Platform) -> None:
    ecs_double.script("ok", 0)
    ended = platform.run("ok", "ok-1")
    assert ended["status"] == "SUCCEEDED"
    record = platform.record("ok", "ok-1")
    assert (record["status"], record["exit_code"], record["attempts"]) == ("SUCCEEDED", 0, 1)
    assert record["task_arn"].startswith("arn:aws:ecs:")
    assert ecs_double.started[0].command() == ["bin/ok"]
    assert platform.alerts() == []


def test_exit_1_then_success_on_retry(platform: Platform) -> None:
    ecs_double.script("flaky", 1, 0)
    assert platform.run("flaky", "flaky-1")["status"] == "SUCCEEDED"
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


def test_recovery_after_failure_sends_one_recovery_message(platform: Platform) -> None:
    ecs_double.script("broken", 1, 1, 1, 0)
    platform.run("broken", "broken-1")
    platform.run("broken", "broken-2")
    kinds = [alert["metadata"]["additionalContext"]["event"] for alert in platform.alerts()]
    assert sorted(kinds) == ["failure", "recovery"]
    ecs_double.script("broken", 0)
    platform.run("broken", "broken-3")
    assert platform.alerts() == [], "a success after a success is not news"


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


def test_forbid_skips_a_second_start_while_one_runs(platform: Platform) -> None:
    first = platform.start("single", "single-1")
    (task,) = ecs_double.wait_started(1)
    platform.run("single", "single-2")
    record = platform.record("single", "single-2")
    assert (record["status"], record["skip_reason"]) == ("SKIPPED", "concurrent")
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


def test_start_later_than_starting_deadline_is_skipped(platform: Platform) -> None:
    platform.run(
        "deadline", "late-1", {"trigger": "schedule", "scheduled_time": "2020-01-01T08:00:00Z"}
    )
    record = platform.record("deadline", "late-1")
    assert (record["status"], record["skip_reason"]) == ("SKIPPED", "late")
    assert ecs_double.started == []


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


def test_valid_enum_and_longest_value_still_run(platform: Platform) -> None:
    ecs_double.script("params", 0)
    payload = {"trigger": "manual", "parameters": {"LEVEL": "high", "DAY": "9" * 1024}}
    assert platform.run("params", "valid-1", payload)["status"] == "SUCCEEDED"
    assert ecs_double.started[0].environment("app")["LEVEL"] == "high"
