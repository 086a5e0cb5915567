"""What deploy records about a job: the typed contract between deploy and the runtime.

`jobctl apply` writes one `DeployedJob` per job into the job's META item (attribute
`config`, JSON); the operator API, the watchdog, the notifier and the run links read it
back with `DeployedJob.from_json`. The Lambda never reads jobs.yaml, so this is all it
knows about a job. Invariants:

* One model, read once per item, by every reader: no reader indexes the JSON by string.
* Versioned: `version` says which shape was written. An item written before versions
  existed (no `version`: its retry policy was only `retries`) is read as version 1 with
  zero-length retry waits; a version this code does not know is refused with a message
  that says to deploy the matching runtime, never guessed at.
* `to_json` is deterministic (sorted keys), so an unchanged job plans to nothing.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from chalicelib.core.runtime import RetryTiming, worst_case_seconds

VERSION = 1


class DeployedJobError(ValueError):
    """A META `config` this runtime cannot read."""


class _Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeployedParameter(_Contract):
    """A parameter an operator may set on a manual run, as jobs.yaml declared it."""

    description: str | None = None
    pattern: str | None = None
    enum: list[str] | None = None
    default: str | None = None
    required: bool = False


class DeployedRetry(_Contract):
    """The job's retry policy for its own failures (capacity retries are the machine's)."""

    retries: int = 0
    interval: int = 0
    backoff_rate: float = 1.0
    max_interval: int | None = None

    @property
    def timing(self) -> RetryTiming:
        return RetryTiming(self.retries, self.interval, self.backoff_rate, self.max_interval)


class LogSettings(_Contract):
    """The job container's awslogs settings, read from its task definition at deploy."""

    group: str
    region: str
    stream_prefix: str | None = None


class DeployedJob(_Contract):
    version: Literal[1] = 1
    job: str
    project: str
    environment: str | None = None
    description: str | None = None
    owner: str | None = None
    schedule: str  # canonical EventBridge expression
    schedule_source: str  # as written in jobs.yaml
    timezone: str | None = None
    enabled: bool = True
    concurrency: Literal["allow", "forbid", "replace"]
    timeout: int
    retry: DeployedRetry = DeployedRetry()
    starting_deadline: int | None = None
    alerts: list[str] = []
    slack: str | None = None
    parameters: dict[str, DeployedParameter] = {}
    cluster: str
    task_definition: str
    container: str
    state_machine_arn: str
    trigger: Literal["rule", "schedule"]
    logs: LogSettings | None = None
    secret_names: list[str] = []

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        if isinstance(data, dict) and "version" not in data and "retry" not in data:
            # Written before the contract was versioned: `retries` alone, no waits recorded.
            old = dict(data)
            old["retry"] = {"retries": old.pop("retries", 0)}
            old["version"] = VERSION
            return old
        if isinstance(data, dict) and data.get("version", VERSION) != VERSION:
            raise ValueError(
                f"written by a newer jobctl (version {data.get('version')!r}; this runtime "
                f"reads {VERSION}): deploy the API from the same checkout as `jobctl apply`"
            )
        return data

    @property
    def retries(self) -> int:
        return self.retry.retries

    @property
    def worst_case_seconds(self) -> int:
        """The longest one run of this job can take (`chalicelib.core.runtime`)."""
        return worst_case_seconds(self.timeout, self.retry.timing)

    @classmethod
    def from_json(cls, text: str | bytes) -> DeployedJob:
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            raise DeployedJobError(f"deployed job config is unreadable: {_first(exc)}") from None

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> DeployedJob:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise DeployedJobError(f"deployed job config is unreadable: {_first(exc)}") from None

    def to_data(self) -> dict[str, Any]:
        """The JSON-shaped document (what DynamoDB holds, parsed)."""
        data: dict[str, Any] = json.loads(self.to_json())
        return data

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True)


def _first(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "config"
    return f"{where}: {error['msg']}"
