"""Operator use cases behind the API and the ops CLI: list, inspect, run, re-run, pause.

Reads go to the history table (key lookups on its indexes, never scans); runs start with
Step Functions StartExecution on the job's deployed state machine, whose ARN deploy stored
in the job's META item (the API never reads jobs.yaml). Invariants: a manual run carries
who asked and why (`triggered_by`, `reason`) in its execution input, so the state machine
records them in the same write that creates the run; a re-run repeats the original's
parameters, re-checked against the job's current declaration, and links back to it; pause
and resume only flip the META flag the claim step checks, so the deployed trigger never
drifts from jobs.yaml.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from botocore.exceptions import ClientError

from chalicelib.aws.clients import ClientFactory, error_code
from chalicelib.core.deployed import DeployedJob
from chalicelib.core.durations import parse_duration
from chalicelib.core.history import MAX_PAGE, STATUSES
from chalicelib.core.schedule import ScheduleError, next_fire_times, parse_expression
from chalicelib.history.links import log_stream, with_links
from chalicelib.history.store import RunStore
from chalicelib.history.tokens import BadToken
from chalicelib.ops.errors import Conflict, InvalidRequest, NotFound, Unavailable
from chalicelib.ops.models import (
    JobDetail,
    JobSummary,
    ManualRunRequest,
    ParameterInfo,
    PauseState,
    RunDetail,
    RunPage,
    RunStarted,
    RunSummary,
    run_fields,
)
from chalicelib.ops.parameters import check_parameters

Clock = Callable[[], datetime]


def parse_since(text: str | None, now: datetime) -> str | None:
    """`24h`, `7d`, `90m` (ago) or an ISO 8601 instant -> the ISO prefix the indexes sort by.

    A window reaching before year 1 or an instant that is not one in UTC (`0001-01-01` at
    +01:00) is a 400 naming `since`, not an OverflowError."""
    if text is None or text == "":
        return None
    try:
        seconds = parse_duration(text)
    except ValueError:
        seconds = None
    try:
        if seconds is not None:
            instant = now - timedelta(seconds=seconds)
        else:
            instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if instant.tzinfo is None:
                instant = instant.replace(tzinfo=UTC)
        # Years before 1000 would not sort as ISO text against the stored times.
        moment = instant.astimezone(UTC)
        if moment.year < 1000:
            raise OverflowError
    except ValueError:
        raise InvalidRequest(
            f"since '{text[:40]}' is neither a duration (24h, 7d) nor an ISO 8601 time",
            field="since",
        ) from None
    except OverflowError:
        raise InvalidRequest(
            f"since '{text[:40]}' is out of range (a duration up to the year 1000, or an "
            "ISO 8601 time between the years 1000 and 9999)",
            field="since",
        ) from None
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def parse_limit(text: str | int | None) -> int:
    if text is None or text == "":
        return 20
    try:
        limit = int(text)
    except (TypeError, ValueError):
        raise InvalidRequest("limit must be a whole number", field="limit") from None
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}", field="limit")
    return limit


def parse_status(text: str | None) -> str | None:
    if text is None or text == "":
        return None
    status = text.upper()
    if status not in STATUSES:
        raise InvalidRequest(
            f"status '{text[:40]}' is not one of {', '.join(STATUSES)}", field="status"
        )
    return status


class OpsService:
    def __init__(
        self,
        store: RunStore,
        stepfunctions: Callable[[], Any],
        logs: Callable[[], Any],
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self._stepfunctions = stepfunctions
        self._logs = logs
        self.clock = clock

    @classmethod
    def create(cls, factory: ClientFactory, table: str) -> OpsService:
        return cls(
            RunStore(factory.client("dynamodb"), table),
            lambda: factory.client("stepfunctions"),
            lambda: factory.client("logs"),
        )

    @classmethod
    def from_environment(cls) -> OpsService:
        table = os.environ.get("JOBCTL_HISTORY_TABLE")
        if not table:
            raise RuntimeError("the function's environment lacks JOBCTL_HISTORY_TABLE")
        return cls.create(ClientFactory(), table)

    # ------------------------------------------------------------------ jobs

    def list_jobs(self) -> list[JobSummary]:
        now = self.clock()
        return [
            JobSummary(
                **self._summary({**meta, "config": DeployedJob.from_json(meta["config"])}, now, 1)
            )
            for meta in self.store.jobs()
        ]

    def job(self, name: str) -> JobDetail:
        meta = self._meta(name)
        config: DeployedJob = meta["config"]
        fields = self._summary(meta, self.clock(), 5)
        return JobDetail(
            **fields,
            environment=config.environment,
            concurrency=config.concurrency,
            timeout=config.timeout,
            retries=config.retries,
            cluster=config.cluster,
            task_definition=config.task_definition,
            container=config.container,
            trigger=config.trigger,
            state_machine_arn=config.state_machine_arn,
            parameters={
                key: ParameterInfo(**spec.model_dump()) for key, spec in config.parameters.items()
            },
            paused_by=meta.get("paused_by"),
            paused_at=meta.get("paused_at"),
            paused_reason=meta.get("paused_reason"),
        )

    def _meta(self, name: str) -> dict[str, Any]:
        meta = self.store.meta(name)
        if not meta.get("config"):
            raise NotFound(f"no job named '{name[:100]}' is deployed")
        return {**meta, "config": DeployedJob.from_json(meta["config"])}

    def _summary(self, meta: dict[str, Any], now: datetime, count: int) -> dict[str, Any]:
        config: DeployedJob = meta["config"]
        upcoming = _next_runs(config, now, count) if config.enabled else []
        fields = {
            "name": config.job,
            "description": config.description,
            "owner": config.owner,
            "schedule": config.schedule,
            "timezone": config.timezone,
            "enabled": config.enabled,
            "paused": bool(meta.get("paused")),
            "next_run": upcoming[0] if upcoming and not meta.get("paused") else None,
            "last_status": meta.get("last_status"),
            "last_run": meta.get("last_run"),
            "last_ended_at": meta.get("last_ended_at"),
        }
        if count > 1:
            fields["next_runs"] = upcoming
        return fields

    # ------------------------------------------------------------------ runs

    def runs(
        self,
        job: str | None = None,
        *,
        status: str | None = None,
        since: str | None = None,
        limit: str | int | None = None,
        next_token: str | None = None,
    ) -> RunPage:
        wanted = parse_status(status)
        after = parse_since(since, self.clock())
        size = parse_limit(limit)
        # The tokens are bound to the filters as given (so `since=24h` pages one window).
        window = since or ""
        try:
            if job is not None:
                self._meta(job)
                page = self.store.by_job(
                    job,
                    limit=size,
                    next_token=next_token,
                    since=after,
                    status=wanted,
                    window=window,
                )
            elif wanted is not None:
                page = self.store.by_status(
                    wanted, limit=size, next_token=next_token, since=after, window=window
                )
            else:
                page = self.store.recent(
                    limit=size, next_token=next_token, since=after, window=window
                )
        except BadToken as exc:
            raise InvalidRequest(str(exc), field="next_token") from None
        return RunPage(
            runs=[RunSummary(**run_fields(item, RunSummary)) for item in page.items],
            next_token=page.next_token,
        )

    def run(self, run_id: str) -> RunDetail:
        item = self._find(run_id)
        config = self.store.config(item["job"])
        return RunDetail(**run_fields(with_links(item, config), RunDetail))

    def _find(self, run_id: str) -> dict[str, Any]:
        if not run_id or len(run_id) > 80:
            raise NotFound(f"no run with id '{run_id[:80]}'")
        item = self.store.find(run_id)
        if item is None:
            raise NotFound(f"no run with id '{run_id}'")
        return item

    def start(self, job: str, request: ManualRunRequest, *, by: str) -> RunStarted:
        return self._start(job, request.parameters, request.reason, by=by, trigger="manual")

    def rerun(
        self, run_id: str, *, by: str, reason: str | None = None, trigger: str = "rerun"
    ) -> RunStarted:
        original = self._find(run_id)
        parameters = run_fields(original, RunDetail).get("parameters", {})
        return self._start(
            original["job"],
            parameters,
            reason or f"re-run of {run_id}",
            by=by,
            trigger=trigger,
            rerun_of=run_id,
        )

    def _start(
        self,
        job: str,
        parameters: dict[str, str],
        reason: str,
        *,
        by: str,
        trigger: str,
        rerun_of: str | None = None,
    ) -> RunStarted:
        meta = self._meta(job)
        config: DeployedJob = meta["config"]
        if meta.get("paused"):
            raise Conflict(f"job '{job}' is paused: resume it first (jobctl resume {job})")
        checked = check_parameters(job, parameters, config.parameters, config.secret_names)
        run_id = f"{trigger}-{self.clock():%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"
        execution_input = {
            "trigger": trigger,
            "triggered_by": by,
            "reason": reason,
            "parameters": checked,
            **({"rerun_of": rerun_of} if rerun_of else {}),
        }
        try:
            started = self._stepfunctions().start_execution(
                stateMachineArn=config.state_machine_arn,
                name=run_id,
                input=json.dumps(execution_input, sort_keys=True),
            )
        except ClientError as exc:
            code = error_code(exc)
            if code in ("StateMachineDoesNotExist", "StateMachineDeleting"):
                raise NotFound(f"job '{job}' has no deployed state machine") from None
            if code in ("ExecutionLimitExceeded", "ThrottlingException"):
                raise Unavailable("Step Functions is at its execution limit; retry later") from None
            raise
        return RunStarted(
            job=job,
            run_id=run_id,
            execution_arn=started["executionArn"],
            rerun_of=rerun_of,
            triggered_by=by,
        )

    # ------------------------------------------------------------------ pause

    def pause(self, job: str, *, by: str, reason: str | None = None) -> PauseState:
        return self._set_paused(job, True, by, reason)

    def resume(self, job: str, *, by: str, reason: str | None = None) -> PauseState:
        return self._set_paused(job, False, by, reason)

    def _set_paused(self, job: str, paused: bool, by: str, reason: str | None) -> PauseState:
        at = self.clock().strftime("%Y-%m-%dT%H:%M:%SZ")
        if not self.store.set_paused(job, paused, by, at, reason or ""):
            raise NotFound(f"no job named '{job[:100]}' is deployed")
        return PauseState(job=job, paused=paused, by=by, at=at)

    # ------------------------------------------------------------------ logs

    def logs(self, run_id: str, *, limit: int = 1000) -> list[str]:
        """The task's CloudWatch Logs lines (awslogs), oldest first."""
        item = self._find(run_id)
        config = self.store.config(item["job"])
        logs, task_arn = (config.logs if config else None), item.get("task_arn")
        if not config or not logs:
            raise NotFound(f"job '{item['job']}' does not send its container's logs to CloudWatch")
        if not task_arn:
            raise NotFound(f"run '{run_id}' started no task (status {item.get('status')})")
        stream = log_stream(logs.stream_prefix, config.container, task_arn)
        lines: list[str] = []
        request: dict[str, Any] = {
            "logGroupName": logs.group,
            "logStreamName": stream,
            "startFromHead": True,
        }
        while len(lines) < limit:
            try:
                found = self._logs().get_log_events(**request)
            except ClientError as exc:
                if error_code(exc) == "ResourceNotFoundException":
                    raise NotFound(f"no log stream {logs.group}:{stream}") from None
                raise
            events = found.get("events", [])
            lines.extend(event["message"] for event in events)
            if not events or found.get("nextForwardToken") == request.get("nextToken"):
                break
            request["nextToken"] = found["nextForwardToken"]
        return lines[:limit]


def _next_runs(config: DeployedJob, now: datetime, count: int) -> list[str]:
    try:
        schedule = parse_expression(config.schedule)
    except ScheduleError:
        return []
    zone = ZoneInfo(config.timezone) if config.timezone else None
    return [
        moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        for moment in next_fire_times(schedule, now, count, zone)
    ]
