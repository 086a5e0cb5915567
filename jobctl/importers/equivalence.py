"""Proof that a generated jobs.yaml schedule fires exactly when the source schedule does.

The source side is computed independently of jobctl, with croniter, under the source's own
semantics: 5-field Unix cron with the day-of-month/day-of-week OR rule (croniter's default,
as Vixie cron and robfig/cron do) in the source's zone, with the Kubernetes controller's
daylight-saving behaviour (robfig/cron walks wall-clock time: a time skipped by a spring-
forward change does not run, a time repeated by a fall-back change runs at both instants);
`@every` periods; EventBridge cron (renumbered for croniter) in UTC. The generated side is
jobctl's own engine (`jobctl.registry.schedule.parse_schedule` + `next_fire_times`) on the
exact text written to jobs.yaml.

Invariant: `prove` says equivalent only if the next `COUNT` fire times agree from a fixed
anchor and from just before every DST change of the zone in the anchor year and the next,
so the verdict (and the golden reports) do not depend on the clock.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from jobctl.importers.report import ScheduleCheck

COUNT = 500
ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)
Times = Callable[[datetime, int], list[datetime]]


class SourceScheduleError(ValueError):
    """The source expression is not valid under the source's own rules."""


@dataclass(frozen=True)
class SourceSchedule:
    """A schedule as the source system reads it."""

    kind: str  # "unix" | "every" | "eventbridge"
    expression: str  # the cron fields, the period in seconds, or the cron(...) body
    zone: str = "UTC"
    shown: str = ""  # as written in the source

    def times(self, after: datetime, count: int) -> list[datetime]:
        if self.kind == "every":
            period = timedelta(seconds=int(self.expression))
            return [after + period * k for k in range(1, count + 1)]
        if self.kind == "eventbridge":
            return _eventbridge_times(self.expression, after, count)
        return _unix_times(self.expression, ZoneInfo(self.zone), after, count)

    def check(self) -> None:
        """Raise SourceScheduleError when croniter refuses the expression."""
        if self.kind == "every":
            return
        try:
            self.times(ANCHOR, 1)
        except SourceScheduleError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise SourceScheduleError(str(exc) or "not a valid cron expression") from None


# croniter 7.0.0 reads a one-value range in the hour field (`0-0`) as every hour; `a-a` is
# `a` in every cron, so it is rewritten before croniter sees it (found by the property test).
_SINGLE_RANGE = re.compile(r"(?<![\d/])(\d+)-\1(?![\d])")


def _croniter(expression: str, start: datetime) -> object:
    from croniter import croniter

    expression = _SINGLE_RANGE.sub(r"\1", expression)
    from croniter.croniter import CroniterError

    try:
        return croniter(expression, start, day_or=True)
    except (CroniterError, ValueError, KeyError) as exc:
        raise SourceScheduleError(str(exc) or "not a valid cron expression") from None


def _unix_times(expression: str, zone: ZoneInfo, after: datetime, count: int) -> list[datetime]:
    """Wall-clock matches in `zone`, each mapped to the instants robfig/cron runs it at."""
    wall = after.astimezone(zone).replace(tzinfo=None) - timedelta(hours=3)
    walker = _croniter(expression, wall)
    found: list[datetime] = []
    cutoff: datetime | None = None
    while True:
        candidate: datetime = walker.get_next(datetime)  # type: ignore[attr-defined]
        if candidate.year > 2199:
            break
        first = candidate.replace(tzinfo=zone, fold=0).astimezone(UTC)
        if cutoff is not None and first > cutoff + timedelta(hours=3):
            break
        for fold in (0, 1):
            instant = candidate.replace(tzinfo=zone, fold=fold).astimezone(UTC)
            back = instant.astimezone(zone).replace(tzinfo=None)
            if back == candidate and instant > after and instant not in found:
                found.append(instant)
        if len(found) >= count:
            found.sort()
            cutoff = found[count - 1]
    found.sort()
    return found[:count]


_DOW_NUMBER = re.compile(r"(?<![#\d])([1-7])")


def _eventbridge_times(body: str, after: datetime, count: int) -> list[datetime]:
    """EventBridge cron (UTC): day-of-week 1-7 = SUN-SAT renumbered, `?` as `*`, year filtered."""
    fields = body.split()
    if len(fields) != 6:
        raise SourceScheduleError("an EventBridge cron expression has 6 fields")
    minute, hour, dom, month, dow, year = fields
    dow = _DOW_NUMBER.sub(lambda m: str(int(m.group(1)) - 1), dow)
    dom, dow = ("*" if dom == "?" else dom), ("*" if dow == "?" else dow)
    years = None if year == "*" else _years(year)
    walker = _croniter(f"{minute} {hour} {dom} {month} {dow}", after.astimezone(UTC))
    found: list[datetime] = []
    while len(found) < count:
        instant: datetime = walker.get_next(datetime)  # type: ignore[attr-defined]
        if instant.year > 2199:
            break
        if years is None or instant.year in years:
            found.append(instant.astimezone(UTC))
    return found


def _years(text: str) -> set[int]:
    years: set[int] = set()
    for item in text.split(","):
        step = 1
        if "/" in item:
            item, step_text = item.split("/")
            step = int(step_text)
        low, _, high = item.partition("-")
        start = 1970 if low == "*" else int(low)
        end = 2199 if low == "*" or ("/" in text and not high) else int(high or low)
        years.update(range(start, end + 1, step))
    return years


