"""The alert message (`jobctl.alert/1`): parsing what arrives on the topic, building what the
watchdog publishes.

The contract is alert-schema.json next to this file (CONTRACT.md explains it); these
models mirror it and tests hold the two together. The message is an AWS Chatbot custom
notification, so Chatbot relays it unchanged; the notifier reads `additionalContext`.

Invariants:
- `parse_alert` either returns a valid `Alert` or raises `MalformedAlert` with a one-line
  reason (never the whole message, never a traceback): a malformed message can never
  succeed, so the notifier logs it and does not ask SNS to retry it.
- Models forbid unknown fields: a field added to the message means a new schema version
  (or this model and the schema change together, notifier deployed first).
- Fields added to v1 after its first release (`triggered_by`, `task_arn`, `console_url`,
  and an `exit_code` that JSONata could leave out) default to '' so alerts from state
  machines built before them still render.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

SCHEMA = "jobctl.alert/1"
RunEvent = Literal["failure", "recovery"]
WatchEvent = Literal["missed", "resumed"]
NonEmpty = Annotated[str, Field(min_length=1)]


class MalformedAlert(ValueError):
    """Not a jobctl.alert/1 message; the text says what is wrong, in one line."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class _Common(_Strict):
    schema_: Literal["jobctl.alert/1"] = Field(alias="schema")
    project: NonEmpty
    environment: str
    job: NonEmpty
    slack_route: NonEmpty
    console_url: str = ""


class RunContext(_Common):
    """A run ended: failure (FAILED, TIMED_OUT) or recovery (SUCCEEDED after a failure)."""

    event: RunEvent
    status: Literal["FAILED", "TIMED_OUT", "SUCCEEDED"]
    run_id: NonEmpty
    execution_arn: NonEmpty
    trigger: str
    triggered_by: str = ""
    scheduled_time: str
    started_at: str
    ended_at: str
    attempts: str
    exit_code: str = ""
    stopped_reason: str = ""
    error: str = ""
    task_arn: str = ""
    log_url: str = ""
    rerun_command: str

    @model_validator(mode="after")
    def _status_fits_event(self) -> RunContext:
        failed = self.status in ("FAILED", "TIMED_OUT")
        if failed != (self.event == "failure"):
            raise ValueError(f"status {self.status} does not go with event {self.event}")
        return self


class WatchContext(_Common):
    """The watchdog: no success within the expected interval (missed), then one (resumed)."""

    event: WatchEvent
    status: Literal["MISSED", "SUCCEEDED"]
    schedule: NonEmpty
    timezone: str
    expected_by: str
    last_success_at: str
    last_run_id: str
    last_status: str
    log_url: str = ""

    @model_validator(mode="after")
    def _status_fits_event(self) -> WatchContext:
        if (self.status == "MISSED") != (self.event == "missed"):
            raise ValueError(f"status {self.status} does not go with event {self.event}")
        return self


Context = Annotated[RunContext | WatchContext, Field(discriminator="event")]


class Content(_Strict):
    textType: Literal["client-markdown"]
    title: Annotated[str, Field(min_length=1, max_length=250)]
    description: Annotated[str, Field(min_length=1, max_length=8000)]
    nextSteps: list[str] = []


class Metadata(_Strict):
    threadId: NonEmpty
    summary: NonEmpty
    eventType: Literal["jobctl.failure", "jobctl.recovery", "jobctl.missed", "jobctl.resumed"]
    relatedResources: list[str]
    additionalContext: Context


class Alert(_Strict):
    version: Literal["1.0"]
    source: Literal["custom"]
    id: NonEmpty
    content: Content
    metadata: Metadata

    @property
    def context(self) -> RunContext | WatchContext:
        return self.metadata.additionalContext

    @model_validator(mode="after")
    def _event_type_matches(self) -> Alert:
        if self.metadata.eventType != f"jobctl.{self.context.event}":
            raise ValueError("metadata.eventType does not match additionalContext.event")
        return self


def parse_alert(text: str) -> Alert:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedAlert(f"not JSON ({exc.msg} at position {exc.pos})") from None
    if not isinstance(document, dict):
        raise MalformedAlert("not a JSON object")
    schema = (
        document.get("metadata", {}).get("additionalContext", {}).get("schema")
        if isinstance(document.get("metadata"), dict)
        and isinstance(document["metadata"].get("additionalContext"), dict)
        else None
    )
    if schema != SCHEMA:
        raise MalformedAlert(f"metadata.additionalContext.schema is {schema!r}, not {SCHEMA!r}")
    try:
        return Alert.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors(include_url=False)[:3]
        )
        raise MalformedAlert(f"not a valid {SCHEMA} message: {problems}") from None


def watch_alert(
    *,
    event: WatchEvent,
    project: str,
    environment: str,
    job: str,
    slack_route: str,
    schedule: str,
    timezone: str,
    expected_by: str,
    last_success_at: str,
    last_run_id: str,
    last_status: str,
    console_url: str,
) -> dict[str, Any]:
    """The watchdog's message (same envelope as the state machines' alerts)."""
    where = f"{project}/{environment}" if environment else project
    thread = f"{project}-{environment}-{job}" if environment else f"{project}-{job}"
    if event == "missed":
        title = f"{where} {job}: no successful run"
        since = f"since {last_success_at}" if last_success_at else "since it was first watched"
        description = (
            f"No successful run of {job} {since}; one was expected by {expected_by} "
            f"(schedule `{schedule}`{f' {timezone}' if timezone else ''})."
        )
        message_id = f"missed:{job}:{expected_by}"
    else:
        title = f"{where} {job}: back on schedule"
        description = f"Run `{last_run_id}` of {job} succeeded at {last_success_at}."
        message_id = f"resumed:{job}:{last_run_id}"
    context = {
        "schema": SCHEMA,
        "event": event,
        "project": project,
        "environment": environment,
        "job": job,
        "status": "MISSED" if event == "missed" else "SUCCEEDED",
        "slack_route": slack_route,
        "schedule": schedule,
        "timezone": timezone,
        "expected_by": expected_by,
        "last_success_at": last_success_at,
        "last_run_id": last_run_id,
        "last_status": last_status,
    }
    if console_url:
        context["console_url"] = console_url
    document = {
        "version": "1.0",
        "source": "custom",
        "id": message_id,
        "content": {
            "textType": "client-markdown",
            "title": title[:250],
            "description": description[:8000],
            "nextSteps": [f"State machine: {console_url}"] if console_url else [],
        },
        "metadata": {
            "threadId": thread,
            "summary": title[:250],
            "eventType": f"jobctl.{event}",
            "relatedResources": [],
            "additionalContext": context,
        },
    }
    Alert.model_validate(document)  # what we publish, we must be able to read
    return document
