"""Operator input rules (pure): parameters, filters, caller identity, `--wait` exit codes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from chalice.app import Request

from chalicelib.core.deployed import DeployedParameter
from chalicelib.ops.errors import InvalidRequest, Unauthorized
from chalicelib.ops.http import LOCAL_MODE, caller
from chalicelib.ops.models import RunDetail
from chalicelib.ops.parameters import check_parameters
from chalicelib.ops.service import parse_limit, parse_since, parse_status
from jobctl.cli.ops import exit_code_of

ROOT = Path(__file__).resolve().parents[2]
DECLARED = {
    "DAY": DeployedParameter(pattern=r"\d{4}-\d{2}-\d{2}"),
    "LEVEL": DeployedParameter(enum=["low", "high"], default="low"),
    "TARGET": DeployedParameter(required=True),
    "DB_PASSWORD": DeployedParameter(),
}


def refused(given: dict[str, str], secrets: list[str] | None = None) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        check_parameters("report", given, DECLARED, secrets or [])
    return caught.value


def test_declared_valid_parameters_pass_sorted() -> None:
    assert check_parameters("report", {"TARGET": "eu", "DAY": "2026-11-01"}, DECLARED, []) == {
        "DAY": "2026-11-01",
        "TARGET": "eu",
    }


@pytest.mark.parametrize(
    ("given", "field", "words"),
    [
        ({"TARGET": "eu", "DAY": "2026-11-1"}, "DAY", "must match"),
        ({"TARGET": "eu", "DAY": "2026-11-01\n"}, "DAY", "control characters"),
        # A re-run repeats stored values through this check alone: C1 and bidi controls too.
        ({"TARGET": "eu\x9b31m"}, "TARGET", "control characters"),
        ({"TARGET": "eu\u202e"}, "TARGET", "control characters"),
        ({"TARGET": "eu", "DAY": "x" * 1025}, "DAY", "longer than 1024"),
        ({"TARGET": "eu", "LEVEL": "LOW"}, "LEVEL", "one of: low, high"),
        ({"TARGET": "eu", "OTHER": "1"}, "OTHER", "does not declare"),
        ({"TARGET": "eu", "AWS_ACCESS_KEY_ID": "1"}, "AWS_ACCESS_KEY_ID", "reserved"),
        (
            {"TARGET": "eu", "ECS_CONTAINER_METADATA_URI": "1"},
            "ECS_CONTAINER_METADATA_URI",
            "reserved",
        ),
        ({"TARGET": "eu", "1BAD": "1"}, "1BAD", "not a valid name"),
        ({"DAY": "2026-11-01"}, "TARGET", "required"),
    ],
)
def test_refusals_name_the_parameter(given: dict[str, str], field: str, words: str) -> None:
    error = refused(given)
    assert error.field == field and words in error.message


def test_the_tasks_secret_names_are_refused_even_when_declared() -> None:
    error = refused({"TARGET": "eu", "DB_PASSWORD": "hunter2"}, secrets=["DB_PASSWORD"])
    assert error.field == "DB_PASSWORD" and "reserved" in error.message
    assert "hunter2" not in error.message


def test_filters() -> None:
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    assert parse_since("24h", now) == "2026-11-21T12:00:00"
    assert parse_since("2026-11-20T01:02:03+01:00", now) == "2026-11-20T00:02:03"
    assert parse_since(None, now) is None
    assert parse_status("failed") == "FAILED" and parse_status("") is None
    assert parse_limit("100") == 100 and parse_limit(None) == 20
    for bad in (
        lambda: parse_since("later", now),
        lambda: parse_status("DONE"),
        lambda: parse_limit("0"),
    ):
        with pytest.raises(InvalidRequest):
            bad()


def _request(identity: dict[str, str]) -> Request:
    event: dict[str, Any] = {
        "requestContext": {
            "identity": identity,
            "httpMethod": "POST",
            "resourcePath": "/x",
            "path": "/x",
        },
        "headers": {},
        "multiValueQueryStringParameters": None,
        "pathParameters": {},
        "stageVariables": {},
        "body": None,
    }
    return Request(event)


def test_caller_is_the_sigv4_principal_from_the_request_context() -> None:
    identity = {"userArn": "arn:aws:sts::1:assumed-role/oncall/alice", "sourceIp": "1.2.3.4"}
    assert caller(_request(identity)) == "arn:aws:sts::1:assumed-role/oncall/alice"


def test_no_caller_identity_is_unauthorized_unless_served_by_jobctl_local(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    anonymous = _request({"sourceIp": "1.2.3.4"})
    monkeypatch.delenv(LOCAL_MODE, raising=False)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    with pytest.raises(Unauthorized) as refused:
        caller(anonymous)
    assert refused.value.status == 401
    monkeypatch.setenv("JOBCTL_LOCAL_CALLER", "bob")
    with pytest.raises(Unauthorized):
        caller(anonymous)  # the fallback alone is not local mode
    monkeypatch.setenv(LOCAL_MODE, "1")
    assert caller(anonymous) == "bob"
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "jobctl-production-api_handler")
    with pytest.raises(Unauthorized):
        caller(anonymous)  # inside Lambda, never
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME")
    monkeypatch.delenv("JOBCTL_LOCAL_CALLER")
    with pytest.raises(Unauthorized):
        caller(anonymous)  # local mode still needs a name, never "unknown"


def test_no_deployed_stage_sets_the_local_mode_flag() -> None:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    scopes = [config, *config["stages"].values()]
    for scope in scopes:
        names = set(scope.get("environment_variables") or {})
        assert not names & {LOCAL_MODE, "JOBCTL_LOCAL_CALLER"}, scope


@pytest.mark.parametrize(
    "since",
    [
        "99999999999d",
        "9" * 30 + "s",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "0001-01-01",
        "0999-12-31T00:00:00Z",
    ],
)
def test_out_of_range_since_names_the_field(since: str) -> None:
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    with pytest.raises(InvalidRequest) as refused:
        parse_since(since, now)
    assert refused.value.field == "since"


@pytest.mark.parametrize(
    ("status", "exit_code", "expected"),
    [
        ("SUCCEEDED", 0, 0),
        ("FAILED", 3, 3),
        ("FAILED", None, 1),
        ("FAILED", 300, 1),
        ("TIMED_OUT", None, 124),
        ("SKIPPED", None, 75),
        ("ABORTED", None, 1),
    ],
)
def test_wait_exits_like_the_job(status: str, exit_code: int | None, expected: int) -> None:
    run = RunDetail(run_id="r", job="j", status=status, exit_code=exit_code)
    assert exit_code_of(run) == expected


def test_a_redos_pattern_answers_at_once_on_a_30_character_value() -> None:
    """`(a+)+b` against 30 'a's: 2^30 steps for a backtracking engine; RE2 is linear.

    Asserts the result only: before RE2 this call did not return for minutes (issue 12).
    """
    declared = {"KEY": DeployedParameter(pattern="(a+)+b")}
    with pytest.raises(InvalidRequest) as caught:
        check_parameters("report", {"KEY": "a" * 30}, declared, [])
    assert caught.value.field == "KEY" and "must match" in caught.value.message
    assert check_parameters("report", {"KEY": "a" * 30 + "b"}, declared, []) == {
        "KEY": "a" * 30 + "b"
    }


@pytest.mark.parametrize(
    "value",
    ["２０２６-１１-０１", "٢٠٢٦-١١-٠١", "2026-11-0١"],
    ids=["fullwidth", "arabic", "mixed"],
)
def test_digits_in_a_pattern_are_ascii_only(value: str) -> None:
    error = refused({"TARGET": "eu", "DAY": value})
    assert error.field == "DAY" and "must match" in error.message


def test_a_pattern_re2_cannot_compile_is_a_clear_refusal_not_a_500() -> None:
    """A deploy older than the RE2 check may hold a lookahead: refuse the run, name it."""
    declared = {"DAY": DeployedParameter(pattern=r"(?!0000)\d{4}")}
    with pytest.raises(InvalidRequest) as caught:
        check_parameters("report", {"DAY": "2026"}, declared, [])
    assert caught.value.field == "DAY" and "deploy the job again" in caught.value.message


def test_the_cli_shows_every_non_printable_character_escaped() -> None:
    from io import StringIO

    from rich.console import Console

    from jobctl.cli.ops import _print_run, printable, visible

    assert printable("plain café 🚀") == "plain café 🚀"
    assert printable("a\x1b[2Jb\tc\n\x9b\u202e\U000e0001") == (
        "a\\x1b[2Jb\\tc\\n\\x9b\\u202e\\U000e0001"
    )
    assert visible("[bold]x[/]\x1b") == "\\[bold]x\\[/]\\x1b"
    run = RunDetail(
        run_id="r\x1b1",
        job="j",
        status="FAILED\x1b[5m",
        reason="\x1b]8;;https://evil.example\x07click\x1b]8;;\x07",
        parameters={"DAY": "\u202e1202"},
        cause="[red]not markup[/red]",
    )
    buffer = StringIO()
    _print_run(run, Console(file=buffer, width=300, color_system=None))
    out = buffer.getvalue()
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out, repr(out)
    assert "\\x1b]8;;https://evil.example\\x07click" in out and "DAY=\\u202e1202" in out
    assert "[red]not markup[/red]" in out


# ------------------------------------------------------------------ issue 13: operations

ECS_CAUSE = json.dumps(
    {
        "Attachments": [{"Details": [{"Name": "subnetId", "Value": "subnet-1"}]}],
        "Containers": [
            {"Name": "sidecar", "ExitCode": 0},
            {"Name": "app", "ExitCode": 3, "LastStatus": "STOPPED"},
        ],
        "StopCode": "EssentialContainerExited",
        "StoppedReason": "Essential container in task exited",
        "TaskArn": "arn:aws:ecs:us-east-1:1:task/app/t3",
    }
)


def _ecs_event(kind: str, when: int, **details: Any) -> dict[str, Any]:
    key = {
        "TaskScheduled": "taskScheduledEventDetails",
        "TaskSubmitted": "taskSubmittedEventDetails",
        "TaskSucceeded": "taskSucceededEventDetails",
        "TaskFailed": "taskFailedEventDetails",
    }[kind]
    body = {"resourceType": "ecs", "resource": "runTask.sync", **details}
    return {"type": kind, "timestamp": datetime(2026, 11, 22, 3, 0, when, tzinfo=UTC), key: body}


def test_attempts_come_from_event_types_not_state_names() -> None:
    from chalicelib.ops.attempts import attempts_from_history

    submitted = {"output": json.dumps({"Tasks": [{"TaskArn": "arn:aws:ecs:r:1:task/app/t1"}]})}
    events = [
        {"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": "Anything"}},
        _ecs_event("TaskScheduled", 0),
        _ecs_event("TaskSubmitted", 1, **submitted),
        _ecs_event("TaskFailed", 5, error="States.TaskFailed", cause=ECS_CAUSE.replace("t3", "t1")),
        # A DynamoDB task between attempts is no attempt.
        {"type": "TaskScheduled", "taskScheduledEventDetails": {"resourceType": "dynamodb"}},
        _ecs_event("TaskScheduled", 35),  # refused: no capacity, no task
        _ecs_event(
            "TaskFailed",
            36,
            error="ECS.AmazonECSException",
            cause=json.dumps({"Failures": [{"Reason": "RESOURCE:MEMORY"}]}),
        ),
        _ecs_event("TaskScheduled", 40),
        _ecs_event("TaskSubmitted", 41, output=json.dumps({"Tasks": [{"TaskArn": "t/app/t3"}]})),
    ]
    first, refused, running = attempts_from_history(events, "app")
    assert (first.number, first.status, first.exit_code, first.task_arn) == (
        1,
        "FAILED",
        3,
        "arn:aws:ecs:r:1:task/app/t1",
    )
    assert first.summary == (
        "container app exited with code 3 "
        "(EssentialContainerExited: Essential container in task exited)"
    )
    assert (refused.task_arn, refused.summary) == (
        None,
        "ECS could not start the task: RESOURCE:MEMORY",
    )
    assert (running.status, running.task_arn, running.started_at) == (
        "RUNNING",
        "t/app/t3",
        "2026-11-22T03:00:40Z",
    )
    aborted = attempts_from_history([*events, {"type": "ExecutionAborted"}], "app")[-1]
    assert aborted.status == "ABORTED"


def test_causes_read_in_plain_words() -> None:
    from chalicelib.ops.attempts import summarise

    plain = summarise("Job.Failed", f"States.TaskFailed: {ECS_CAUSE}", "app")
    assert plain is not None and plain.startswith("container app exited with code 3")
    assert summarise("States.Timeout", "") == (
        "the attempt ran longer than the job's timeout and was stopped"
    )
    assert summarise("Job.InvalidInput", "reason is over 500 characters\nmore") == (
        "Job.InvalidInput: reason is over 500 characters"
    )
    assert len(summarise("E", "x" * 5000) or "") == 300
    assert summarise(None, None) is None


def test_an_empty_value_of_a_required_parameter_is_missing() -> None:
    error = refused({"TARGET": ""})
    assert error.field == "TARGET" and "required" in error.message


def test_show_prints_links_whole_on_any_width() -> None:
    """Before: a table cell cut the links with '…' under ~220 columns."""
    from io import StringIO

    from rich.console import Console

    from jobctl.cli.ops import _print_run

    url = "https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1#/v2/" + "x" * 150
    run = RunDetail(run_id="r1", job="j", status="FAILED", console_url=url, cause=ECS_CAUSE)
    buffer = StringIO()
    _print_run(run, Console(file=buffer, width=80, color_system=None))
    out = buffer.getvalue()
    assert f"console_url {url}\n" in out
    assert "…" not in out and '"Attachments"' not in out
    assert "exited with code 3 (EssentialContainerExited" in " ".join(out.split())


def test_wait_reports_an_execution_that_ended_before_recording_its_run() -> None:
    """Before: --wait polled for the record forever, silently."""
    from io import StringIO
    from types import SimpleNamespace

    from rich.console import Console

    from chalicelib.ops.models import Progress, RunStarted
    from jobctl.cli.ops import _started

    started = RunStarted(job="j", run_id="manual-x", execution_arn="arn:x", triggered_by="me")
    ended = Progress(
        run_id="manual-x",
        job="j",
        execution_arn="arn:x",
        status="FAILED",
        error="DynamoDB.AmazonDynamoDBException",
        summary="DynamoDB.AmazonDynamoDBException: the table is being deleted",
    )
    unrecorded = RunDetail(
        run_id="manual-x",
        job="j",
        status="FAILED",
        error=ended.error,
        summary=ended.summary,
        recorded=False,
    )
    service = SimpleNamespace(progress=lambda *a, **k: ended, run=lambda run_id: unrecorded)
    buffer = StringIO()
    args = SimpleNamespace(wait=True, json=False, poll=0.0)
    status = _started(service, started, args, Console(file=buffer, width=200))  # type: ignore[arg-type]
    out = buffer.getvalue()
    assert status == 1
    assert "the execution ended FAILED before it recorded the run" in out
    assert "the table is being deleted" in out
