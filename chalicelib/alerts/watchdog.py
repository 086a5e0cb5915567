"""The missed-run watchdog: a job with no successful run when its schedule says it should have
had one alerts once, and once more when it succeeds again.

For each deployed job (its META item): the reference is the start of its latest successful
run (or, for a job that never succeeded, when the watchdog first saw it); the job is
overdue when `now` passes the next fire time after the reference plus a grace period:
`JOBCTL_WATCHDOG_GRACE` (default 15 min) + the job's worst-case run time (every attempt
timing out plus every retry wait, `chalicelib.core.runtime`). Schedule-aware, so a weekday-only job is not "missed" on Sunday.
Disabled (`enabled: false`) and paused jobs expect no runs and are not checked.

State: `JOB#<job>`/`WATCHDOG` (`state.StateStore`): whether the job is in a missed
incident, since when it is watched, and a `pending` message. Alerts go to the alert topic
as `jobctl.alert/1` messages (event `missed` / `resumed`), so the Slack notifier and AWS
Chatbot both get them.

Invariants:
- Once per incident: the transition (ok -> missed, missed -> ok) is saved with a version
  condition before publishing, so overlapping runs of the watchdog cannot both alert.
- Nothing is lost: the message is saved as `pending` with the transition and cleared only
  after SNS took it; a failed publish is retried on the next tick. A job that cannot be
  checked is logged, the others are still checked, and the invocation then fails (so the
  function's error metric shows it).
- Reads per job: the state item, one `by_job` query (latest SUCCEEDED run); writes only on
  a transition (and once when a job is first seen).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from chalicelib.alerts.message import watch_alert
from chalicelib.alerts.state import StateStore
from chalicelib.core.deployed import DeployedJob
from chalicelib.core.history import WATCHDOG, RunStatus
from chalicelib.core.schedule import next_fire_times, parse_expression

LOG = logging.getLogger("jobctl.alerts")
KIND = WATCHDOG


class JobSource(Protocol):
    """What `chalicelib.history.store.RunStore` offers."""

    def jobs(self) -> list[dict[str, Any]]: ...

    def by_job(self, job: str, *, limit: int = ..., status: str | None = ...) -> Any: ...


class WatchdogError(RuntimeError):
    """Some jobs could not be checked or alerted this time (each is logged)."""


@dataclass(frozen=True)
class WatchState:
    missing: bool = False
    watch_since: str = ""
    expected_by: str = ""
    last_resumed: str = ""
    pending: dict[str, Any] | None = None

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> WatchState:
        return cls(**{k: document[k] for k in cls.__dataclass_fields__ if k in document})


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def state_machine_console(arn: str) -> str:
    parts = arn.split(":")
    if len(parts) < 7 or parts[2] != "states":
        return ""
    region = parts[3]
    return (
        f"https://{region}.console.aws.amazon.com/states/home?region={region}"
        f"#/statemachines/view/{arn}"
    )


class Watchdog:
    def __init__(
        self,
        jobs: JobSource,
        store: StateStore,
        publish: Callable[[dict[str, Any]], None],
        *,
        grace: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.jobs = jobs
        self.store = store
        self.publish = publish
        self.grace = grace
        self.clock = clock

    def run(self) -> dict[str, int]:
        now = self.clock()
        counts: dict[str, int] = {}
        failed: list[str] = []
        for meta in self.jobs.jobs():
            job = str(meta.get("job_name") or meta.get("pk", ""))
            try:
                config = DeployedJob.from_json(meta["config"])
                job = config.job
                outcome = self.check(job, meta, config, now)
            except Exception as exc:
                LOG.error("watchdog: job %s not checked: %s", job, exc)
                failed.append(job)
                outcome = "error"
            counts[outcome] = counts.get(outcome, 0) + 1
        if failed:
            raise WatchdogError(f"watchdog: {len(failed)} job(s) not checked: {', '.join(failed)}")
        return counts

    def check(self, job: str, meta: dict[str, Any], config: DeployedJob, now: datetime) -> str:
        document, version = self.store.load(job, KIND)
        state = WatchState.from_document(document)
        if state.pending is not None:
            # The previous transition's message never reached the topic: send it now.
            self.publish(state.pending)
            self._save(job, replace(state, pending=None), version)
            return "republished"
        if not config.enabled or meta.get("paused"):
            return "not expected"
        schedule = parse_expression(config.schedule)
        zone = ZoneInfo(config.timezone) if config.timezone else None
        success = self._latest_success(job)
        reference = parse_time(success.get("started_at", "")) if success else None
        if reference is None:
            if not state.watch_since:
                first_seen = replace(state, watch_since=iso(now))
                return "watching" if self._save(job, first_seen, version) else "busy"
            reference = parse_time(state.watch_since) or now
        fires = next_fire_times(schedule, reference, 1, zone)
        if not fires:
            return "ok"
        deadline = fires[0] + timedelta(seconds=self.grace + config.worst_case_seconds)
        overdue = now > deadline
        alerts = config.alerts
        if overdue and not state.missing:
            message = (
                self._message("missed", job, meta, config, iso(deadline), success)
                if "failure" in alerts
                else None
            )
            missed = replace(state, missing=True, expected_by=iso(deadline), pending=message)
            return self._transition(job, missed, version, "missed")
        if not overdue and state.missing and success:
            message = (
                self._message("resumed", job, meta, config, state.expected_by, success)
                if "recovery" in alerts
                else None
            )
            resumed = replace(
                state,
                missing=False,
                expected_by="",
                last_resumed=str(success.get("run_id", "")),
                pending=message,
            )
            return self._transition(job, resumed, version, "resumed")
        return "missed" if state.missing else "ok"

    def _transition(self, job: str, state: WatchState, version: int, outcome: str) -> str:
        if not self._save(job, state, version):
            return "busy"  # another watchdog run got there first: it alerts
        if state.pending is not None:
            self.publish(state.pending)
            self._save(job, replace(state, pending=None), version + 1)
            LOG.info("watchdog: job %s %s; alert published", job, outcome)
        return outcome

    def _save(self, job: str, state: WatchState, version: int) -> bool:
        return self.store.save(job, KIND, asdict(state), version)

    def _latest_success(self, job: str) -> dict[str, Any] | None:
        page = self.jobs.by_job(job, limit=1, status=RunStatus.SUCCEEDED)
        items: list[dict[str, Any]] = list(getattr(page, "items", []) or [])
        return items[0] if items else None

    def _message(
        self,
        event: str,
        job: str,
        meta: dict[str, Any],
        config: DeployedJob,
        expected_by: str,
        success: dict[str, Any] | None,
    ) -> dict[str, Any]:
        last_run = str(meta.get("last_run") or "")
        last_status = str(meta.get("last_status") or "")
        if event == "resumed" and success:
            last_run, last_status = str(success.get("run_id", "")), RunStatus.SUCCEEDED.value
        # When the last success ended (its start if the record has no end).
        moment = (
            parse_time(success.get("ended_at") or success.get("started_at", ""))
            if success
            else None
        )
        return watch_alert(
            event="missed" if event == "missed" else "resumed",
            project=config.project,
            environment=config.environment or "",
            job=job,
            slack_route=config.slack or "default",
            schedule=config.schedule,
            timezone=config.timezone or "",
            expected_by=expected_by,
            last_success_at=iso(moment) if moment else "",
            last_run_id=last_run,
            last_status=last_status,
            console_url=state_machine_console(config.state_machine_arn),
        )
