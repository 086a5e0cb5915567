"""The operator API's request and response shapes (the CLI prints the same models).

Requests are strict (`extra="forbid"`, strings only where AWS wants strings) so a typo in a
field is an error, not a silently ignored option. Responses are what AWS holds, converted
once here: stored JSON strings become objects, empty strings become null.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ManualRunRequest(Request):
    parameters: dict[str, str] = Field(default_factory=dict, max_length=50)
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
    triggered_by: str | None = None
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
