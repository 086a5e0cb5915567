"""The local EventBridge: fires the deployed rules and schedules at their times.

moto stores rules and schedules but never fires them. This module reads them back from the
local account (what deploy created, not jobs.yaml), computes each one's fire times with the
same parser and time-zone rules as `jobctl next`, and starts the target state machine with
the input AWS would send (see `events`), under a fresh uuid execution name, like EventBridge.

Timing rules:
* cron fires at the whole minutes it matches, in the schedule's zone (DST: a skipped local
  time does not run, a repeated one runs once); rate() counts from when the trigger was
  first seen, as AWS counts from its creation.
* A DISABLED trigger never fires on its own (`fire_now` still fires it on request).
* After a stall (a suspended laptop), only the latest missed fire time is delivered, and
  only if it is younger than the target's MaximumEventAgeInSeconds; the rest are reported.
Invariants: `FirePlan` is pure (times are passed in); the thread never sleeps past the next
fire time or a stop request; triggers are re-read every `refresh` seconds, so an `apply`
against the local endpoint is picked up.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from jobctl.local.events import scheduled_event, scheduler_input, transform_input
from jobctl.registry.schedule import Schedule, next_fire_times, parse_schedule

DEFAULT_EVENT_AGE = 86400
Clock = Callable[[], datetime]
Say = Callable[[str], None]


@dataclass(frozen=True)
class Trigger:
    """One deployed rule target or schedule, as read back from the account."""

    kind: Literal["rule", "schedule"]
    name: str
    arn: str
    expression: str
    timezone: str
    enabled: bool
    target: dict[str, Any]

    @property
    def target_arn(self) -> str:
        return str(self.target["Arn"])

    @property
    def state_machine(self) -> str:
        return self.target_arn.rsplit(":", 1)[-1]

    @property
    def max_event_age(self) -> int:
        policy = self.target.get("RetryPolicy") or {}
        return int(policy.get("MaximumEventAgeInSeconds", DEFAULT_EVENT_AGE))

    def execution_input(
        self, scheduled: datetime, *, event_id: str, now: datetime, region: str, account: str
    ) -> str:
        """The execution input AWS would send for the fire time `scheduled`."""
        if self.kind == "schedule":
            return scheduler_input(
                str(self.target.get("Input", "{}")),
                schedule_arn=self.arn,
                scheduled_time=scheduled,
                execution_id=event_id,
            )
        event = scheduled_event(
            event_id=event_id, time=scheduled, region=region, account=account, rule_arn=self.arn
        )
        if "InputTransformer" in self.target:
            return transform_input(
                self.target["InputTransformer"],
                event,
                rule_arn=self.arn,
                rule_name=self.name,
                ingestion_time=now,
            )
        if "Input" in self.target:
            return str(self.target["Input"])
        return json.dumps(event)


@dataclass
class FirePlan:
    """When one trigger fires next; `due` advances it. Pure: callers pass the times."""

    trigger: Trigger
    anchor: datetime  # when the trigger was first seen: rate() counts from here
    cursor: datetime  # fire times at or before this were handled
    schedule: Schedule = field(init=False)

    def __post_init__(self) -> None:
        self.schedule = parse_schedule(self.trigger.expression)

    def next_after(self, after: datetime) -> datetime | None:
        seconds = self.schedule.rate_seconds
        if seconds is not None:
            periods = int((after - self.anchor).total_seconds() // seconds) + 1
            return self.anchor + timedelta(seconds=seconds * max(periods, 1))
        times = next_fire_times(self.schedule, after, 1, ZoneInfo(self.trigger.timezone))
        return times[0] if times else None

    def due(self, now: datetime) -> tuple[datetime | None, int]:
        """(the fire time to deliver now or None, how many earlier ones were dropped)."""
        oldest = now - timedelta(seconds=self.trigger.max_event_age)
        latest: datetime | None = None
        dropped = 0
        when = self.next_after(max(self.cursor, oldest - timedelta(seconds=1)))
        while when is not None and when <= now:
            if latest is not None:
                dropped += 1
            latest = when
            when = self.next_after(when)
        if self.cursor < oldest:
            dropped += self._count_between(self.cursor, oldest)
        self.cursor = now
        if latest is not None and latest < oldest:
            return None, dropped + 1
        return latest, dropped

    def _count_between(self, start: datetime, end: datetime, limit: int = 10_000) -> int:
        count, when = 0, self.next_after(start)
        while when is not None and when < end and count < limit:
            count, when = count + 1, self.next_after(when)
        return count


class TriggerReader:
    """Reads the rules and schedules deployed for one project environment."""

    def __init__(self, events: Any, scheduler: Any, base: str) -> None:
        self.events = events
        self.scheduler = scheduler
        self.base = base

    def read(self) -> list[Trigger]:
        triggers: list[Trigger] = []
        for rule in self._pages(self.events.list_rules, "Rules", NamePrefix=f"{self.base}-"):
            if not rule.get("ScheduleExpression"):
                continue
            targets = self._pages(self.events.list_targets_by_rule, "Targets", Rule=rule["Name"])
            triggers.extend(
                Trigger(
                    kind="rule",
                    name=rule["Name"],
                    arn=rule["Arn"],
                    expression=rule["ScheduleExpression"],
                    timezone="UTC",
                    enabled=rule.get("State") == "ENABLED",
                    target=target,
                )
                for target in targets
                if ":states:" in target["Arn"]
            )
        for summary in self._pages(self.scheduler.list_schedules, "Schedules", GroupName=self.base):
            schedule = self.scheduler.get_schedule(Name=summary["Name"], GroupName=self.base)
            if ":states:" not in schedule["Target"]["Arn"]:
                continue
            triggers.append(
                Trigger(
                    kind="schedule",
                    name=schedule["Name"],
                    arn=schedule["Arn"],
                    expression=schedule["ScheduleExpression"],
                    timezone=schedule.get("ScheduleExpressionTimezone") or "UTC",
                    enabled=schedule.get("State") == "ENABLED",
                    target=schedule["Target"],
                )
            )
        return triggers

    @staticmethod
    def _pages(call: Callable[..., Any], key: str, **kwargs: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = call(**kwargs, **({"NextToken": token} if token else {}))
            items.extend(page.get(key, []))
            token = page.get("NextToken")
            if not token:
                return items


class Firer:
    """Starts a trigger's state machine as EventBridge would: uuid name, AWS's input."""

    def __init__(
        self,
        stepfunctions: Any,
        *,
        region: str,
        account: str,
        clock: Clock,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self.stepfunctions = stepfunctions
        self.region = region
        self.account = account
        self.clock = clock
        self.new_id = new_id

    def fire(self, trigger: Trigger, scheduled: datetime) -> str:
        payload = trigger.execution_input(
            scheduled,
            event_id=self.new_id(),
            now=self.clock(),
            region=self.region,
            account=self.account,
        )
        started = self.stepfunctions.start_execution(
            stateMachineArn=trigger.target_arn, name=self.new_id(), input=payload
        )
        return str(started["executionArn"])


class Scheduler:
    """A thread that fires every enabled trigger at its times until `stop`."""

    def __init__(
        self,
        reader: Callable[[], list[Trigger]],
        firer: Firer,
        say: Say,
        *,
        clock: Clock = lambda: datetime.now(UTC),
        refresh: float = 10.0,
    ) -> None:
        self.reader = reader
        self.firer = firer
        self.say = say
        self.clock = clock
        self.refresh = refresh
        self.plans: dict[tuple[str, str], FirePlan] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="jobctl-scheduler", daemon=True)

    def load(self) -> None:
        """Re-read the triggers; new ones start counting now, removed ones are dropped."""
        now = self.clock()
        triggers = {(t.name, t.target_arn): t for t in self.reader()}
        with self._lock:
            for key in list(self.plans):
                if key not in triggers:
                    del self.plans[key]
            for key, trigger in triggers.items():
                plan = self.plans.get(key)
                if plan is None or plan.trigger.expression != trigger.expression:
                    self.plans[key] = FirePlan(trigger, anchor=now, cursor=now)
                elif plan.trigger != trigger:
                    plan.trigger = trigger  # state or input changed: keep its timing

    def triggers(self) -> list[Trigger]:
        with self._lock:
            return [plan.trigger for plan in self.plans.values()]

    def next_fires(self) -> list[tuple[Trigger, datetime]]:
        """The next fire time of every enabled trigger, soonest first."""
        with self._lock:
            pending = [
                (plan.trigger, plan.next_after(plan.cursor))
                for plan in self.plans.values()
                if plan.trigger.enabled
            ]
        return sorted(((t, w) for t, w in pending if w is not None), key=lambda pair: pair[1])

    def fire_now(self, trigger: Trigger) -> str:
        """Deliver `trigger`'s event for the current minute, as if its schedule fired now."""
        now = self.clock()
        return self._fire(trigger, now.replace(second=0, microsecond=0))

    def start(self) -> None:
        self.load()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _fire(self, trigger: Trigger, scheduled: datetime) -> str:
        arn = self.firer.fire(trigger, scheduled)
        self.say(f"scheduler: {trigger.kind} {trigger.name} fired for {scheduled:%Y-%m-%d %H:%M}Z")
        return arn

    def _tick(self) -> None:
        now = self.clock()
        with self._lock:
            due = []
            for plan in self.plans.values():
                if not plan.trigger.enabled:
                    plan.cursor = now
                    continue
                when, dropped = plan.due(now)
                if dropped:
                    self.say(
                        f"scheduler: {plan.trigger.name} missed {dropped} fire time(s) while "
                        "this process was stalled; delivering only the latest"
                    )
                if when is not None:
                    due.append((plan.trigger, when))
        for trigger, when in due:
            try:
                self._fire(trigger, when)
            except Exception as exc:  # one failed delivery must not stop the scheduler
                self.say(f"scheduler: {trigger.name}: StartExecution failed: {exc}")

    def _run(self) -> None:
        reloaded = self.clock()
        while not self._stop.is_set():
            try:
                if (self.clock() - reloaded).total_seconds() >= self.refresh:
                    self.load()
                    reloaded = self.clock()
                self._tick()
            except Exception as exc:  # the local endpoint going away during shutdown
                if self._stop.is_set():
                    return
                self.say(f"scheduler: {exc}")
            upcoming = self.next_fires()
            wait = self.refresh
            if upcoming:
                wait = min(wait, (upcoming[0][1] - self.clock()).total_seconds())
            self._stop.wait(max(wait, 0.01))
