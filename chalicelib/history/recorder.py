"""Step Functions execution status changes -> run records; the reconciler for lost events.

EventBridge delivers "Step Functions Execution Status Change" events best effort: they can
arrive twice, out of order, or never. The state machine records most outcomes itself (with
exit code and attempts); the recorder fills what it cannot: ABORTED executions (no state
runs after an abort, so the recorder also frees the lock) and runs that ended before or
without their own record. The reconciler finds RUNNING records whose execution has ended,
or no longer exists, and records them the same way. An execution's status is its run's
(`RunStatus`); changes to a status no run ends in (PENDING_REDRIVE) are ignored.

Invariants:
- Total parsing: `ExecutionChange.from_event` either returns a change or raises
  `RejectedEvent` (a ValueError) with a one-line reason, whatever the event holds (wrong
  types, missing fields, dates out of range, deep or unparsable input). Nothing is lost by
  dropping one: the reconciler repairs a RUNNING record from DescribeExecution.
- Only jobctl's own machines write history: a change is applied only when its state
  machine ARN equals the `state_machine_arn` deploy recorded in the job's META item, and
  the event's account and region, the machine's and the execution's are the function's own
  (`home`). Everything else is logged and ignored.
- Applying the same change twice, or an older change after a newer one, never moves a
  record backwards (see RunStore).
- The reconciler tries every RUNNING record on its own: one that cannot be checked is
  reported (`Reconciliation.unchecked`) and never stops the others. A run whose execution
  no longer exists (`GONE`), or whose job is no longer deployed while AWS denies
  describing it, is recorded ABORTED with that reason and its lock freed
  (`Reconciliation.gone`). It applies changes by the job its record names, not by META:
  a pruned job's META has no config left.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.aws.clients import AwsContext, describe_error, error_code
from chalicelib.core import history as schema
from chalicelib.core.deployed import DeployedJobError
from chalicelib.core.history import CAUSE_LIMIT, EXECUTION_ENDED, RunStatus
from chalicelib.history.store import RunStore

LOG = logging.getLogger("jobctl.history")

STATUS_CHANGE = "Step Functions Execution Status Change"
SOURCE = "aws.states"
# Step Functions' own limits (API reference): execution names 1-80 characters, ARNs at
# most 256, `error` 256, `cause` 32768. Anything longer did not come from Step Functions.
NAME_LIMIT = 80
ARN_LIMIT = 256
ERROR_LIMIT = 256
EVENT_CAUSE_LIMIT = 32768
# Epoch milliseconds the run records can spell (ISO 8601, four-digit years from 1970).
_LATEST_MS = 253402300799999  # 9999-12-31T23:59:59.999Z
# DescribeExecution reports a vanished execution with one of these: its state machine was
# deleted (`jobctl apply --prune`) or Step Functions expired its history (90 days).
GONE = frozenset({"ExecutionDoesNotExist", "StateMachineDoesNotExist"})
# The `error` of a run whose job was pruned while AWS will not describe its execution.
JOB_NOT_DEPLOYED = "JobNotDeployed"
# How long a job's deployed state machine ARN is trusted before its META is read again.
DEPLOYED_TTL_SECONDS = 300.0


class RejectedEvent(ValueError):
    """An event that is not a status change the recorder can use: logged and dropped."""


def _iso(value: Any, what: str) -> str | None:
    """Epoch milliseconds (events) or datetimes (API) -> the state machine's ISO format."""
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value.astimezone(UTC)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        # Compared, never printed: NaN and infinities fail the comparison, and a huge int
        # cannot even be turned into text (Python's 4300-digit limit).
        if not 0 <= value <= _LATEST_MS:
            raise RejectedEvent(f"{what} is out of range for a time in epoch milliseconds")
        moment = datetime.fromtimestamp(value / 1000, tz=UTC)
    else:
        raise RejectedEvent(f"{what} is {type(value).__name__}, not epoch milliseconds")
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _show(value: Any) -> str:
    """A value for a log line: short text as written, anything else by its type."""
    if isinstance(value, str):
        return repr(value[:80])
    return type(value).__name__