@lru_cache(maxsize=64)
def _dst_changes(zone: str) -> tuple[datetime, ...]:
    """Instants (UTC) where `zone`'s offset changes in the anchor year and the next."""
    if zone == "UTC":
        return ()
    tz = ZoneInfo(zone)
    changes = []
    step = timedelta(hours=1)
    at = ANCHOR
    previous = at.astimezone(tz).utcoffset()
    while at < ANCHOR.replace(year=ANCHOR.year + 2):
        at += step
        offset = at.astimezone(tz).utcoffset()
        if offset != previous:
            changes.append(at)
            previous = offset
    return tuple(changes)


def generated_times(value: str, zone: str) -> Times:
    """jobctl's fire times for the jobs.yaml `schedule` text `value` with `timezone` `zone`."""
    from jobctl.registry.schedule import next_fire_times, parse_schedule

    schedule = parse_schedule(value)
    tz = None if zone == "UTC" else ZoneInfo(zone)
    return lambda after, count: next_fire_times(schedule, after, count, tz)


def _union(parts: list[Times]) -> Times:
    def times(after: datetime, count: int) -> list[datetime]:
        merged = sorted({t for part in parts for t in part(after, count)})
        return merged[:count]

    return times


def _first_difference(
    source: list[datetime], generated: list[datetime], zone: str, system: str
) -> str:
    tz = ZoneInfo(zone)
    for index in range(max(len(source), len(generated))):
        a = source[index] if index < len(source) else None
        b = generated[index] if index < len(generated) else None
        if a == b:
            continue
        if b is None or (a is not None and a < b):
            return f"{_show(a, tz)}: {system} runs, jobctl does not"  # type: ignore[arg-type]
        return f"{_show(b, tz)}: jobctl runs, {system} does not"
    return ""


def _show(instant: datetime, tz: ZoneInfo) -> str:
    local = instant.astimezone(tz)
    utc = instant.strftime("%Y-%m-%dT%H:%MZ")
    return utc if tz.key == "UTC" else f"{local.isoformat(timespec='minutes')} ({utc})"


def _windows(zone: str) -> list[datetime]:
    return [ANCHOR] + [change - timedelta(days=1) for change in _dst_changes(zone)]


def compare(source: SourceSchedule, generated: Times, system: str) -> str | None:
    """None when equivalent, else the first differing fire time (described)."""
    for start in _windows(source.zone):
        expected = source.times(start, COUNT)
        got = generated(start, COUNT)
        if expected != got:
            return _first_difference(expected, got, source.zone, system)
    return None


def prove(
    source: SourceSchedule, candidates: list[tuple[str, str]], system: str
) -> tuple[ScheduleCheck, tuple[str, str] | None]:
    """The first candidate (jobs.yaml schedule, timezone) equivalent to `source`, with proof.

    No equivalent candidate: the check says why (jobctl refuses the text, or the first
    differing fire time of the first candidate) and offers a split when one exists.
    """
    from jobctl.registry.schedule import ScheduleError

    windows = len(_windows(source.zone)) - 1
    where = f"from {ANCHOR:%Y-%m-%d}" + (f" and around {windows} DST changes" if windows else "")
    base = {"source": source.shown, "source_zone": source.zone, "compared": COUNT}
    refusal = ""
    difference: str | None = None
    for value, zone in candidates:
        try:
            times = generated_times(value, zone)
        except ScheduleError as exc:
            refusal = refusal or f"jobctl cannot express '{value}': {exc.message}"
            continue
        found = compare(source, times, system)
        if found is None:
            note = f"compared {where}"
            if zone != source.zone:
                note = (
                    f"written without the zone: the same instants as {source.zone} here "
                    "(jobctl's zoned schedules run a repeated fall-back time once, "
                    f"{system} runs it twice); " + note
                )
            check = ScheduleCheck(
                **base, generated=value, generated_zone=zone, equivalent=True, note=note
            )
            return check, (value, zone)
        if difference is None:
            difference = found
            refusal = refusal or (
                f"'{value}' ({zone}) does not fire when the source does ({where})"
            )
    split = split_of(source, system)
    return (
        ScheduleCheck(
            **base,
            generated=None,
            generated_zone=None,
            equivalent=False,
            first_difference=difference,
            split=split,
            note=refusal or "no equivalent jobs.yaml schedule",
        ),
        None,
    )


def split_of(source: SourceSchedule, system: str) -> list[str] | None:
    """Unix cron restricting both day fields: the two jobs that together fire as it does.

    On a day matching both fields the two jobs start at the same time (the source runs once).
    """
    if source.kind != "unix":
        return None
    fields = source.expression.split()
    if len(fields) != 5:
        return None
    minute, hour, dom, month, dow = fields
    if dom.startswith("*") or dow.startswith("*"):
        return None
    parts = [f"{minute} {hour} {dom} {month} *", f"{minute} {hour} * {month} {dow}"]
    try:
        union = _union([generated_times(part, source.zone) for part in parts])
    except ValueError:
        return None
    return parts if compare(source, union, system) is None else None
