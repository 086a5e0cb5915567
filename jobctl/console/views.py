"""The console's view models: what each page shows, computed from OpsService's answers.

Pure (no AWS, no clock: `now` is an argument), so badges, lateness, success rates and the
timeline's geometry are unit-tested without a browser. Invariants: a job's badge is
exactly one of BADGES, decided in that order of precedence (a disabled job is shown
disabled even while an old run still runs); a job is `late` only when a fire time it
should have started for is more than LATE_AFTER in the past with no run recorded since;
durations and rates are None, never 0, when nothing was measured.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from chalicelib.core.history import FAILED_STATUSES, RunStatus
from chalicelib.core.schedule import ScheduleError, next_fire_times, parse_expression
from chalicelib.ops.models import JobSummary, RunSummary
from jobctl.console.humanize import (
    duration_text,
    parse_time,
    schedule_text,
    seconds_between,
    time_text,
)

BADGES = ("disabled", "paused", "running", "late", "failing", "ok", "new")
# A scheduled start may lag its fire time (EventBridge delivers within a minute, the
# claim adds seconds); only a fire time older than this with no run is called late.
LATE_AFTER = timedelta(minutes=5)
RECENT_RUNS = 20
CHART_SLOTS = 30


@dataclass(frozen=True)
class RunRow:
    run_id: str
    job: str
    status: str
    trigger: str
    triggered_by: str
    scheduled: str
    started: str
    ended: str
    lateness: str
    duration: str
    duration_seconds: float | None
    attempts: str
    exit_code: str
    skip_reason: str


@dataclass(frozen=True)
class JobRow:
    name: str
    description: str
    owner: str
    schedule: str
    schedule_text: str
    timezone: str
    badge: str
    next_local: str
    next_utc: str
    last_run: str
    last_status: str
    last_duration: str
    success_rate: str
    runs: list[RunRow] = field(default_factory=list)


def run_row(run: RunSummary) -> RunRow:
    seconds = seconds_between(run.started_at, run.ended_at)
    late = seconds_between(run.scheduled_time, run.started_at)
    return RunRow(
        run_id=run.run_id,
        job=run.job,
        status=run.status,
        trigger=run.trigger or "-",
        triggered_by=run.triggered_by or "-",
        scheduled=time_text(run.scheduled_time),
        started=time_text(run.started_at),
        ended=time_text(run.ended_at),
        lateness=duration_text(late) if run.scheduled_time and late is not None else "-",
        duration=duration_text(seconds),
        duration_seconds=seconds,
        attempts="-" if run.attempts is None else str(run.attempts),
        exit_code="-" if run.exit_code is None else str(run.exit_code),
        skip_reason=run.skip_reason or "-",
    )


def badge(job: JobSummary, recent: list[RunSummary], now: datetime) -> str:
    """One of BADGES for `job`, given its runs newest first."""
    if not job.enabled:
        return "disabled"
    if job.paused:
        return "paused"
    if any(run.status == RunStatus.RUNNING for run in recent):
        return "running"
    if is_late(job, recent, now):
        return "late"
    finished = [run for run in recent if run.status != RunStatus.SKIPPED]
    if not finished:
        return "new"
    return "failing" if finished[0].status in FAILED_STATUSES else "ok"


def is_late(job: JobSummary, recent: list[RunSummary], now: datetime) -> bool:
    """A fire time after the newest run's (or, with no run, none: a new job is not late)
    that is older than LATE_AFTER."""
    if not recent:
        return False
    newest = recent[0]
    since = parse_time(newest.scheduled_time) or parse_time(newest.started_at)
    if since is None:
        return False
    try:
        schedule = parse_expression(job.schedule)
    except ScheduleError:
        return False
    if schedule.rate_seconds is not None:
        # A rate's phase is the rule's creation time, which the history does not hold:
        # late means a whole period (plus the grace) without a run.
        return now - since > timedelta(seconds=schedule.rate_seconds) + LATE_AFTER
    zone = ZoneInfo(job.timezone) if job.timezone else None
    upcoming = next_fire_times(schedule, since, 1, zone)
    return bool(upcoming) and upcoming[0] < now - LATE_AFTER


def success_rate(recent: list[RunSummary]) -> str:
    counted = [run for run in recent if run.status not in (RunStatus.RUNNING, RunStatus.SKIPPED)]
    if not counted:
        return "-"
    good = sum(1 for run in counted if run.status == RunStatus.SUCCEEDED)
    return f"{round(100 * good / len(counted))}% of {len(counted)}"


def job_row(job: JobSummary, recent: list[RunSummary], now: datetime) -> JobRow:
    zone = job.timezone or "UTC"
    next_utc = parse_time(job.next_run)
    next_local = (
        next_utc.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z") if next_utc else "-"
    )
    last = recent[0] if recent else None
    return JobRow(
        name=job.name,
        description=job.description or "",
        owner=job.owner or "-",
        schedule=job.schedule,
        schedule_text=schedule_text(job.schedule, job.timezone),
        timezone=zone,
        badge=badge(job, recent, now),
        next_local=next_local,
        next_utc=next_utc.strftime("%Y-%m-%d %H:%M UTC") if next_utc else "-",
        last_run=time_text(last.started_at or last.scheduled_time) if last else "-",
        last_status=last.status if last else "-",
        last_duration=duration_text(seconds_between(last.started_at, last.ended_at))
        if last
        else "-",
        success_rate=success_rate(recent),
        runs=[run_row(run) for run in recent],
    )


def fire_times(moments: list[str], timezone: str | None) -> list[str]:
    """Next fire times in the job's zone, with UTC beside them when the zone is not UTC."""
    shown = []
    for text in moments:
        moment = parse_time(text)
        if moment is None:
            continue
        utc = moment.strftime("%Y-%m-%d %H:%M UTC")
        if not timezone or timezone == "UTC":
            shown.append(utc)
        else:
            local = moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M %Z")
            shown.append(f"{local} ({utc})")
    return shown


