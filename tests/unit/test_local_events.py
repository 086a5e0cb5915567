"""The input the local scheduler sends is what EventBridge and Scheduler would send."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from jobctl.compile.compiler import compile_job
from jobctl.local.events import (
    MISSING,
    json_path,
    scheduled_event,
    scheduler_input,
    transform_input,
)
from jobctl.local.scheduler import Trigger
from jobctl.registry.loader import parse_registry
from tests.support.registries import BASE

RULE_ARN = "arn:aws:events:us-east-1:123456789012:rule/p-job"
AT = datetime(2026, 3, 8, 3, 0, tzinfo=UTC)
LATER = datetime(2026, 3, 8, 3, 0, 2, 512000, tzinfo=UTC)


def event() -> dict[str, object]:
    return scheduled_event(
        event_id="e-1", time=AT, region="us-east-1", account="123456789012", rule_arn=RULE_ARN
    )


def transform(template: str, paths: dict[str, str] | None = None) -> str:
    return transform_input(
        {"InputPathsMap": paths or {}, "InputTemplate": template},
        event(),
        rule_arn=RULE_ARN,
        rule_name="p-job",
        ingestion_time=LATER,
    )


def test_the_scheduled_event_has_eventbridges_shape() -> None:
    assert event() == {
        "version": "0",
        "id": "e-1",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-03-08T03:00:00Z",
        "region": "us-east-1",
        "resources": [RULE_ARN],
        "detail": {},
    }


def test_the_compiled_rule_target_yields_the_state_machines_input() -> None:
    registry = parse_registry(BASE + "jobs:\n  job: {schedule: cron(0 3 * * ? *)}\n")
    job = registry.job(None, "job")
    assert job is not None
    (target,) = compile_job(job).trigger["Targets"]
    text = transform_input(
        target["InputTransformer"],
        event(),
        rule_arn=RULE_ARN,
        rule_name="p-job",
        ingestion_time=LATER,
    )
    assert json.loads(text) == {
        "trigger": "schedule",
        "scheduled_time": "2026-03-08T03:00:00Z",
        "event_id": "e-1",
    }


def test_a_placeholder_outside_quotes_is_json_inside_quotes_is_text() -> None:
    text = transform(
        '{"raw": <resources>, "quoted": "rule <resources> at <time>", "n": <time>}',
        {"resources": "$.resources", "time": "$.time"},
    )
    assert json.loads(text) == {
        "raw": [RULE_ARN],
        "quoted": f'rule ["{RULE_ARN}"] at 2026-03-08T03:00:00Z',
        "n": "2026-03-08T03:00:00Z",
    }


def test_text_inserted_in_a_string_is_escaped() -> None:
    quoted = transform('{"s": "<event>"}', {"event": "$.detail-type"})
    assert json.loads(quoted) == {"s": "Scheduled Event"}
    nested = transform('{"s": "<all>"}', {"all": "$"})
    assert json.loads(json.loads(nested)["s"])["id"] == "e-1"


def test_missing_paths_are_null_outside_strings_and_empty_inside() -> None:
    text = transform('{"a": <gone>, "b": "x<gone>y"}', {"gone": "$.detail.nothing"})
    assert json.loads(text) == {"a": None, "b": "xy"}


def test_predefined_variables() -> None:
    text = transform(
        '{"arn": <aws.events.rule-arn>, "name": "<aws.events.rule-name>",'
        ' "at": <aws.events.event.ingestion-time>, "event": <aws.events.event>,'
        ' "json": <aws.events.event.json>}'
    )
    document = json.loads(text)
    assert (document["arn"], document["name"]) == (RULE_ARN, "p-job")
    assert document["at"] == "2026-03-08T03:00:02Z"
    assert "detail" not in document["event"] and document["event"]["id"] == "e-1"
    assert document["json"] == event()


def test_a_plain_text_template_and_unknown_angle_brackets_are_left_alone() -> None:
    assert transform("job at <time> <unknown>", {"time": "$.time"}) == (
        'job at "2026-03-08T03:00:00Z" <unknown>'
    )


def test_a_template_that_is_not_json_after_filling_is_refused() -> None:
    with pytest.raises(ValueError):
        transform('{"a": <x> <x>}', {"x": "$.id"})


def test_json_path_subset() -> None:
    document = {"a": {"b": [{"c": 1}, {"c": 2}]}, "d-e": "x"}
    assert json_path(document, "$.a.b[1].c") == 2
    assert json_path(document, "$.d-e") == "x"
    assert json_path(document, "$") is document
    assert json_path(document, "$.a.b[5].c") is MISSING
    assert json_path(document, "$.a.x") is MISSING
    with pytest.raises(ValueError):
        json_path(document, "a.b")


def test_scheduler_context_attributes_are_substituted() -> None:
    text = scheduler_input(
        '{"trigger": "schedule", "scheduled_time": "<aws.scheduler.scheduled-time>",'
        ' "event_id": "<aws.scheduler.execution-id>", "arn": "<aws.scheduler.schedule-arn>",'
        ' "try": "<aws.scheduler.attempt-number>", "other": "<not.an.attribute>"}',
        schedule_arn="arn:aws:scheduler:us-east-1:123456789012:schedule/g/s",
        scheduled_time=AT,
        execution_id="x-1",
    )
    assert json.loads(text) == {
        "trigger": "schedule",
        "scheduled_time": "2026-03-08T03:00:00Z",
        "event_id": "x-1",
        "arn": "arn:aws:scheduler:us-east-1:123456789012:schedule/g/s",
        "try": "1",
        "other": "<not.an.attribute>",
    }


def test_the_compiled_schedule_target_yields_the_same_shape_as_a_rule() -> None:
    registry = parse_registry(
        BASE + "jobs:\n  job: {schedule: cron(0 3 * * ? *), timezone: Asia/Tokyo}\n"
    )
    job = registry.job(None, "job")
    assert job is not None
    trigger = compile_job(job).trigger
    schedule = Trigger(
        kind="schedule",
        name=trigger["Name"],
        arn="arn:aws:scheduler:us-east-1:123456789012:schedule/p/p-job",
        expression=trigger["ScheduleExpression"],
        timezone=trigger["ScheduleExpressionTimezone"],
        enabled=True,
        target=trigger["Target"],
    )
    text = schedule.execution_input(
        AT, event_id="x-1", now=LATER, region="us-east-1", account="123456789012"
    )
    assert json.loads(text) == {
        "trigger": "schedule",
        "scheduled_time": "2026-03-08T03:00:00Z",
        "event_id": "x-1",
    }
