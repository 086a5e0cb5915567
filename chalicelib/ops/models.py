"""The operator API's request and response shapes (the CLI prints the same models).

Requests are strict (`extra="forbid"`, strings only where AWS wants strings) so a typo in a
field is an error, not a silently ignored option; a `reason` holds no character a terminal
would interpret (`chalicelib.core.text.UNSAFE`: ESC, C0/C1 controls, bidi overrides), since
other operators read it in `jobctl show`; nor does a manual run's parameter value. Responses are what AWS holds, converted
once here: stored JSON strings become objects, empty strings become null.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from chalicelib.core.text import unsafe_character


def _printable(text: str) -> str:
    found = unsafe_character(text)
    if found is not None:
        raise ValueError(
            f"contains the control character {found} (escape sequences, C1 controls and "
            "bidirectional overrides are refused)"
        )
    return text


Reason = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
    AfterValidator(_printable),
]
# A parameter value is shown by `jobctl show` too. `parameters.check_parameters` checks the
# rest (length, enum, pattern) and re-checks the values of a re-run, which skip this model.
ParameterValue = Annotated[str, AfterValidator(_printable)]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


# An operator's explicit override of the job's concurrency policy: "allow" runs a manual run
# or re-run of a `forbid` job beside the running one (no lock taken); refused for `replace`
# jobs, a no-op for `allow` jobs. Recorded on the run as `concurrency_override`.
ConcurrencyOverride = Literal["allow"]


class ManualRunRequest(Request):
    parameters: dict[str, ParameterValue] = Field(default_factory=dict, max_length=50)
    reason: Reason
    concurrency: ConcurrencyOverride | None = None


class RerunRequest(Request):
    reason: Reason | None = None
    concurrency: ConcurrencyOverride | None = None


class PauseRequest(Request):
    reason: Reason | None = None


class StopRequest(Request):
    """POST /runs/{id}/stop: why (required, as for a manual run: other operators read it)."""

    reason: Reason


class Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ParameterInfo(Response):
    description: str | None = None
    pattern: str | None = None
    enum: list[str] | None = None
    default: str | None = None
    required: bool = False


class JobSummary(Response):
    # `next_run` of a rate() schedule is exact only when it can be derived from a fire time
    # AWS actually produced (the last scheduled run); otherwise it is an estimate, and
    # `next_run_exact` says so (EventBridge counts rates from the rule's creation time,
    # which AWS does not report).
    name: str
    description: str | None = None
    owner: str | None = None
    schedule: str
    timezone: str | None = None
    enabled: bool
    paused: bool
    next_run: str | None = None
    next_run_exact: bool = True
    paused_by: str | None = None
    paused_at: str | None = None
    paused_reason: str | None = None
    last_status: str | None = None
    last_run: str | None = None
    last_ended_at: str | None = None


class JobDetail(JobSummary):
    environment: str | None = None
    concurrency: str
    timeout: int
    retries: int
    cluster: str
    task_definition: str
    container: str
    trigger: str
    state_machine_arn: str
    parameters: dict[str, ParameterInfo]
    next_runs: list[str] = Field(default_factory=list)
    retry_interval: int = 0
    retry_backoff_rate: float = 1.0
    starting_deadline: int | None = None
    recent_runs: list[RunSummary] = Field(default_factory=list)


class RunSummary(Response):
    run_id: str
    job: str
    status: str
    trigger: str | None = None
    # Claimed by whoever started the execution (the API: the caller API Gateway verified);
    # Step Functions does not say who called StartExecution. CloudTrail is the audit record.
    triggered_by: str | None = Field(
        default=None,
        description="Who the starter of the run says asked for it; not verified for runs "
        "started by a direct StartExecution (see CloudTrail for who called it).",
    )
    scheduled_time: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    attempts: int | None = None
    exit_code: int | None = None
    skip_reason: str | None = None
    duration_seconds: int | None = None
    # "allow": an operator started this run beside the lock's holder (`--concurrency allow`).
    concurrency_override: str | None = None


class RunDetail(RunSummary):
    reason: str | None = None
    rerun_of: str | None = None
    parameters: dict[str, str] = Field(default_factory=dict)
    stopped_reason: str | None = None
    error: str | None = None
    cause: str | None = None
    task_arn: str | None = None
    execution_arn: str | None = None
    console_url: str | None = None
    log_url: str | None = None
    # Who stopped the run (`jobctl stop`, POST /runs/{id}/stop) and why.
    aborted_by: str | None = None
    abort_reason: str | None = None
    # `cause` in plain words (the raw `cause` stays, for --json and the API).
    summary: str | None = None
    # False: no record yet (or ever: the execution failed before its claim step); this
    # is what the execution itself says.
    recorded: bool = True


class RunPage(Response):
    runs: list[RunSummary]
    next_token: str | None = None


class RunStarted(Response):
    job: str
    run_id: str
    execution_arn: str
    rerun_of: str | None = None
    triggered_by: str
    concurrency_override: str | None = None


class PauseState(Response):
    job: str
    paused: bool
    by: str
    at: str
    reason: str | None = None
    # False when the job was already paused and nothing was changed (who and why kept).
    changed: bool = True


class Attempt(Response):
    """One attempt of a run: one ECS task (or one refused RunTask), read from the
    execution's history as Step Functions recorded it (TaskScheduled, TaskSubmitted,
    TaskSucceeded/TaskFailed/TaskTimedOut of the ecs:runTask resource)."""

    number: int
    status: Literal["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]
    task_arn: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    exit_code: int | None = None
    stopped_reason: str | None = None
    error: str | None = None
    summary: str | None = None
    log_url: str | None = None
    # The wait the job's retry policy puts after this attempt when it failed and another
    # attempt is due (None: no retry follows, or not one of the job's own failures).
    retry_wait: int | None = None


class Progress(Response):
    """A run as its execution tells it: status, error and each attempt so far. What
    `--wait` follows, including before (or without) a run record."""

    run_id: str
    job: str
    execution_arn: str
    status: str
    error: str | None = None
    cause: str | None = None
    summary: str | None = None
    attempts: list[Attempt] = Field(default_factory=list)
    # Seconds the retry policy waits before the next attempt, while one is due.
    next_attempt_in: int | None = None


class LogLine(Response):
    attempt: int
    timestamp: str
    message: str


class RunLogs(Response):
    """GET /runs/{id}/logs: one page of the task logs of one attempt (or of all)."""

    run_id: str
    job: str
    status: str
    attempt: int | None = Field(
        default=None, description="the attempt shown; null when all attempts are"
    )
    attempts: list[Attempt] = Field(default_factory=list)
    lines: list[LogLine] = Field(default_factory=list)
    # Present while more lines may come: the rest of a stream, or a run still running.
    next_token: str | None = None


class RunStopped(Response):
    run_id: str
    job: str
    status: str
    aborted_by: str
    abort_reason: str
    at: str
    stopped_tasks: list[str] = Field(default_factory=list)


def run_fields(item: dict[str, Any], model: type[RunSummary]) -> dict[str, Any]:
    """A stored run item as `model`'s fields: empty strings are unknowns, JSON is parsed."""
    values = {
        name: item.get(name) for name in model.model_fields if item.get(name) not in ("", None)
    }
    duration = _seconds_between(item.get("started_at"), item.get("ended_at"))
    if duration is not None:
        values["duration_seconds"] = duration
    if "parameters" in values:
        try:
            parsed = json.loads(str(values["parameters"]))
        except (TypeError, ValueError):
            parsed = {}
        values["parameters"] = (
            {str(k): str(v) for k, v in parsed.items()} if isinstance(parsed, dict) else {}
        )
    return values


def _seconds_between(start: object, end: object) -> int | None:
    """Whole seconds from `start` to `end` (ISO 8601 texts); None if either is unknown."""
    from datetime import datetime

    if not isinstance(start, str) or not isinstance(end, str) or not start or not end:
        return None
    try:
        began = datetime.fromisoformat(start.replace("Z", "+00:00"))
        ended = datetime.fromisoformat(end.replace("Z", "+00:00"))
        seconds = (ended - began).total_seconds()
    except (ValueError, TypeError):
        return None
    return max(0, round(seconds))


JobDetail.model_rebuild()
