"""The alert contract: the models are its one definition; the committed JSON Schema is
generated from them, and the compiled state machines' messages (evaluated with JSONata) and
the watchdog's messages are exactly the models' messages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonata
import pytest
from jsonschema import Draft202012Validator

from chalicelib.alerts.message import (
    SCHEMA_PATH,
    Alert,
    FailureContext,
    MalformedAlert,
    parse_alert,
    render_json_schema,
)
from jobctl.compile import asl
from jobctl.compile.compiler import CompiledJob, compile_registry
from jobctl.registry.loader import load_registry
from tests.support.alert_samples import watch

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "chalicelib" / "alerts" / "alert-schema.json").read_text())
VALIDATOR = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
COMPILED = compile_registry(load_registry(ROOT / "jobs.yaml")) + compile_registry(
    load_registry(ROOT / "tests" / "data" / "variety.yaml")
)
EXECUTION = "arn:aws:states:ap-northeast-1:123456789012:execution:coin-production-report:run-7"
TASK = "arn:aws:ecs:ap-northeast-1:123456789012:task/app-prd/0123456789abcdef"

# The variables the state machine holds when it reaches Alert / NotifyRecovery.
BASE = {
    "run_id": "run-7",
    "execution": EXECUTION,
    "trigger": "schedule",
    "triggered_by": "",
    "scheduled_time": "2026-03-01T03:00:00Z",
    "started_at": "2026-03-01T03:00:01.250Z",
    "attempts": 3,
    "task_arn": "",
    "failure": {},
    "detail": {},
}
SCENARIOS = {
    "exit 3": {
        "status": "FAILED",
        "failure": {"Error": "States.TaskFailed", "Cause": "{...}"},
        "detail": {
            "exit_code": 3,
            "stopped_reason": "OutOfMemoryError: Container killed",
            "task_arn": TASK,
        },
    },
    "timeout": {
        "status": "TIMED_OUT",
        "failure": {"Error": "States.Timeout", "Cause": ""},
        "detail": {"exit_code": None, "stopped_reason": "", "task_arn": ""},
    },
    "never started": {
        "status": "FAILED",
        "failure": {"Error": "States.Runtime", "Cause": "no capacity"},
        "detail": {"exit_code": None, "stopped_reason": "", "task_arn": ""},
        "triggered_by": "arn:aws:iam::123456789012:user/ops",
        "trigger": "manual",
        "scheduled_time": "",
    },
    "no detail at all": {"status": "FAILED"},
    "recovery": {"status": "SUCCEEDED", "task_arn": TASK, "attempts": 1},
}


def evaluate(item: CompiledJob, state: str, variables: dict[str, Any]) -> dict[str, Any]:
    """The message the state would publish, evaluated as Step Functions would (JSONata)."""
    expression = item.definition["States"][state]["Arguments"]["Message"]
    assert expression.startswith("{%") and expression.endswith("%}")
    prelude = "; ".join(f"${name} := {json.dumps(value)}" for name, value in variables.items())
    text = jsonata.Jsonata(f"( {prelude}; {expression[2:-2]} )").evaluate(None)
    assert isinstance(text, str), "Message is a JSON string"
    return json.loads(text)  # type: ignore[no-any-return]


def published() -> list[tuple[str, dict[str, Any]]]:
    cases = []
    for item in COMPILED:
        states = item.definition["States"]
        for name, overrides in SCENARIOS.items():
            state = "NotifyRecovery" if name == "recovery" else "Alert"
            if state in states:
                label = f"{item.job.project}-{item.file_name}-{name}"
                cases.append((label, evaluate(item, state, {**BASE, **overrides})))
    return cases


PUBLISHED = published()


def errors(document: dict[str, Any]) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in VALIDATOR.iter_errors(document)
    ]


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(SCHEMA)


def test_the_committed_schema_is_the_one_generated_from_the_model() -> None:
    assert SCHEMA_PATH.read_text() == render_json_schema(), (
        "alert-schema.json is stale: run python -m chalicelib.alerts.message"
    )


def test_every_compiled_alert_state_is_covered() -> None:
    assert len(PUBLISHED) >= 2 * len(COMPILED), "failure and recovery alerts are exercised"
    assert {m["metadata"]["additionalContext"]["event"] for _, m in PUBLISHED} == {
        "failure",
        "recovery",
    }


@pytest.mark.parametrize(("label", "message"), PUBLISHED, ids=[c[0] for c in PUBLISHED])
def test_state_machine_alert_is_valid_against_the_schema_and_the_model(
    label: str, message: dict[str, Any]
) -> None:
    assert errors(message) == []
    alert = parse_alert(json.dumps(message))
    assert alert.id == "run-7"


@pytest.mark.parametrize(("label", "message"), PUBLISHED, ids=[c[0] for c in PUBLISHED])
def test_state_machine_alert_is_exactly_the_models_message(
    label: str, message: dict[str, Any]
) -> None:
    """The model's additionalContext keys in its order, nothing a consumer would default."""
    alert = Alert.model_validate(message)
    context = message["metadata"]["additionalContext"]
    assert list(context) == type(alert.context).producer_keys()
    assert alert.to_message() == message


def test_a_field_added_to_the_model_but_not_the_compiler_fails_compilation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Wider(FailureContext):
        region: str

    monkeypatch.setattr(asl, "FailureContext", Wider)
    item = next(i for i in COMPILED if "Alert" in i.definition["States"])
    with pytest.raises(ValueError, match=r"no expression for \['region'\]"):
        asl.compile_state_machine(item.job)


