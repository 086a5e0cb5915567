"""The alert message (`jobctl.alert/1`): the one definition of the contract, parsing what
arrives on the topic, and building what the watchdog publishes.

These models *are* the contract: alert-schema.json next to this file is generated from them
(`python -m chalicelib.alerts.message` writes it, a unit test fails when it is stale), the
compiler takes the additionalContext keys of the state machines' messages from them
(jobctl/compile/asl.py), and the watchdog's messages are built with them. CONTRACT.md
explains the message. It is an AWS Chatbot custom notification, so Chatbot relays it
unchanged; the notifier reads `additionalContext`.

Invariants:
- `parse_alert` either returns a valid `Alert` or raises `MalformedAlert` with a one-line
  reason (never the whole message, never a traceback): a malformed message can never
  succeed, so the notifier logs it and does not ask SNS to retry it.
- Models forbid unknown fields: a field added to the message means a new schema version
  (or this model and the schema change together, notifier deployed first).
- One context model per event, so which status goes with which event is structure (in the
  models and in the schema alike), not a check beside them.
- Producers send every additionalContext field except a kind's `OPTIONAL` ones (the schema
  requires them). Consumers are more lenient with the fields added to v1 after its first
  release (`triggered_by`, `task_arn`, `console_url`, and `exit_code`, `stopped_reason`,
  `error` that JSONata could leave out): they default to '' so alerts from state machines
  built before them still render. Optional fields are left out of a message, never ''.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

SCHEMA = "jobctl.alert/1"
SCHEMA_PATH = Path(__file__).with_name("alert-schema.json")
SCHEMA_ID = "https://jobctl.dev/schemas/jobctl.alert/1.json"
SCHEMA_DESCRIPTION = (
    "The message jobctl publishes to its alert SNS topic (<project>-<env>-alerts). It is an "
    "AWS Chatbot (Amazon Q Developer in chat applications) custom notification, so Chatbot "
    "can relay it to Slack unchanged; jobctl's own notifier reads metadata.additionalContext. "
    "Producers: the state machines (failure, recovery) and the missed-run watchdog (missed, "
    "resumed). Explained in chalicelib/alerts/CONTRACT.md."
)
RunEvent = Literal["failure", "recovery"]
WatchEvent = Literal["missed", "resumed"]
NonEmpty = Annotated[str, Field(min_length=1)]
Time = Annotated[
    str,
    Field(
        pattern=r"^(|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z)$",
        description="ISO 8601 UTC (2026-03-01T03:00:00Z, milliseconds optional) or '' when unknown.",
    ),
]
Text = Annotated[
    str, Field(description="Free text from AWS (bounded there); renderers truncate it.")
]

# additionalContext fields both kinds carry. Declared once here; each kind lists them in
# its own wire order (the order the state machines' JSONata has always written).
SchemaTag = Annotated[
    Literal["jobctl.alert/1"],
    Field(alias="schema", description="Bumped on any incompatible change."),
]
Project = NonEmpty
Environment = Annotated[str, Field(description="'' for a registry without environments.")]
Job = NonEmpty
SlackRoute = Annotated[
    str, Field(min_length=1, description="alerts.slack of the job in jobs.yaml, or 'default'.")
]
ConsoleUrl = Annotated[str, Field(pattern=r"^https://")]
LogUrl = Annotated[
    str,
    Field(
        description=(
            "Optional. The state machines leave it out (log settings are known at deploy "
            "time); the notifier derives it from the job's META config and task_arn."
        )
    ),
]


class MalformedAlert(ValueError):
    """Not a jobctl.alert/1 message; the text says what is wrong, in one line."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _required_of_producers(schema: dict[str, Any], model: type[Any]) -> None:
    # The schema states what producers must send, which is more than consumers insist on
    # (see the module docstring): every field except the kind's OPTIONAL ones. A default on
    # a required field would read as "may be left out", so only optional fields show one.
    schema["required"] = model.producer_keys()
    for key in schema["required"]:
        schema["properties"][key].pop("default", None)


class _Context(_Strict):
    """metadata.additionalContext: what jobctl's notifier reads."""

    model_config = ConfigDict(json_schema_extra=_required_of_producers)

    # Fields producers may leave out (and then do: never '').
    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"log_url"})

    @classmethod
    def producer_keys(cls) -> list[str]:
        """The keys a producer of this kind sends, in wire order."""
        keys = [field.alias or name for name, field in cls.model_fields.items()]
        return [key for key in keys if key not in cls.OPTIONAL]

    def omitted(self) -> set[str]:
        """The optional fields that are empty (left out of the message)."""
        return {
            name
            for name, field in type(self).model_fields.items()
            if (field.alias or name) in self.OPTIONAL and getattr(self, name) == ""
        }


