"""Operator use cases behind the API and the ops CLI: list, inspect, run, re-run, pause.

Reads go to the history table (key lookups on its indexes, never scans); runs start with
Step Functions StartExecution on the job's deployed state machine, whose ARN deploy stored
in the job's META item (the API never reads jobs.yaml). Invariants: a manual run carries
who asked and why (`triggered_by`, `reason`) in its execution input, so the state machine
records them in the same write that creates the run; a re-run repeats the original's
parameters, re-checked against the job's current declaration, and links back to it; pause
and resume only flip the META flag the claim step checks, so the deployed trigger never
drifts from jobs.yaml. A manual run or re-run obeys the job's concurrency policy unless
the operator overrides it explicitly (`concurrency="allow"`), which only a `forbid` job takes
(`_override`): the run takes no lock and runs beside the holder, recorded on the run.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from botocore.exceptions import ClientError

from chalicelib.aws.clients import ClientFactory, error_code
from chalicelib.core.deployed import DeployedJob, DeployedJobError
from chalicelib.core.durations import parse_duration
from chalicelib.core.history import MAX_PAGE, STATUSES, TERMINAL, RunStatus
from chalicelib.core.schedule import ScheduleError, next_fire_times, parse_expression
from chalicelib.history.links import console_url, log_stream, log_url, with_links
from chalicelib.history.store import RunStore
from chalicelib.history.tokens import BadToken
from chalicelib.ops.attempts import attempts_from_history, summarise
from chalicelib.ops.errors import Conflict, Forbidden, InvalidRequest, NotFound, Unavailable
from chalicelib.ops.models import (
    Attempt,
    JobDetail,
    JobSummary,
    LogLine,
    ManualRunRequest,
    ParameterInfo,
    PauseState,
    Progress,
    RunDetail,
    RunLogs,
    RunPage,
    RunStarted,
    RunStopped,
    RunSummary,
    StopRequest,
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
        ecs: Callable[[], Any] | None = None,
    ) -> None:
        self.store = store
        self._stepfunctions = stepfunctions
        self._logs = logs
        self.clock = clock
        # None: stopping a run leaves its task to Step Functions (StopExecution stops a
        # .sync task, best effort); with a client the task is stopped explicitly too.
        self._ecs = ecs

    @classmethod
    def create(cls, factory: ClientFactory, table: str) -> OpsService:
        return cls(
            RunStore(factory.client("dynamodb"), table),
            lambda: factory.client("stepfunctions"),
            lambda: factory.client("logs"),
            ecs=lambda: factory.client("ecs"),
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
        recent = self.store.by_job(name, limit=5)
        return JobDetail(
            **fields,
            environment=config.environment,
            concurrency=config.concurrency,
            timeout=config.timeout,
            retries=config.retries,
            retry_interval=config.retry.interval,
            retry_backoff_rate=config.retry.backoff_rate,
            starting_deadline=config.starting_deadline,
            cluster=config.cluster,
            task_definition=config.task_definition,
            container=config.container,
            trigger=config.trigger,
            state_machine_arn=config.state_machine_arn,
            parameters={
                key: ParameterInfo(**spec.model_dump()) for key, spec in config.parameters.items()
            },
            recent_runs=[RunSummary(**run_fields(item, RunSummary)) for item in recent.items],
        )

    def _meta(self, name: str) -> dict[str, Any]:
        meta = self.store.meta(name)
        if not meta.get("config"):
            raise NotFound(f"no job named '{name[:100]}' is deployed")
        return {**meta, "config": DeployedJob.from_json(meta["config"])}

    def _summary(self, meta: dict[str, Any], now: datetime, count: int) -> dict[str, Any]:
        config: DeployedJob = meta["config"]
        anchor = self._rate_anchor(config, meta)
        upcoming = _next_runs(config, now, count, anchor) if config.enabled else []
        paused = bool(meta.get("paused"))
        fields = {
            "name": config.job,
            "description": config.description,
            "owner": config.owner,
            "schedule": config.schedule,
            "timezone": config.timezone,
            "enabled": config.enabled,
            "paused": paused,
            "next_run": upcoming[0] if upcoming and not paused else None,
            # A rate() schedule fires relative to when AWS created (or last changed) its
            # rule, which AWS does not report: exact only from a fire time AWS produced.
            "next_run_exact": not config.schedule.startswith("rate(") or anchor is not None,
            "paused_by": (meta.get("paused_by") or None) if paused else None,
            "paused_at": (meta.get("paused_at") or None) if paused else None,
            "paused_reason": (meta.get("paused_reason") or None) if paused else None,
            "last_status": meta.get("last_status"),
            "last_run": meta.get("last_run"),
            "last_ended_at": meta.get("last_ended_at"),
        }
        if count > 1:
            fields["next_runs"] = upcoming
        return fields

    def _rate_anchor(self, config: DeployedJob, meta: dict[str, Any]) -> datetime | None:
        """A fire time AWS produced for a rate() job: its last run's scheduled time, when
        that run came from the schedule (one GetItem, for rate jobs only)."""
        if not config.schedule.startswith("rate(") or not meta.get("last_run"):
            return None
        last = self.store.get(config.job, str(meta["last_run"])) or {}
        scheduled = last.get("scheduled_time")
        if last.get("trigger") != "schedule" or not scheduled:
            return None
        try:
            moment = datetime.fromisoformat(str(scheduled).replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

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
        """A run by its id. A run jobctl started whose execution has not written its record
        (yet, or ever: it failed before its claim step) is described from the execution,
        with `recorded` false."""
        if run_id and len(run_id) <= 80 and self.store.find(run_id) is None:
            unrecorded = self._unrecorded(run_id)
            if unrecorded is not None:
                return unrecorded
        item = self._find(run_id)
        config = self.store.config(item["job"])
        fields = run_fields(with_links(item, config), RunDetail)
        fields["summary"] = summarise(
            item.get("error"), item.get("cause"), config.container if config else None
        )
        return RunDetail(**fields)

    def _unrecorded(self, run_id: str) -> RunDetail | None:
        """The execution of a run id jobctl issued (`manual-...`, `rerun-...`, `slack-...`)
        that has no record: one DescribeExecution per deployed job, tried only for such ids."""
        if not STARTED_ID.match(run_id):
            return None
        for meta in self.store.jobs():
            try:
                config = DeployedJob.from_json(meta["config"])
            except DeployedJobError:
                continue
            arn = config.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{run_id}"
            try:
                described = self._stepfunctions().describe_execution(executionArn=arn)
            except ClientError as exc:
                if error_code(exc) in ("ExecutionDoesNotExist", "InvalidArn"):
                    continue
                raise
            try:
                given = json.loads(described.get("input") or "{}")
            except ValueError:
                given = {}
            given = given if isinstance(given, dict) else {}
            error, cause = described.get("error"), described.get("cause")
            stopped = described.get("stopDate")
            return RunDetail(
                run_id=run_id,
                job=config.job,
                status=str(described.get("status", "RUNNING")),
                trigger=given.get("trigger") if isinstance(given.get("trigger"), str) else None,
                triggered_by=given.get("triggered_by")
                if isinstance(given.get("triggered_by"), str)
                else None,
                reason=given.get("reason") if isinstance(given.get("reason"), str) else None,
                concurrency_override=given.get("concurrency")
                if isinstance(given.get("concurrency"), str)
                else None,
                started_at=_when(described.get("startDate")),
                ended_at=_when(stopped) if stopped else None,
                error=error,
                cause=cause,
                summary=summarise(error, cause, config.container),
                execution_arn=arn,
                console_url=console_url(arn),
                recorded=False,
            )
        return None

    def _find(self, run_id: str) -> dict[str, Any]:
        if not run_id or len(run_id) > 80:
            raise NotFound(f"no run with id '{run_id[:80]}'")
        item = self.store.find(run_id)
        if item is None:
            raise NotFound(f"no run with id '{run_id}'")
        return item

    def start(self, job: str, request: ManualRunRequest, *, by: str) -> RunStarted:
        return self._start(
            job,
            request.parameters,
            request.reason,
            by=by,
            trigger="manual",
            concurrency=request.concurrency,
        )

    def rerun(
        self,
        run_id: str,
        *,
        by: str,
        reason: str | None = None,
        trigger: str = "rerun",
        concurrency: str | None = None,
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
            concurrency=concurrency,
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
        concurrency: str | None = None,
    ) -> RunStarted:
        meta = self._meta(job)
        config: DeployedJob = meta["config"]
        override = _override(job, config.concurrency, concurrency, trigger)
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
            **({"concurrency": override} if override else {}),
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
            concurrency_override=override,
        )

    # ------------------------------------------------------------------ pause

    def pause(self, job: str, *, by: str, reason: str | None = None) -> PauseState:
        return self._set_paused(job, True, by, reason)

    def resume(self, job: str, *, by: str, reason: str | None = None) -> PauseState:
        return self._set_paused(job, False, by, reason)

    def _set_paused(self, job: str, paused: bool, by: str, reason: str | None) -> PauseState:
        if paused and not reason:
            meta = self.store.meta(job)
            if meta.get("config") and meta.get("paused"):
                # Pausing a paused job without a reason keeps who paused it, when and why.
                return PauseState(
                    job=job,
                    paused=True,
                    by=str(meta.get("paused_by") or by),
                    at=str(meta.get("paused_at") or ""),
                    reason=meta.get("paused_reason") or None,
                    changed=False,
                )
        at = self.clock().strftime("%Y-%m-%dT%H:%M:%SZ")
        if not self.store.set_paused(job, paused, by, at, reason or ""):
            raise NotFound(f"no job named '{job[:100]}' is deployed")
        return PauseState(job=job, paused=paused, by=by, at=at, reason=reason or None)

    # ------------------------------------------------------------------ progress

    def progress(
        self, run_id: str, *, execution_arn: str | None = None, job: str | None = None
    ) -> Progress:
        """The run as its execution tells it (status, error, every attempt so far).

        With `execution_arn` (what StartExecution returned) it works before the run record
        exists, and for an execution that failed before writing one; without, the run is
        found by its id."""
        item = self.store.find(run_id) if execution_arn else self._find(run_id)
        arn = execution_arn or (item or {}).get("execution_arn") or ""
        job = (item or {}).get("job") or job or _job_of_execution(arn)
        config = self._config_or_none(job)
        try:
            described = self._stepfunctions().describe_execution(executionArn=arn)
        except ClientError as exc:
            if error_code(exc) not in (
                "ExecutionDoesNotExist",
                "InvalidArn",
                "AccessDeniedException",
            ):
                raise
            # Expired (90 days) or never started: the record is all there is.
            return self._progress_from_record(run_id, job, arn, item, config)
        events = self._history(arn)
        container = config.container if config else None
        attempts = attempts_from_history(events, container)
        for index, attempt in enumerate(attempts):
            attempt.retry_wait = _retry_wait(index, attempt, attempts, config)
            attempt.log_url = log_url(
                config.logs if config else None, container or "", attempt.task_arn
            )
        status = str(described.get("status", "RUNNING"))
        error, cause = described.get("error"), described.get("cause")
        return Progress(
            run_id=run_id,
            job=job,
            execution_arn=arn,
            status=status,
            error=error,
            cause=cause,
            summary=summarise(error, cause, container),
            attempts=attempts,
            next_attempt_in=_next_wait(status, attempts, config),
        )

    def _progress_from_record(
        self,
        run_id: str,
        job: str,
        arn: str,
        item: dict[str, Any] | None,
        config: DeployedJob | None,
    ) -> Progress:
        if item is None:
            raise NotFound(f"no run with id '{run_id[:80]}' and no execution {arn[:200]}")
        attempts = []
        if item.get("task_arn"):
            attempts.append(
                Attempt(
                    number=int(item.get("attempts") or 1),
                    status=_attempt_status(str(item.get("status"))),
                    task_arn=item["task_arn"],
                    ended_at=item.get("ended_at") or None,
                    exit_code=item.get("exit_code"),
                    stopped_reason=item.get("stopped_reason") or None,
                    log_url=log_url(
                        config.logs if config else None,
                        config.container if config else "",
                        item["task_arn"],
                    ),
                )
            )
        return Progress(
            run_id=run_id,
            job=job,
            execution_arn=arn,
            status=str(item.get("status")),
            error=item.get("error") or None,
            cause=item.get("cause") or None,
            summary=summarise(
                item.get("error"), item.get("cause"), config.container if config else None
            ),
            attempts=attempts,
        )

    def _history(self, arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        request: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
        while True:
            page = self._stepfunctions().get_execution_history(**request)
            events.extend(page.get("events", []))
            if not page.get("nextToken"):
                return events
            request["nextToken"] = page["nextToken"]

    def _config_or_none(self, job: str) -> DeployedJob | None:
        try:
            return self.store.config(job) if job else None
        except DeployedJobError:
            return None

    # ------------------------------------------------------------------ logs

    def run_logs(
        self,
        run_id: str,
        *,
        attempt: int | str | None = None,
        limit: int | str | None = None,
        next_token: str | None = None,
    ) -> RunLogs:
        """One page of a run's task logs (CloudWatch Logs, awslogs), oldest first.

        `attempt`: a number (1 = the first), `all` (every attempt in turn), or None (the
        latest attempt). Works for a run in any state: the tasks come from the execution's
        history as they are submitted. `next_token` is present while more lines may come
        (the rest of a stream, or a run still running); it continues only this listing."""
        size = _log_limit(limit)
        progress = self.progress(run_id)
        config = self._config_or_none(progress.job)
        logs = config.logs if config else None
        if config is None or logs is None:
            raise NotFound(
                f"job '{progress.job}' does not send its container's logs to CloudWatch "
                "(no awslogs log driver in its task definition)"
            )
        chosen = _chosen_attempts(progress.attempts, attempt)
        wanted = None if attempt in ("all", "ALL") else (chosen[0].number if chosen else None)
        listing = f"logs|{run_id}|{'all' if wanted is None else wanted}"
        try:
            state = self.store.tokens.open(next_token, listing) or {}
        except BadToken as exc:
            raise InvalidRequest(str(exc), field="next_token") from None
        index = state.get("index", 0)
        stream_token = state.get("token")
        if not isinstance(index, int) or not isinstance(stream_token, str | None):
            raise InvalidRequest(
                "next_token does not hold a position of these logs", field="next_token"
            )
        lines: list[LogLine] = []
        following: dict[str, Any] | None = None
        while index < len(chosen):
            current = chosen[index]
            if current.task_arn:  # a refused RunTask has no task and no logs
                stream = log_stream(logs.stream_prefix, config.container, current.task_arn)
                got, stream_token, exhausted = self._read_stream(
                    logs.group, stream, stream_token, size - len(lines)
                )
                lines.extend(
                    LogLine(
                        attempt=current.number,
                        timestamp=_millis(event.get("timestamp")),
                        message=str(event.get("message", "")),
                    )
                    for event in got
                )
                if not exhausted or current.status == "RUNNING":
                    # More to read, or a task still writing: resume in this stream.
                    following = {"index": index, "token": stream_token}
                    break
            index, stream_token = index + 1, None
            if len(lines) >= size and index < len(chosen):
                following = {"index": index, "token": None}
                break
        if following is None and progress.status == "RUNNING" and wanted is None:
            # The run goes on: a retry may add an attempt to `all`.
            following = {"index": len(chosen), "token": None}
        return RunLogs(
            run_id=run_id,
            job=progress.job,
            status=progress.status,
            attempt=wanted,
            attempts=progress.attempts,
            lines=lines,
            next_token=self.store.tokens.seal(listing, following) if following else None,
        )

    def _read_stream(
        self, group: str, stream: str, token: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], str | None, bool]:
        """Up to `limit` events of one stream from `token`: (events, token to resume, whether
        the stream's end was reached). A stream not created yet has no events."""
        request: dict[str, Any] = {
            "logGroupName": group,
            "logStreamName": stream,
            "startFromHead": True,
        }
        if token:
            request["nextToken"] = token
        events: list[dict[str, Any]] = []
        while len(events) < limit:
            request["limit"] = min(limit - len(events), 10000)
            try:
                found = self._logs().get_log_events(**request)
            except ClientError as exc:
                if error_code(exc) == "ResourceNotFoundException":
                    return events, token, True
                if error_code(exc) in ("AccessDeniedException", "AccessDenied"):
                    raise Forbidden(
                        f"not allowed to read log group {group}: grant logs:GetLogEvents on "
                        f"arn:aws:logs:<region>:<account>:log-group:{group}:log-stream:*"
                    ) from None
                raise
            page = found.get("events", [])
            events.extend(page)
            forward = found.get("nextForwardToken")
            # At the end of a stream CloudWatch answers the token it was given.
            if not page or not forward or forward == request.get("nextToken"):
                return events, forward or token, True
            token = request["nextToken"] = forward
        return events, token, False

    def logs(self, run_id: str, *, limit: int = 1000) -> list[str]:
        """The latest attempt's log lines, oldest first (what `jobctl local`'s demo prints)."""
        page = self.run_logs(run_id, limit=min(limit, MAX_LOG_PAGE))
        return [line.message for line in page.lines]

    # ------------------------------------------------------------------ stop

    def stop(self, run_id: str, request: StopRequest, *, by: str) -> RunStopped:
        """Stop a running run: its execution (StopExecution) and its task (StopTask, which
        Step Functions also attempts, best effort), then record it ABORTED with who and
        why and free the job's lock. A finished run is a Conflict (409)."""
        item = self._find(run_id)
        status = str(item.get("status"))
        if status in TERMINAL:
            raise Conflict(f"run '{run_id}' already ended {status}: there is nothing to stop")
        job, arn = str(item["job"]), str(item.get("execution_arn") or "")
        config = self._config_or_none(job)
        cause = f"stopped by {by}: {request.reason}"
        try:
            self._stepfunctions().stop_execution(
                executionArn=arn, error=STOPPED_ERROR, cause=cause[:32768]
            )
        except ClientError as exc:
            if error_code(exc) != "ExecutionDoesNotExist":
                raise
        stopped: list[str] = []
        try:
            attempts = attempts_from_history(
                self._history(arn), config.container if config else None
            )
        except ClientError:
            attempts = []
        tasks = {a.task_arn for a in attempts if a.task_arn and a.status in ("RUNNING", "ABORTED")}
        if item.get("task_arn") and status == "RUNNING" and not attempts:
            tasks.add(str(item["task_arn"]))
        for task in sorted(tasks) if self._ecs is not None else []:
            assert self._ecs is not None
            try:
                self._ecs().stop_task(
                    cluster=config.cluster if config else task.split("/")[1],
                    task=task,
                    reason=cause[:255],
                )
                stopped.append(task)
            except ClientError as exc:
                # Already stopped, or gone: nothing left to stop.
                if error_code(exc) not in ("InvalidParameterException", "ClientException"):
                    raise
        at = self.clock().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        fields: dict[str, Any] = {
            "ended_at": at,
            "error": STOPPED_ERROR,
            "cause": cause,
            "aborted_by": by,
            "abort_reason": request.reason,
        }
        if attempts:
            fields["attempts"] = len(attempts)
            last = attempts[-1]
            if last.task_arn:
                fields["task_arn"] = last.task_arn
        if not self.store.finish(job, run_id, RunStatus.ABORTED, fields):
            ended = (self.store.get(job, run_id) or {}).get("status", "")
            raise Conflict(f"run '{run_id}' ended {ended} before it could be stopped")
        if arn:
            self.store.release_lock(job, arn, RunStatus.ABORTED)
        return RunStopped(
            run_id=run_id,
            job=job,
            status=RunStatus.ABORTED,
            aborted_by=by,
            abort_reason=request.reason,
            at=at,
            stopped_tasks=stopped,
        )


STOPPED_ERROR = "Job.Stopped"
# The run ids `_start` issues (and the Slack action's): `<trigger>-<UTC time>-<8 hex>`.
STARTED_ID = re.compile(r"^(manual|rerun|slack)-\d{8}T\d{6}Z-[0-9a-f]{8}$")


def _when(value: Any) -> str | None:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return str(value) if value else None


MAX_LOG_PAGE = 1000


def _log_limit(text: int | str | None) -> int:
    if text is None or text == "":
        return MAX_LOG_PAGE
    try:
        limit = int(text)
    except (TypeError, ValueError):
        raise InvalidRequest("limit must be a whole number", field="limit") from None
    if not 1 <= limit <= MAX_LOG_PAGE:
        raise InvalidRequest(f"limit must be between 1 and {MAX_LOG_PAGE}", field="limit")
    return limit


def _chosen_attempts(attempts: list[Attempt], wanted: int | str | None) -> list[Attempt]:
    if wanted is None or wanted == "":
        return attempts[-1:]
    if isinstance(wanted, str) and wanted.lower() == "all":
        return list(attempts)
    try:
        number = int(wanted)
    except (TypeError, ValueError):
        raise InvalidRequest(
            "attempt must be a number (1 = the first) or 'all'", field="attempt"
        ) from None
    for attempt in attempts:
        if attempt.number == number:
            return [attempt]
    made = f"attempts 1-{len(attempts)}" if attempts else "no attempt yet"
    raise NotFound(f"the run has no attempt {number} ({made})")


def _millis(value: Any) -> str:
    try:
        moment = datetime.fromtimestamp(int(value) / 1000, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return ""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _job_of_execution(arn: str) -> str:
    """The job an execution ARN names (`...:execution:<prefix>-<job>:<run>`) is not
    recoverable without the prefix; the caller passes records where it can. The state
    machine name is the best fallback for display."""
    parts = arn.split(":")
    return parts[6] if len(parts) >= 8 else ""


def _attempt_status(status: str) -> Any:
    return (
        status if status in ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED") else "FAILED"
    )


def _policy_wait(index: int, config: DeployedJob) -> int:
    """The retry policy's wait after the attempt at `index` (0-based)."""
    wait = config.retry.interval * config.retry.backoff_rate**index
    if config.retry.max_interval:
        wait = min(wait, config.retry.max_interval)
    return int(wait)


def _retry_wait(
    index: int, attempt: Attempt, attempts: list[Attempt], config: DeployedJob | None
) -> int | None:
    """The wait after a failed attempt that is (or will be) followed by another: the job's
    policy for its own failures (States.TaskFailed), else what the history shows."""
    if attempt.status != "FAILED":
        return None
    following = attempts[index + 1] if index + 1 < len(attempts) else None
    if config is not None and attempt.error == "States.TaskFailed":
        if index < config.retry.retries:
            return _policy_wait(index, config)
        return None
    if following is not None and attempt.ended_at and following.started_at:
        from chalicelib.ops.models import _seconds_between

        return _seconds_between(attempt.ended_at, following.started_at)
    return None


def _next_wait(status: str, attempts: list[Attempt], config: DeployedJob | None) -> int | None:
    """Seconds the job's retry policy waits before the next attempt, while one is due."""
    if status != "RUNNING" or not attempts or attempts[-1].status == "RUNNING":
        return None
    return attempts[-1].retry_wait


def _next_runs(
    config: DeployedJob, now: datetime, count: int, anchor: datetime | None = None
) -> list[str]:
    try:
        schedule = parse_expression(config.schedule)
    except ScheduleError:
        return []
    if schedule.rate_seconds and anchor is not None:
        # EventBridge fires a rate every `rate` seconds from its anchor (to the minute).
        step = schedule.rate_seconds
        ahead = max(0, int((now - anchor).total_seconds()) // step + 1)
        moments = [anchor + timedelta(seconds=step * (ahead + i)) for i in range(count)]
    else:
        zone = ZoneInfo(config.timezone) if config.timezone else None
        moments = next_fire_times(schedule, now, count, zone)
    return [moment.strftime("%Y-%m-%dT%H:%M:%SZ") for moment in moments]


def _override(job: str, policy: str, concurrency: str | None, trigger: str) -> str | None:
    """The concurrency override the execution input carries (None: the policy applies).

    Only `allow`, only for a manual run or re-run: a `forbid` job's run then takes no lock
    and runs beside the holder. A `replace` job refuses it (its run stops the running one,
    which is what replace means: there is nothing safe to override); for an `allow` job it
    changes nothing and is not recorded.
    """
    if concurrency is None:
        return None
    if concurrency != "allow":
        raise InvalidRequest("concurrency must be 'allow'", field="concurrency")
    if trigger not in ("manual", "rerun"):
        raise InvalidRequest(
            "concurrency can only be overridden for a manual run or re-run", field="concurrency"
        )
    if policy == "replace":
        raise InvalidRequest(
            f"concurrency 'allow' is refused for job '{job}': its policy is replace, so a new "
            "run stops the running one; wait for it to end, or stop it (jobctl stop RUN)",
            field="concurrency",
        )
    return "allow" if policy == "forbid" else None