def _text(detail: Mapping[str, Any], key: str, limit: int, *, required: bool) -> str | None:
    value = detail.get(key)
    if value is None or value == "":
        if required:
            raise RejectedEvent(f"status change without {key}")
        return None
    if not isinstance(value, str):
        raise RejectedEvent(f"{key} is {type(value).__name__}, not a string")
    if len(value) > limit:
        raise RejectedEvent(f"{key} is longer than Step Functions allows ({limit})")
    if not _encodable(value):
        raise RejectedEvent(f"{key} is not valid Unicode text")
    return value


def _encodable(value: str) -> bool:
    """Whether DynamoDB can store `value` (a lone surrogate from a JSON escape cannot)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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
    # Where the event says it comes from; None for DescribeExecution (our own API's answer).
    account: str | None = None
    region: str | None = None

    @classmethod
    def from_event(cls, event: Any) -> ExecutionChange:
        """From an EventBridge event; RejectedEvent when it is not a status change we can
        use (never any other exception)."""
        if not isinstance(event, Mapping):
            raise RejectedEvent(f"an event is an object, not {type(event).__name__}")
        if event.get("detail-type") != STATUS_CHANGE:
            kind = _show(event.get("detail-type"))
            raise RejectedEvent(f"not an execution status change: {kind}")
        detail = event.get("detail")
        if not isinstance(detail, Mapping):
            raise RejectedEvent(f"detail is {type(detail).__name__}, not an object")
        missing = [
            key
            for key in ("executionArn", "stateMachineArn", "name", "status")
            if detail.get(key) is None or detail.get(key) == ""
        ]
        if missing:
            raise RejectedEvent(f"status change without {', '.join(missing)}")
        if event.get("source") != SOURCE:
            # Only AWS can put events with an `aws.*` source on a bus.
            raise RejectedEvent(f"not from Step Functions: source {_show(event.get('source'))}")
        account = _text(event, "account", ARN_LIMIT, required=True)
        region = _text(event, "region", ARN_LIMIT, required=True)
        # The event's detail carries DescribeExecution's fields (dates as epoch ms).
        return cls._parse(detail, account, region)

    @classmethod
    def from_description(cls, described: Mapping[str, Any]) -> ExecutionChange:
        """From DescribeExecution (the reconciler's and the local poller's source)."""
        return cls._parse(described, None, None)

    @classmethod
    def _parse(
        cls, detail: Mapping[str, Any], account: str | None, region: str | None
    ) -> ExecutionChange:
        raw_input = detail.get("input")
        if raw_input is not None and not isinstance(raw_input, str | Mapping):
            raise RejectedEvent(f"input is {type(raw_input).__name__}, not JSON text")
        return cls(
            execution_arn=str(_text(detail, "executionArn", ARN_LIMIT, required=True)),
            state_machine_arn=str(_text(detail, "stateMachineArn", ARN_LIMIT, required=True)),
            name=str(_text(detail, "name", NAME_LIMIT, required=True)),
            status=str(_text(detail, "status", NAME_LIMIT, required=True)),
            started_at=_iso(detail.get("startDate"), "startDate"),
            stopped_at=_iso(detail.get("stopDate"), "stopDate"),
            input=_json_object(raw_input),
            error=_text(detail, "error", ERROR_LIMIT, required=False),
            cause=_text(detail, "cause", EVENT_CAUSE_LIMIT, required=False),
            account=account,
            region=region,
        )


def _json_object(text: Any) -> dict[str, Any]:
    """The execution input as an object; anything else (not JSON, too deep) reads as {}:
    the run is still recorded, with the defaults."""
    try:
        value = json.loads(text) if isinstance(text, str) else text
    except (ValueError, RecursionError):
        return {}
    return dict(value) if isinstance(value, Mapping) else {}


def _input_text(source: Mapping[str, Any], key: str, default: str) -> str:
    value = source.get(key, default)
    return value if isinstance(value, str) and _encodable(value) else default


def _parameters(source: Mapping[str, Any]) -> str:
    """Parameters are strings by contract (pattern or enum); anything else is not recorded."""
    value = source.get("parameters")
    if not isinstance(value, Mapping):
        return "{}"
    kept = {
        k: v
        for k, v in value.items()
        if isinstance(k, str) and isinstance(v, str) and _encodable(k) and _encodable(v)
    }
    return json.dumps(kept, sort_keys=True)


def _arn_parts(arn: str) -> list[str]:
    """`arn:partition:states:region:account:<type>:<name>[:<execution>]`, split."""
    return arn.split(":")


class Recorder:
    """Applies status changes of the state machines jobctl deployed to their run records.

    `home` gives the function's own account and region (one STS call, on first need); the
    deployed ARN of each job is cached for `ttl` seconds, so a burst of events costs one
    META read per job, and a pruned job stops being trusted within `ttl`.
    """

    def __init__(
        self,
        store: RunStore,
        prefix: str,
        home: Callable[[], AwsContext],
        *,
        ttl: float = DEPLOYED_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.prefix = f"{prefix}-"
        self._home_source = home
        self._home: AwsContext | None = None
        self._ttl = ttl
        self._clock = clock
        self._deployed: dict[str, tuple[float, str]] = {}

    @property
    def home(self) -> AwsContext:
        if self._home is None:
            self._home = self._home_source()
        return self._home

    def job_of(self, state_machine_arn: str) -> str | None:
        """The job a machine's name says it runs (not yet proof that jobctl deployed it)."""
        name = state_machine_arn.rsplit(":", 1)[-1]
        return name.removeprefix(self.prefix) if name.startswith(self.prefix) else None

    def accepted_job(self, change: ExecutionChange) -> str | None:
        """The job whose deployed state machine made `change`; None (logged) otherwise."""
        job = self.job_of(change.state_machine_arn)
        if job is None:
            # The rule receives every machine's events in the account: routine, not news.
            LOG.debug("ignored a status change of %s: not this project's", change.state_machine_arn)
            return None
        why = self._refusal(job, change)
        if why:
            LOG.warning(
                "ignored a status change of %s (execution %s): %s",
                change.state_machine_arn,
                change.execution_arn,
                why,
            )
            return None
        return job

    def _refusal(self, job: str, change: ExecutionChange) -> str | None:
        home = self.home
        if change.account is not None and change.account != home.account:
            return f"the event comes from account {change.account}, not {home.account}"
        if change.region is not None and change.region != home.region:
            return f"the event comes from region {change.region}, not {home.region}"
        machine = _arn_parts(change.state_machine_arn)
        if len(machine) != 7 or machine[2] != "states" or machine[5] != "stateMachine":
            return "not a state machine ARN"
        if (machine[3], machine[4]) != (home.region, home.account):
            return f"the state machine is in {machine[4]}/{machine[3]}, not this function's"
        # A standard workflow's execution ARN is its machine's, typed `execution`, plus name.
        expected = ":".join([*machine[:5], "execution", machine[6], change.name])
        if change.execution_arn != expected:
            return "the execution ARN does not belong to the state machine"
        deployed = self._deployed_arn(job)
        if deployed is None:
            return f"jobctl has not deployed a job '{job}' here"
        if deployed != change.state_machine_arn:
            return f"job '{job}' is deployed as {deployed}"
        return None

    def _deployed_arn(self, job: str) -> str | None:
        now = self._clock()
        cached = self._deployed.get(job)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            config = self.store.config(job)
        except DeployedJobError as exc:
            LOG.error("job '%s' has a META config this runtime cannot read: %s", job, exc)
            return None
        if config is None:
            # Not cached: a job deployed a moment from now is trusted at its first event.
            self._deployed.pop(job, None)
            return None
        self._deployed[job] = (now + self._ttl, config.state_machine_arn)
        return config.state_machine_arn

    def record(self, change: ExecutionChange) -> str:
        """Apply one change; returns 'created', 'finished', 'unchanged' or 'ignored'."""
        job = self.accepted_job(change)
        if job is None:
            return "ignored"
        return self.apply(job, change)

    def apply(self, job: str, change: ExecutionChange) -> str:
        """Apply a change already known to be `job`'s (the reconciler read the execution ARN
        from `job`'s own record); the same outcomes as `record`."""
        started = change.started_at or change.stopped_at or ""
        identity = {
            "run_id": change.name,
            "job": job,
            "execution_arn": change.execution_arn,
            "trigger": _input_text(change.input, "trigger", "schedule"),
            "triggered_by": _input_text(change.input, "triggered_by", ""),
            "scheduled_time": _input_text(change.input, "scheduled_time", ""),
            "parameters": _parameters(change.input),
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


@dataclass
class Reconciliation:
    """One reconciler pass: runs repaired from DescribeExecution, runs whose execution no
    longer exists (recorded ABORTED), and runs that could not be checked, with why."""

    repaired: list[tuple[str, str]] = field(default_factory=list)
    gone: list[tuple[str, str]] = field(default_factory=list)
    unchecked: list[tuple[str, str, str]] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        return {
            "repaired": len(self.repaired),
            "gone": len(self.gone),
            "unchecked": len(self.unchecked),
        }


def gone_cause(code: str) -> str:
    return (
        f"the execution no longer exists ({code}): its state machine was deleted (for example "
        "by `jobctl apply --prune`) or Step Functions expired its history; recorded ABORTED "
        "by the reconciler"
    )


def pruned_cause(denied: str) -> str:
    return (
        f"its job is no longer deployed (DescribeExecution: {denied}): `jobctl apply --prune` "
        "deleted its state machine; recorded ABORTED by the reconciler"
    )


class Reconciler:
    """Repairs RUNNING records whose execution ended without a status change reaching us."""

    def __init__(
        self,
        store: RunStore,
        stepfunctions: Any,
        recorder: Recorder,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.stepfunctions = stepfunctions
        self.recorder = recorder
        self.now = now
        self._deployed_jobs: dict[str, bool] = {}

    def run(self, page_size: int = 100) -> Reconciliation:
        outcome = Reconciliation()
        self._deployed_jobs = {}  # per pass: an apply may come in between
        token: str | None = None
        while True:
            page = self.store.by_status(RunStatus.RUNNING, limit=page_size, next_token=token)
            for item in page.items:
                self._check(item, outcome)
            token = page.next_token
            if token is None:
                return outcome

    def _check(self, item: dict[str, Any], outcome: Reconciliation) -> None:
        job, run_id = str(item.get("job", "?")), str(item.get("run_id", "?"))
        arn = item.get("execution_arn")
        if not isinstance(arn, str) or not arn:
            outcome.unchecked.append((job, run_id, "the record has no execution_arn"))
            return
        try:
            described = self.stepfunctions.describe_execution(executionArn=arn)
        except ClientError as exc:
            code = error_code(exc)
            if code in GONE:
                self._record_gone(job, run_id, arn, item, code, gone_cause(code), outcome)
            elif code == "AccessDeniedException" and not self._deployed(job):
                # The function may describe only the executions of deployed jobs; a job
                # `apply --prune` removed has lost its machine too.
                cause = pruned_cause(describe_error(exc))
                self._record_gone(job, run_id, arn, item, JOB_NOT_DEPLOYED, cause, outcome)
            else:
                outcome.unchecked.append((job, run_id, describe_error(exc)))
            return
        except Exception as exc:  # one record's failure must not stop the others
            outcome.unchecked.append((job, run_id, describe_error(exc)))
            return
        try:
            if described.get("status") == RunStatus.RUNNING:
                return
            change = ExecutionChange.from_description(described)
            # The record names the job: a pruned job's META no longer does.
            if self.recorder.apply(job, change) == "finished":
                outcome.repaired.append((job, run_id))
        except Exception as exc:
            outcome.unchecked.append((job, run_id, describe_error(exc)))

    def _deployed(self, job: str) -> bool:
        """Whether `job` is deployed (META `config`); an unreadable config counts as
        deployed: a newer jobctl wrote it."""
        if job not in self._deployed_jobs:
            try:
                self._deployed_jobs[job] = self.store.config(job) is not None
            except DeployedJobError:
                self._deployed_jobs[job] = True
        return self._deployed_jobs[job]

    def _record_gone(
        self,
        job: str,
        run_id: str,
        arn: str,
        item: dict[str, Any],
        code: str,
        cause: str,
        outcome: Reconciliation,
    ) -> None:
        change = ExecutionChange(
            execution_arn=arn,
            state_machine_arn="",
            name=run_id,
            status=RunStatus.ABORTED,
            started_at=item.get("started_at") or None,
            stopped_at=_iso(self.now(), "now"),
            input={},
            error=code,
            cause=cause,
        )
        try:
            # `apply` also frees the job's lock if this execution still holds it.
            if self.recorder.apply(job, change) == "finished":
                outcome.gone.append((job, run_id))
        except Exception as exc:
            outcome.unchecked.append((job, run_id, describe_error(exc)))
