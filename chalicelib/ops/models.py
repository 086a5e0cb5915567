"""The operator API's request and response shapes (the CLI prints the same models).

Requests are strict (`extra="forbid"`, strings only where AWS wants strings) so a typo in a
field is an error, not a silently ignored option; a `reason` holds no character a terminal
would interpret (`chalicelib.core.text.UNSAFE`: ESC, C0/C1 controls, bidi overrides), since
other operators read it in `jobctl show`; nor does a manual run's parameter value. Responses are what AWS holds, converted
once here: stored JSON strings become objects, empty strings become null.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

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


class ManualRunRequest(Request):
    parameters: dict[str, ParameterValue] = Field(default_factory=dict, max_length=50)
    reason: Reason


class RerunRequest(Request):
    reason: Reason | None = None


class PauseRequest(Request):
    reason: Reason | None = None


class Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ParameterInfo(Response):
    description: str | None = None
    pattern: str | None = None
    enum: list[str] | None = None
    default: str | None = None
    required: bool = False


class JobSummary(Response):
    name: str
    description: str | None = None
    owner: str | None = None
    schedule: str
    timezone: str | None = None
    enabled: bool
    paused: bool
    next_run: str | None = None
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
    paused_by: str | None = None
    paused_at: str | None = None
    paused_reason: str | None = None
    next_runs: list[str] = Field(default_factory=list)


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


class RunDetail(RunSummary):
    reason: str | None = None
    rerun_of: str | None = None
    skip_reason: str | None = None
    parameters: dict[str, str] = Field(default_factory=dict)
    stopped_reason: str | None = None
    error: str | None = None
    cause: str | None = None
    task_arn: str | None = None
    execution_arn: str | None = None
    console_url: str | None = None
    log_url: str | None = None


class RunPage(Response):
    runs: list[RunSummary]
    next_token: str | None = None


class RunStarted(Response):
    job: str
    run_id: str
    execution_arn: str
    rerun_of: str | None = None
    triggered_by: str


class PauseState(Response):
    job: str
    paused: bool
    by: str
    at: str


def run_fields(item: dict[str, Any], model: type[RunSummary]) -> dict[str, Any]:
    """A stored run item as `model`'s fields: empty strings are unknowns, JSON is parsed."""
    values = {
        name: item.get(name) for name in model.model_fields if item.get(name) not in ("", None)
    }
    if "parameters" in values:
        try:
            parsed = json.loads(str(values["parameters"]))
        except (TypeError, ValueError):
            parsed = {}
        values["parameters"] = (
            {str(k): str(v) for k, v in parsed.items()} if isinstance(parsed, dict) else {}
        )
    return values