def matches(row: JobRow, query: str, wanted_badge: str) -> bool:
    """The jobs page's filter: free text over name, description and owner, and a badge."""
    if wanted_badge and row.badge != wanted_badge:
        return False
    text = query.strip().lower()
    return not text or any(
        text in value.lower() for value in (row.name, row.description, row.owner)
    )


# ------------------------------------------------------------------- charts


@dataclass(frozen=True)
class Bar:
    """One run in a chart: position and size in percent of the chart's box."""

    run_id: str
    job: str
    status: str
    left: float
    width: float
    height: float
    label: str


def duration_bars(runs: list[RunSummary]) -> list[Bar]:
    """Oldest first, one bar per finished run, height relative to the longest."""
    measured = [(run, seconds_between(run.started_at, run.ended_at)) for run in reversed(runs)]
    longest = max((seconds or 0.0 for _, seconds in measured), default=0.0) or 1.0
    # At least CHART_SLOTS slots, so one run is one bar, not the whole chart.
    count = max(len(measured), CHART_SLOTS)
    return [
        Bar(
            run_id=run.run_id,
            job=run.job,
            status=run.status,
            left=100.0 * index / count,
            width=100.0 / count,
            height=max(2.0, 100.0 * (seconds or 0.0) / longest),
            label=f"{run.run_id}: {run.status}, {duration_text(seconds)}",
        )
        for index, (run, seconds) in enumerate(measured)
    ]


WINDOWS = {
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(days=1),
    "7d": timedelta(days=7),
}


@dataclass(frozen=True)
class Lane:
    job: str
    bars: list[Bar]


def timeline(runs: list[RunSummary], now: datetime, window: timedelta) -> list[Lane]:
    """One lane per job (by name), each run a bar from its start to its end (or now)."""
    start = now - window
    span = window.total_seconds()
    lanes: dict[str, list[Bar]] = {}
    for run in runs:
        began = parse_time(run.started_at) or parse_time(run.scheduled_time)
        if began is None:
            continue
        ended = parse_time(run.ended_at) or now
        if ended < start or began > now:
            continue
        left = max(0.0, (began - start).total_seconds()) / span * 100.0
        right = min(span, (ended - start).total_seconds()) / span * 100.0
        lanes.setdefault(run.job, []).append(
            Bar(
                run_id=run.run_id,
                job=run.job,
                status=run.status,
                left=round(left, 3),
                width=round(max(0.4, right - left), 3),
                height=100.0,
                label=f"{run.job} {run.run_id}: {run.status}, "
                f"{time_text(run.started_at)}, {duration_text(seconds_between(run.started_at, run.ended_at))}",
            )
        )
    return [
        Lane(job, sorted(bars, key=lambda bar: bar.left)) for job, bars in sorted(lanes.items())
    ]
