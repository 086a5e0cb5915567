"""Operator input rules (pure): parameters, filters, caller identity, `--wait` exit codes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from chalice.app import Request

from chalicelib.core.deployed import DeployedParameter
from chalicelib.ops.errors import InvalidRequest
from chalicelib.ops.http import caller
from chalicelib.ops.models import RunDetail
from chalicelib.ops.parameters import check_parameters
from chalicelib.ops.service import parse_limit, parse_since, parse_status
from jobctl.cli.ops import exit_code_of

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


def test_caller_is_the_sigv4_principal_from_the_request_context() -> None:
    event = {
        "requestContext": {
            "identity": {
                "userArn": "arn:aws:sts::1:assumed-role/oncall/alice",
                "sourceIp": "1.2.3.4",
            }
        },
        "headers": {},
        "multiValueQueryStringParameters": None,
        "pathParameters": {},
        "stageVariables": {},
        "body": None,
    }
    event["requestContext"].update({"httpMethod": "POST", "resourcePath": "/x", "path": "/x"})
    assert caller(Request(event)) == "arn:aws:sts::1:assumed-role/oncall/alice"


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