@pytest.mark.parametrize(("label", "message"), PUBLISHED, ids=[c[0] for c in PUBLISHED])
def test_alert_is_a_chatbot_custom_notification(label: str, message: dict[str, Any]) -> None:
    """The fields AWS Chatbot requires and how it reads them."""
    assert (message["version"], message["source"]) == ("1.0", "custom")
    assert message["content"]["textType"] == "client-markdown"
    assert message["content"]["title"] and message["content"]["description"]
    assert len(message["content"]["description"]) <= 8000
    context = message["metadata"]["additionalContext"]
    assert all(isinstance(value, str) for value in context.values()), "a map of strings"
    assert message["metadata"]["threadId"].endswith(context["job"])
    assert EXECUTION in message["metadata"]["relatedResources"]


def test_failure_alert_carries_the_run_facts_and_links() -> None:
    item = next(
        i for i in COMPILED if i.job.env == "production" and "Alert" in i.definition["States"]
    )
    context = evaluate(item, "Alert", {**BASE, **SCENARIOS["exit 3"]})["metadata"][
        "additionalContext"
    ]
    assert context["exit_code"] == "3" and context["attempts"] == "3"
    assert context["stopped_reason"] == "OutOfMemoryError: Container killed"
    assert context["task_arn"] == TASK
    assert context["console_url"] == (
        "https://ap-northeast-1.console.aws.amazon.com/states/home?region=ap-northeast-1"
        f"#/v2/executions/details/{EXECUTION}"
    )
    assert context["rerun_command"] == "jobctl rerun run-7 --env production"
    assert context["scheduled_time"] == "2026-03-01T03:00:00Z"
    timeout = evaluate(item, "Alert", {**BASE, **SCENARIOS["timeout"]})
    assert timeout["metadata"]["additionalContext"]["exit_code"] == ""
    assert "no exit code" in timeout["content"]["description"]


def test_watchdog_messages_are_valid() -> None:
    missed = watch("missed")
    resumed = watch("resumed")
    never = watch("missed", last_success_at="", last_run_id="", last_status="")
    for message in (missed, resumed, never):
        assert errors(message) == []
        alert = parse_alert(json.dumps(message))
        keys = type(alert.context).producer_keys()
        assert list(message["metadata"]["additionalContext"]) == [*keys, "console_url"]
    assert missed["id"] != resumed["id"]
    unwatched = watch("missed", console_url="")
    assert "console_url" not in unwatched["metadata"]["additionalContext"], "optional: left out"
    assert errors(unwatched) == []


def test_schema_and_model_reject_a_run_field_on_a_watch_message() -> None:
    message = watch("missed")
    message["metadata"]["additionalContext"]["error"] = ""
    assert errors(message), "the schema rejects it"
    with pytest.raises(MalformedAlert):
        parse_alert(json.dumps(message))


def _valid() -> dict[str, Any]:
    return json.loads(json.dumps(PUBLISHED[0][1]))


def _broken(change: str) -> dict[str, Any]:
    message = _valid()
    context = message["metadata"]["additionalContext"]
    if change == "number value":
        context["attempts"] = 3
    elif change == "missing run id":
        del context["run_id"]
    elif change == "unknown key":
        context["colour"] = "red"
    elif change == "status for event":
        context["status"] = "SUCCEEDED"
    elif change == "not chatbot":
        message["version"] = "2.0"
    elif change == "other schema":
        context["schema"] = "jobctl.alert/2"
    elif change == "watch field on a run":
        context["expected_by"] = "2026-03-02T04:15:00Z"
    elif change == "event type":
        message["metadata"]["eventType"] = "jobctl.recovery"
        context["status"] = "FAILED"
    return message


BROKEN = [
    "number value",
    "missing run id",
    "unknown key",
    "status for event",
    "not chatbot",
    "other schema",
    "watch field on a run",
]


@pytest.mark.parametrize("change", BROKEN)
def test_schema_and_model_reject_the_same_broken_messages(change: str) -> None:
    message = _broken(change)
    assert errors(message), "the schema rejects it"
    with pytest.raises(MalformedAlert):
        parse_alert(json.dumps(message))


def test_model_checks_event_type_against_event() -> None:
    with pytest.raises(MalformedAlert, match="eventType"):
        parse_alert(json.dumps(_broken("event type")))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("not json", "not JSON"),
        ("[]", "not a JSON object"),
        ('{"version": "1.0"}', "schema is None"),
        ('{"metadata": {"additionalContext": {"schema": "jobctl.alert/1"}}}', "version"),
    ],
)
def test_malformed_messages_give_a_one_line_reason(text: str, reason: str) -> None:
    with pytest.raises(MalformedAlert) as raised:
        parse_alert(text)
    assert reason in str(raised.value) and "\n" not in str(raised.value)


def test_alert_from_a_state_machine_built_before_links_still_parses() -> None:
    """Messages of state machines deployed before console_url/task_arn/triggered_by."""
    message = _valid()
    context = message["metadata"]["additionalContext"]
    for key in ("console_url", "task_arn", "triggered_by", "exit_code"):
        context.pop(key)
    alert = parse_alert(json.dumps(message))
    assert isinstance(alert, Alert) and alert.context.console_url == ""