class RunContext(_Context):
    """A run ended: failure (FAILED, TIMED_OUT) or recovery (SUCCEEDED after a failure)."""

    schema_: SchemaTag
    event: RunEvent
    project: Project
    environment: Environment
    job: Job
    run_id: Annotated[
        str, Field(min_length=1, description="The run (Step Functions execution name).")
    ]
    execution_arn: Annotated[str, Field(pattern=r"^arn:[^:]+:states:")]
    status: Literal["FAILED", "TIMED_OUT", "SUCCEEDED"]
    trigger: Annotated[str, Field(description="schedule | manual | rerun | slack")]
    triggered_by: Annotated[str, Field(description="IAM ARN, slack:<user id>, or ''.")] = ""
    scheduled_time: Annotated[
        str,
        Field(
            description="The trigger's scheduled time as delivered (ISO 8601), '' for manual runs."
        ),
    ]
    started_at: Time
    ended_at: Time
    attempts: Annotated[str, Field(pattern=r"^\d+$")]
    exit_code: Annotated[
        str,
        Field(
            pattern=r"^(|-?\d+)$",
            description="'' when the container never exited (no task, timeout).",
        ),
    ] = ""
    stopped_reason: Text = ""
    error: Text = ""
    task_arn: Annotated[
        str, Field(description="The ECS task of the last attempt, '' when none started.")
    ] = ""
    console_url: Annotated[
        ConsoleUrl, Field(description="The execution in the Step Functions console.")
    ] = ""
    slack_route: SlackRoute
    rerun_command: Annotated[str, Field(pattern=r"^jobctl rerun ")]
    log_url: LogUrl = ""


class FailureContext(RunContext):
    """A run failed after its retries."""

    event: Literal["failure"]
    status: Literal["FAILED", "TIMED_OUT"]


class RecoveryContext(RunContext):
    """The first success after a failed run."""

    event: Literal["recovery"]
    status: Literal["SUCCEEDED"]


class WatchContext(_Context):
    """The watchdog: no success within the expected interval (missed), then one (resumed)."""

    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"console_url", "log_url"})

    schema_: SchemaTag
    event: WatchEvent
    project: Project
    environment: Environment
    job: Job
    status: Literal["MISSED", "SUCCEEDED"]
    slack_route: SlackRoute
    schedule: Annotated[str, Field(min_length=1, description="The job's schedule expression.")]
    timezone: Annotated[str, Field(description="IANA zone, '' for UTC.")]
    expected_by: Annotated[Time, Field(description="The deadline that passed.")]
    last_success_at: Time
    last_run_id: str
    last_status: str
    console_url: Annotated[
        ConsoleUrl, Field(description="Optional. The job's state machine in the console.")
    ] = ""
    log_url: LogUrl = ""


class MissedContext(WatchContext):
    """No successful run by the next fire time after the last success + grace."""

    event: Literal["missed"]
    status: Literal["MISSED"]


class ResumedContext(WatchContext):
    """The first success after a `missed` alert."""

    event: Literal["resumed"]
    status: Literal["SUCCEEDED"]


Context = Annotated[
    FailureContext | RecoveryContext | MissedContext | ResumedContext,
    Field(
        discriminator="event",
        description="Chatbot takes a map of strings: every value is a string, '' when unknown.",
    ),
]


class Content(_Strict):
    """What Chatbot shows."""

    textType: Annotated[
        Literal["client-markdown"], Field(description="Chatbot: the only supported text type.")
    ]
    title: Annotated[str, Field(min_length=1, max_length=250)]
    description: Annotated[str, Field(min_length=1, max_length=8000)]
    nextSteps: Annotated[list[Annotated[str, Field(max_length=1000)]], Field(max_length=5)] = []


class Metadata(_Strict):
    """How Chatbot threads the message, and jobctl's own facts (additionalContext)."""

    threadId: Annotated[
        str,
        Field(
            min_length=1,
            max_length=256,
            description="<project>[-<env>]-<job>: Chatbot threads every alert of one job together.",
        ),
    ]
    summary: Annotated[str, Field(min_length=1, max_length=250)]
    eventType: Literal["jobctl.failure", "jobctl.recovery", "jobctl.missed", "jobctl.resumed"]
    relatedResources: list[NonEmpty]
    additionalContext: Context


