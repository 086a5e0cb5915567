"""When the local scheduler fires, and what it starts: pure, with a fake clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from jobctl.local.scheduler import FirePlan, Firer, Scheduler, Trigger

T0 = datetime(2026, 3, 7, 12, 0, 30, tzinfo=UTC)


def trigger(
    expression: str,
    *,
    timezone: str = "UTC",
    enabled: bool = True,
    max_age: int = 86400,
    kind: str = "rule",
) -> Trigger:
    target: dict[str, Any] = {
        "Arn": "arn:aws:states:us-east-1:123456789012:stateMachine:p-job",
        "RetryPolicy": {"MaximumEventAgeInSeconds": max_age, "MaximumRetryAttempts": 185},
    }
    if kind == "rule":
        target["InputTransformer"] = {
            "InputPathsMap": {"id": "$.id", "time": "$.time"},
            "InputTemplate": '{"trigger": "schedule", "scheduled_time": <time>, "event_id": <id>}',
        }
    else:
        target["Input"] = '{"scheduled_time": "<aws.scheduler.scheduled-time>"}'
    return Trigger(
        kind="rule" if kind == "rule" else "schedule",
        name="p-job",
        arn="arn:aws:events:us-east-1:123456789012:rule/p-job",
        expression=expression,
        timezone=timezone,
        enabled=enabled,
        target=target,
    )


def plan(expression: str, start: datetime = T0, **kwargs: Any) -> FirePlan:
    return FirePlan(trigger(expression, **kwargs), anchor=start, cursor=start)


def test_cron_fires_at_the_next_matching_minute_and_only_once() -> None:
    every_five = plan("cron(0/5 * * * ? *)")
    assert every_five.next_after(T0) == datetime(2026, 3, 7, 12, 5, tzinfo=UTC)
    assert every_five.due(datetime(2026, 3, 7, 12, 4, 59, tzinfo=UTC)) == (None, 0)
    fire = datetime(2026, 3, 7, 12, 5, tzinfo=UTC)
    assert every_five.due(fire) == (fire, 0)
    assert every_five.due(fire + timedelta(seconds=1)) == (None, 0), "not twice"
    assert every_five.due(fire + timedelta(minutes=5)) == (fire + timedelta(minutes=5), 0)


def test_cron_in_a_time_zone_follows_its_daylight_saving_rules() -> None:
    # New York springs forward on 2026-03-08: 02:30 local does not exist that day.
    midnight = datetime(2026, 3, 7, tzinfo=UTC)
    nightly = plan("cron(30 2 * * ? *)", midnight, timezone="America/New_York")
    times = []
    cursor = midnight
    for _ in range(3):
        when = nightly.next_after(cursor)
        assert when is not None
        times.append(when)
        cursor = when
    assert times == [
        datetime(2026, 3, 7, 7, 30, tzinfo=UTC),  # 02:30 EST
        datetime(2026, 3, 9, 6, 30, tzinfo=UTC),  # 02:30 EDT: the 8th is skipped
        datetime(2026, 3, 10, 6, 30, tzinfo=UTC),
    ]


def test_rate_counts_from_when_the_trigger_was_first_seen() -> None:
    every_five = plan("rate(5 minutes)")
    assert every_five.next_after(T0) == T0 + timedelta(minutes=5)
    assert every_five.next_after(T0 + timedelta(minutes=7)) == T0 + timedelta(minutes=10)
    assert every_five.due(T0 + timedelta(minutes=5)) == (T0 + timedelta(minutes=5), 0)


def test_after_a_stall_only_the_latest_missed_time_is_delivered() -> None:
    hourly = plan("cron(0 * * * ? *)")
    woke = datetime(2026, 3, 7, 15, 10, tzinfo=UTC)
    when, dropped = hourly.due(woke)
    assert when == datetime(2026, 3, 7, 15, 0, tzinfo=UTC)
    assert dropped == 2  # 13:00 and 14:00


def test_a_missed_time_older_than_the_event_age_is_dropped() -> None:
    hourly = plan("cron(0 * * * ? *)", max_age=600)
    woke = datetime(2026, 3, 7, 15, 20, tzinfo=UTC)  # 15:00 is 20 minutes old
    when, dropped = hourly.due(woke)
    assert when is None
    assert dropped == 3  # 13:00, 14:00, 15:00


class FakeSfn:
    def __init__(self) -> None:
        self.started: list[dict[str, str]] = []

    def start_execution(self, **kwargs: str) -> dict[str, str]:
        self.started.append(kwargs)
        return {"executionArn": f"{kwargs['stateMachineArn']}:{kwargs['name']}"}


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def scheduler(triggers: list[Trigger], clock: Clock, sfn: FakeSfn) -> Scheduler:
    ids = iter(f"id-{n}" for n in range(100))
    firer = Firer(sfn, region="us-east-1", account="123456789012", clock=clock, new_id=ids.__next__)
    return Scheduler(lambda: triggers, firer, lambda line: None, clock=clock)


def test_the_scheduler_starts_the_target_with_eventbridges_input_and_a_fresh_name() -> None:
    clock, sfn = Clock(T0), FakeSfn()
    lab = scheduler([trigger("cron(0/5 * * * ? *)")], clock, sfn)
    lab.load()
    lab._tick()
    assert sfn.started == []
    clock.now = datetime(2026, 3, 7, 12, 5, 0, 300000, tzinfo=UTC)
    lab._tick()
    (started,) = sfn.started
    assert started["stateMachineArn"].endswith(":stateMachine:p-job")
    assert started["name"] == "id-1"  # the event id is id-0: names are not event ids
    assert json.loads(started["input"]) == {
        "trigger": "schedule",
        "scheduled_time": "2026-03-07T12:05:00Z",
        "event_id": "id-0",
    }


def test_a_disabled_trigger_never_fires_on_its_own_but_fires_on_request() -> None:
    clock, sfn = Clock(T0), FakeSfn()
    off = trigger("cron(0/5 * * * ? *)", enabled=False)
    lab = scheduler([off], clock, sfn)
    lab.load()
    clock.now = T0 + timedelta(hours=1)
    lab._tick()
    assert sfn.started == []
    assert lab.next_fires() == []
    lab.fire_now(off)
    (started,) = sfn.started
    assert json.loads(started["input"])["scheduled_time"] == "2026-03-07T13:00:00Z"


def test_reloading_keeps_timing_and_picks_up_new_and_removed_triggers() -> None:
    clock, sfn = Clock(T0), FakeSfn()
    triggers = [trigger("rate(10 minutes)")]
    lab = scheduler(triggers, clock, sfn)
    lab.load()
    clock.now = T0 + timedelta(minutes=4)
    lab.load()  # same trigger: rate() still counts from T0
    assert [when for _, when in lab.next_fires()] == [T0 + timedelta(minutes=10)]
    triggers.clear()
    lab.load()
    assert lab.next_fires() == []


def test_a_schedule_trigger_gets_scheduler_context_attributes() -> None:
    clock, sfn = Clock(T0), FakeSfn()
    lab = scheduler([trigger("cron(0 13 * * ? *)", kind="schedule")], clock, sfn)
    lab.load()
    clock.now = datetime(2026, 3, 7, 13, 0, 1, tzinfo=UTC)
    lab._tick()
    (started,) = sfn.started
    assert json.loads(started["input"]) == {"scheduled_time": "2026-03-07T13:00:00Z"}
