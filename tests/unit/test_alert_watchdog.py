"""The missed-run watchdog: schedule-aware deadlines, once per incident, recovery, retries."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.alerts.message import parse_alert
from chalicelib.alerts.state import MemoryStateStore
from chalicelib.alerts.watchdog import Watchdog, WatchdogError
from tests.support.alert_env import job_config

GRACE = 900


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass
class Page:
    items: list[dict[str, Any]]
    next_token: str | None = None


@dataclass
class Jobs:
    metas: list[dict[str, Any]] = field(default_factory=list)
    runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, job: str, paused: bool = False, **config: Any) -> None:
        self.metas.append(
            {
                "pk": f"JOB#{job}",
                "sk": "META",
                "paused": paused,
                "last_run": "",
                "last_status": "",
                "config": json.dumps(
                    job_config(
                        job,
                        project="coin",
                        environment="production",
                        state_machine_arn=(
                            f"arn:aws:states:us-east-1:123456789012:stateMachine:coin-production-{job}"
                        ),
                        **config,
                    )
                ),
            }
        )

    def succeed(self, job: str, run_id: str, started_at: str) -> None:
        run = {"run_id": run_id, "status": "SUCCEEDED", "started_at": started_at}
        self.runs.setdefault(job, []).insert(0, run)

    def jobs(self) -> list[dict[str, Any]]:
        return self.metas

    def by_job(self, job: str, *, limit: int = 20, status: str | None = None) -> Page:
        runs = [r for r in self.runs.get(job, []) if status is None or r["status"] == status]
        return Page(runs[:limit])


class Clock:
    def __init__(self, now: str) -> None:
        self.now = at(now)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Setup:
    jobs: Jobs
    clock: Clock
    published: list[dict[str, Any]]
    watchdog: Watchdog
    store: MemoryStateStore

    def tick(self, now: str) -> dict[str, int]:
        self.clock.now = at(now)
        return self.watchdog.run()

    def events(self) -> list[str]:
        return [m["metadata"]["additionalContext"]["event"] for m in self.published]


@pytest.fixture
def setup() -> Setup:
    jobs, clock, published, store = Jobs(), Clock("2026-03-01T00:00:00"), [], MemoryStateStore()
    watchdog = Watchdog(jobs, store, published.append, grace=GRACE, clock=clock)
    return Setup(jobs, clock, published, watchdog, store)


def test_a_daily_job_without_a_success_alerts_once_then_recovers(setup: Setup) -> None:
    setup.jobs.add("report")
    setup.jobs.succeed("report", "r1", "2026-03-01T03:00:02.100Z")
    # next fire 03-02 03:00 + grace 15 min + worst case 1 h = 04:15
    assert setup.tick("2026-03-02T04:14:59") == {"ok": 1}
    assert setup.tick("2026-03-02T04:15:01") == {"missed": 1}
    assert setup.tick("2026-03-02T05:00:00") == {"missed": 1}, "still missed: no second alert"
    assert setup.events() == ["missed"]
    missed = parse_alert(json.dumps(setup.published[0])).context
    assert missed.expected_by == "2026-03-02T04:15:00Z"  # type: ignore[union-attr]
    assert missed.last_success_at == "2026-03-01T03:00:02Z"  # type: ignore[union-attr]
    setup.jobs.succeed("report", "manual-1", "2026-03-02T05:10:00Z")
    assert setup.tick("2026-03-02T05:20:00") == {"resumed": 1}
    assert setup.tick("2026-03-02T05:25:00") == {"ok": 1}
    assert setup.events() == ["missed", "resumed"]
    resumed = setup.published[1]["metadata"]["additionalContext"]
    assert (resumed["last_run_id"], resumed["status"]) == ("manual-1", "SUCCEEDED")


def test_a_weekday_job_is_not_missed_at_the_weekend(setup: Setup) -> None:
    setup.jobs.add("weekday", schedule="cron(0 9 ? * MON-FRI *)")
    setup.jobs.succeed("weekday", "fri", "2026-03-06T09:00:01Z")  # a Friday
    assert setup.tick("2026-03-08T23:00:00") == {"ok": 1}, "Sunday: next run is Monday"
    assert setup.tick("2026-03-09T10:16:00") == {"missed": 1}


def test_the_schedule_time_zone_is_honoured(setup: Setup) -> None:
    setup.jobs.add("tokyo", timezone="Asia/Tokyo")  # 03:00 JST = 18:00 UTC the day before
    setup.jobs.succeed("tokyo", "t1", "2026-03-01T18:00:01Z")
    assert setup.tick("2026-03-02T19:14:00") == {"ok": 1}
    assert setup.tick("2026-03-02T19:16:00") == {"missed": 1}


def test_a_job_that_never_succeeded_is_watched_from_first_sight(setup: Setup) -> None:
    setup.jobs.add("fresh", schedule="rate(1 hour)", timeout=600)
    assert setup.tick("2026-03-01T00:00:00") == {"watching": 1}
    assert setup.tick("2026-03-01T01:24:00") == {"ok": 1}
    assert setup.tick("2026-03-01T01:26:00") == {"missed": 1}
    context = setup.published[0]["metadata"]["additionalContext"]
    assert context["last_success_at"] == "" and context["last_run_id"] == ""


def test_paused_and_disabled_jobs_expect_no_runs(setup: Setup) -> None:
    setup.jobs.add("paused", paused=True)
    setup.jobs.add("off", enabled=False)
    for job in ("paused", "off"):
        setup.jobs.succeed(job, "old", "2026-01-01T03:00:00Z")
    assert setup.tick("2026-03-02T12:00:00") == {"not expected": 2}
    assert setup.published == []


def test_alerts_follow_the_jobs_alert_settings(setup: Setup) -> None:
    setup.jobs.add("quiet", alerts=["recovery"])
    setup.jobs.succeed("quiet", "q1", "2026-03-01T03:00:00Z")
    assert setup.tick("2026-03-03T00:00:00") == {"missed": 1}
    setup.jobs.succeed("quiet", "q2", "2026-03-03T03:00:00Z")
    assert setup.tick("2026-03-03T03:30:00") == {"resumed": 1}
    assert setup.events() == ["resumed"], "no missed alert without 'failure' in alerts.events"


def test_a_failed_publish_is_retried_on_the_next_tick_and_fails_the_invocation(
    setup: Setup,
) -> None:
    setup.jobs.add("report")
    setup.jobs.add("other")
    setup.jobs.succeed("report", "r1", "2026-03-01T03:00:00Z")
    setup.jobs.succeed("other", "o1", "2026-03-01T03:00:00Z")
    failing = [True]

    def publish(message: dict[str, Any]) -> None:
        if failing[0] and message["metadata"]["additionalContext"]["job"] == "report":
            raise RuntimeError("SNS throttled")
        setup.published.append(message)

    setup.watchdog.publish = publish
    with pytest.raises(WatchdogError, match="1 job\\(s\\) not checked: report"):
        setup.tick("2026-03-02T05:00:00")
    assert [m["metadata"]["additionalContext"]["job"] for m in setup.published] == ["other"]
    failing[0] = False
    assert setup.tick("2026-03-02T05:05:00") == {"republished": 1, "missed": 1}
    assert setup.tick("2026-03-02T05:10:00") == {"missed": 2}
    assert [m["metadata"]["additionalContext"]["job"] for m in setup.published] == [
        "other",
        "report",
    ]


def test_overlapping_watchdogs_alert_once(setup: Setup) -> None:
    setup.jobs.add("report")
    setup.jobs.succeed("report", "r1", "2026-03-01T03:00:00Z")
    other = Watchdog(
        setup.jobs, setup.store, setup.published.append, grace=GRACE, clock=setup.clock
    )

    class Racing(MemoryStateStore):
        def __init__(self) -> None:
            self.items = setup.store.items
            self.raced = False

        def save(self, job: str, kind: str, state: dict[str, Any], version: int) -> bool:
            if not self.raced:
                self.raced = True
                assert other.run() == {"missed": 1}
            return super().save(job, kind, state, version)

    setup.watchdog.store = Racing()
    assert setup.tick("2026-03-02T05:00:00") == {"busy": 1}
    assert setup.events() == ["missed"]


def test_a_job_that_cannot_be_checked_does_not_stop_the_others(setup: Setup) -> None:
    setup.jobs.add("broken", schedule="cron(nonsense)")
    setup.jobs.add("report")
    setup.jobs.succeed("report", "r1", "2026-03-01T03:00:00Z")
    with pytest.raises(WatchdogError, match="broken"):
        setup.tick("2026-03-02T05:00:00")
    assert setup.events() == ["missed"]