class Alert(_Strict):
    """A jobctl.alert/1 message."""

    version: Annotated[Literal["1.0"], Field(description="Chatbot: must be 1.0.")]
    source: Annotated[Literal["custom"], Field(description="Chatbot: must be custom.")]
    id: Annotated[
        str,
        Field(
            min_length=1,
            max_length=256,
            description=(
                "Unique event id: the run id (failure, recovery) or missed:<job>:<deadline> "
                "/ resumed:<job>:<run id> (watchdog)."
            ),
        ),
    ]
    content: Content
    metadata: Metadata

    @property
    def context(self) -> RunContext | WatchContext:
        return self.metadata.additionalContext

    # Not in the schema (JSON Schema cannot compare two fields): the model alone checks it.
    @model_validator(mode="after")
    def _event_type_matches(self) -> Alert:
        if self.metadata.eventType != f"jobctl.{self.context.event}":
            raise ValueError("metadata.eventType does not match additionalContext.event")
        return self

    def to_message(self) -> dict[str, Any]:
        """The message as published (a JSON-ready dict): empty optional fields left out."""
        omitted = self.context.omitted()
        exclude = {"metadata": {"additionalContext": omitted}} if omitted else None
        return self.model_dump(mode="json", by_alias=True, exclude=exclude)


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
    facts = {
        "schema_": SCHEMA,
        "project": project,
        "environment": environment,
        "job": job,
        "slack_route": slack_route,
        "schedule": schedule,
        "timezone": timezone,
        "expected_by": expected_by,
        "last_success_at": last_success_at,
        "last_run_id": last_run_id,
        "last_status": last_status,
    }
    if console_url:  # optional: left out rather than '' (which its pattern refuses)
        facts["console_url"] = console_url
    context: MissedContext | ResumedContext
    if event == "missed":
        title = f"{where} {job}: no successful run"
        since = f"since {last_success_at}" if last_success_at else "since it was first watched"
        description = (
            f"No successful run of {job} {since}; one was expected by {expected_by} "
            f"(schedule `{schedule}`{f' {timezone}' if timezone else ''})."
        )
        message_id = f"missed:{job}:{expected_by}"
        context = MissedContext(event="missed", status="MISSED", **facts)
    else:
        title = f"{where} {job}: back on schedule"
        description = f"Run `{last_run_id}` of {job} succeeded at {last_success_at}."
        message_id = f"resumed:{job}:{last_run_id}"
        context = ResumedContext(event="resumed", status="SUCCEEDED", **facts)
    # Constructing the models validates the message: what we publish, we can read.
    alert = Alert(
        version="1.0",
        source="custom",
        id=message_id,
        content=Content(
            textType="client-markdown",
            title=title[:250],
            description=description[:8000],
            nextSteps=[f"State machine: {console_url}"] if console_url else [],
        ),
        metadata=Metadata(
            threadId=thread,
            summary=title[:250],
            eventType=f"jobctl.{event}",
            relatedResources=[],
            additionalContext=context,
        ),
    )
    return alert.to_message()


# ------------------------------------------------------------------------- the JSON Schema


def json_schema() -> dict[str, Any]:
    """alert-schema.json: `Alert`'s JSON Schema (2020-12), as producers must follow it."""
    generated = _untitled(Alert.model_json_schema())
    generated.pop("description", None)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": SCHEMA,
        "description": SCHEMA_DESCRIPTION,
        "$comment": "Generated from chalicelib/alerts/message.py: python -m chalicelib.alerts.message",
        **generated,
    }


def render_json_schema() -> str:
    """The committed text of alert-schema.json: sorted keys, 2-space indent, final newline."""
    return json.dumps(json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _untitled(node: Any) -> Any:
    """`node` without pydantic's generated titles (class and field names, noise to readers).

    Only `title` keywords go: under `properties` and `$defs` the keys are names, kept even
    when a property is called `title` (content.title).
    """
    if isinstance(node, list):
        return [_untitled(item) for item in node]
    if not isinstance(node, dict):
        return node
    return {
        key: (
            {name: _untitled(schema) for name, schema in value.items()}
            if key in ("properties", "$defs")
            else _untitled(value)
        )
        for key, value in node.items()
        if key != "title"
    }


def main(argv: list[str] | None = None) -> int:
    """`python -m chalicelib.alerts.message [--check]`: write (or check) alert-schema.json."""
    args = sys.argv[1:] if argv is None else argv
    text = render_json_schema()
    if args == ["--check"]:
        if SCHEMA_PATH.read_text() != text:
            print(f"{SCHEMA_PATH} is stale: run python -m chalicelib.alerts.message")
            return 1
        return 0
    if args:
        print("usage: python -m chalicelib.alerts.message [--check]")
        return 2
    SCHEMA_PATH.write_text(text)
    print(f"wrote {SCHEMA_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
