"""Step Functions execution status changes -> run records; the reconciler for lost events.

EventBridge delivers "Step Functions Execution Status Change" events best effort: they can
arrive twice, out of order, or never. The state machine records most outcomes itself (with
exit code and attempts); the recorder fills what it cannot: ABORTED executions (no state
runs after an abort, so the recorder also frees the lock) and runs that ended before or
without their own record. The reconciler finds RUNNING records whose execution has ended
and records them the same way. An execution's status is its run's (`RunStatus`); changes
to a status no run ends in (PENDING_REDRIVE) are ignored.
Invariants: applying the same change twice, or an older change after a newer one, never
moves a record backwards (see RunStore); changes of other projects' machines are ignored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalicelib.core import history as schema
from chalicelib.core.history import CAUSE_LIMIT, EXECUTION_ENDED, RunStatus
from chalicelib.history.store import RunStore


def _iso(value: Any) -> str | None:
    """Epoch milliseconds (events) or datetimes (API) -> the state machine's ISO format."""
    if value is None:
        return None
    if isinstance(value, int | float):
        value = datetime.fromtimestamp(value / 1000, tz=UTC)
    if isinstance(value, datetime):
        return (
            value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.")
            + f"{value.microsecond // 1000:03d}Z"
        )
    return str(value)


@dataclass(frozen=True)
class ExecutionChange:
    execution_arn: str
    state_machine_arn: str
    name: str
    status: str
    started_at: str | None
    stopped_at: str | None
    input: dict[str, Any]
    error: str | None = None
    cause: str | None = None

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> ExecutionChange:
        """From an EventBridge event; ValueError when it is not a status change we can use."""
        if event.get("detail-type") != "Step Functions Execution Status Change":
            raise ValueError(f"not an execution status change: {event.get('detail-type')!r}")
        detail = event.get("detail") or {}
        missing = [
            key
            for key in ("executionArn", "stateMachineArn", "name", "status")
            if not detail.get(key)
        ]
        if missing:
            raise ValueError(f"status change without {', '.join(missing)}")
        # The event's detail carries DescribeExecution's fields (dates as epoch ms).
        return cls.from_description(detail)

    @classmethod
    def from_description(cls, described: dict[str, Any]) -> ExecutionChange:
        """From DescribeExecution (the reconciler's source) or an event's detail."""
        return cls(
            execution_arn=described["executionArn"],
            state_machine_arn=described["stateMachineArn"],
            name=described["name"],
            status=described["status"],
            started_at=_iso(described.get("startDate")),
            stopped_at=_iso(described.get("stopDate")),
            input=_json_object(described.get("input")),
            error=described.get("error"),
            cause=described.get("cause"),
        )


def _json_object(text: Any) -> dict[str, Any]:
    try:
        value = json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class Recorder:
    def __init__(self, store: RunStore, prefix: str) -> None:
        self.store = store
        self.prefix = f"{prefix}-"

    def job_of(self, state_machine_arn: str) -> str | None:
        name = state_machine_arn.rsplit(":", 1)[-1]
        return name.removeprefix(self.prefix) if name.startswith(self.prefix) else None

    def record(self, change: ExecutionChange) -> str:
        """Apply one change; returns 'created', 'finished', 'unchanged' or 'ignored'."""
        job = self.job_of(change.state_machine_arn)
        if job is None:
            return "ignored"
        started = change.started_at or change.stopped_at or ""
        identity = {
            "run_id": change.name,
            "job": job,
            "execution_arn": change.execution_arn,
            "trigger": change.input.get("trigger", "schedule"),
            "triggered_by": change.input.get("triggered_by", ""),
            "scheduled_time": change.input.get("scheduled_time", ""),
            "parameters": json.dumps(change.input.get("parameters", {}), sort_keys=True),
            "started_at": started,
            "job_time": schema.job_time(started, change.name),
            "status_time": schema.status_time(started, job, change.name),
        }
        if change.status == RunStatus.RUNNING:
            return "created" if self.store.put_running(job, change.name, identity) else "unchanged"
        if change.status not in EXECUTION_ENDED:
            return "ignored"
        existing = self.store.get(job, change.name)
        fields: dict[str, Any] = {"ended_at": change.stopped_at or started}
        if existing is None:
            fields.update(identity)  # the RUNNING change never arrived
        if change.error:
            fields["error"] = change.error
        if change.cause:
            fields["cause"] = change.cause[:CAUSE_LIMIT]
        finished = self.store.finish(job, change.name, change.status, fields)
        if change.status != RunStatus.SUCCEEDED:
            # An aborted (or crashed) execution never reached its own Release state.
            self.store.release_lock(job, change.execution_arn, change.status)
        return "finished" if finished else "unchanged"


class Reconciler:
    """Repairs RUNNING records whose execution ended without a status change reaching us."""

    def __init__(self, store: RunStore, stepfunctions: Any, recorder: Recorder) -> None:
        self.store = store
        self.stepfunctions = stepfunctions
        self.recorder = recorder

    def run(self, page_size: int = 100) -> list[tuple[str, str]]:
        repaired: list[tuple[str, str]] = []
        token: str | None = None
        while True:
            page = self.store.by_status(RunStatus.RUNNING, limit=page_size, next_token=token)
            for item in page.items:
                described = self.stepfunctions.describe_execution(
                    executionArn=item["execution_arn"]
                )
                if described["status"] == RunStatus.RUNNING:
                    continue
                change = ExecutionChange.from_description(described)
                if self.recorder.record(change) == "finished":
                    repaired.append((item["job"], item["run_id"]))
            token = page.next_token
            if token is None:
                return repaired
