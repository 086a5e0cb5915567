"""EventBridge schedule expressions: the grammar AWS accepts, and when they fire.

Owns what a deployed schedule means, for every stage that needs it: the registry validates
with it, the watchdog and the operator API evaluate fire times with it (they read only the
canonical expression deploy recorded). `parse_expression` accepts exactly what the
EventBridge / EventBridge Scheduler API accepts (``cron(...)`` with six fields,
``rate(value unit)``); `next_fire_times` previews when a schedule runs, in any IANA time
zone, following EventBridge Scheduler's documented daylight-saving rules. Unix cron and
the ``@daily``-style macros are authoring conveniences, converted by
`jobctl.registry.schedule`.

Invariants:

* A returned ``Schedule.expression`` is canonical: it is what jobctl sends to AWS, and
  parsing it again yields the same expression with ``converted=False``.
* Every ``ScheduleError.offset`` is a 0-based index into the text the user wrote, so
  callers can turn it into ``file:line:col``.
* Fire times are computed by walking sorted value sets field by field (year, month,
  day, hour, minute) with ``bisect``; nothing iterates minute by minute, and the walk
  is bounded by the year field's maximum (2199).
* Importing the module does no work beyond defining constants.
"""

from __future__ import annotations

import calendar
import re
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

__all__ = ["Schedule", "ScheduleError", "next_fire_times", "parse_expression"]


class ScheduleError(ValueError):
    """A schedule the AWS API would reject, or that jobctl cannot convert."""

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


@dataclass(frozen=True)
class Schedule:
    """A validated schedule; ``expression`` is the canonical EventBridge form."""

    expression: str
    source: str
    kind: Literal["cron", "rate"]
    converted: bool
    rate_seconds: int | None


# --------------------------------------------------------------------------- fields


@dataclass(frozen=True)
class Field:
    """How one cron field is spelled: its value range, names and allowed steps."""

    name: str
    lo: int
    hi: int
    step_max: int  # 0 means '/' is not allowed in this field
    dialect: str
    names: tuple[str, ...] = ()  # names[i] stands for lo + i
    note: str = ""  # appended to out-of-range messages

    def range_text(self) -> str:
        return f"{self.lo}-{self.hi}{self.note}"


MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
EB = "EventBridge"
UNIX = "Unix cron"  # the dialect jobctl.registry.schedule converts

# Step limits follow Quartz, the engine EventBridge's cron grammar comes from: a step may
# not exceed the field's largest value (the year field has no such value, so its span).
_EB_MINUTES = Field("minutes", 0, 59, 59, EB)
_EB_HOURS = Field("hours", 0, 23, 23, EB)
_EB_DOM = Field("day-of-month", 1, 31, 31, EB)
_EB_MONTH = Field("month", 1, 12, 12, EB, MONTH_NAMES)
_EB_DOW = Field("day-of-week", 1, 7, 0, EB, DAY_NAMES, " (1 = SUN)")
_EB_YEAR = Field("year", 1970, 2199, 229, EB)


_SIX_FIELDS = "minutes hours day-of-month month day-of-week year"
_RATE_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
WRAPPED = re.compile(r"(cron|rate)(\s*)\(", re.IGNORECASE)


def _fail(field: Field, message: str, offset: int) -> ScheduleError:
    return ScheduleError(f"{field.name}: {message}", offset)


# ---------------------------------------------------------------------- day rules


@dataclass(frozen=True)
class _DayRule:
    """Which days of a month match: one of the day-of-month or day-of-week forms."""

    kind: Literal["dom", "last", "last_weekday", "nearest_weekday", "dow", "last_dow", "nth_dow"]
    values: tuple[int, ...] = ()  # days of month (dom), or weekdays 1 = SUN .. 7 = SAT
    nth: int = 0  # the k of n#k


@dataclass(frozen=True)
class _CronPlan:
    """Sorted value sets that drive the fire-time walk."""

    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: _DayRule
    months: tuple[int, ...]
    years: tuple[int, ...]


# ------------------------------------------------------------------- public entry


def parse_expression(text: str) -> Schedule:
    """Validate an EventBridge expression (``cron(...)`` or ``rate(...)``) and return it
    as a canonical schedule; raises ``ScheduleError`` naming the field and the offset."""
    check_outer_whitespace(text)
    wrapped = WRAPPED.match(text)
    if not wrapped:
        raise ScheduleError("expected cron(...) or rate(...)", 0)
    return _parse_wrapped(text, wrapped)


def check_outer_whitespace(text: str) -> None:
    if not text:
        raise ScheduleError("empty schedule", 0)
    if text[0].isspace():
        raise ScheduleError("unexpected whitespace before the schedule", 0)
    if text[-1].isspace():
        raise ScheduleError("unexpected whitespace after the schedule", len(text.rstrip()))


def next_fire_times(
    schedule: Schedule, after: datetime, count: int, tz: ZoneInfo | None = None
) -> list[datetime]:
    """Return up to ``count`` fire times strictly after ``after``, ascending, in UTC.

    Cron fields are matched in the wall-clock time of ``tz`` (UTC when None), with
    EventBridge Scheduler's daylight-saving rules: a local time that does not exist
    (spring forward) is skipped, and an ambiguous local time (fall back) runs once, at
    its first occurrence. Fewer than ``count`` times come back when the expression has
    no more matches up to the year 2199.

    ``rate()`` schedules return ``after + k * period``. EventBridge anchors a rate at
    the moment the schedule is created (or its start date), so these are indicative;
    the period is an absolute duration, so ``tz`` does not affect them.
    """
    if after.tzinfo is None:
        raise ValueError("after must be a timezone-aware datetime")
    if count <= 0:
        return []
    if schedule.rate_seconds is not None:
        return _rate_times(after, schedule.rate_seconds, count)
    zone: tzinfo = tz if tz is not None else UTC
    return _cron_times(_plan_for(schedule.expression), after, count, zone)


# ------------------------------------------------------------------- wrapped forms


def _parse_wrapped(text: str, wrapped: re.Match[str]) -> Schedule:
    keyword, gap = wrapped.group(1), wrapped.group(2)
    if gap:
        raise ScheduleError(f"unexpected whitespace between '{keyword}' and '('", wrapped.start(2))
    if keyword != keyword.lower():
        raise ScheduleError(f"write '{keyword.lower()}(' in lowercase", 0)
    close = text.find(")")
    if close == -1:
        raise ScheduleError("missing ')' at the end", len(text))
    if close != len(text) - 1:
        raise ScheduleError("unexpected text after ')'", close + 1)
    start = wrapped.end()
    parts = _split_body(text[start:close], start, keyword)
    if keyword == "rate":
        return _parse_rate(text, parts, start)
    _compile_cron(parts, start)
    return Schedule(
        expression=canonical_cron([part for part, _ in parts]),
        source=text,
        kind="cron",
        converted=False,
        rate_seconds=None,
    )


def _split_body(body: str, start: int, keyword: str) -> list[tuple[str, int]]:
    """Split the text between the parentheses on single spaces, rejecting stray whitespace."""
    if not body:
        raise ScheduleError(f"{keyword}() is empty", start)
    if body[0].isspace():
        raise ScheduleError(f"unexpected whitespace after '{keyword}('", start)
    if body[-1].isspace():
        raise ScheduleError("unexpected whitespace before ')'", start + len(body.rstrip()))
    for index, char in enumerate(body):
        if char.isspace() and char != " ":
            raise ScheduleError(
                f"unexpected whitespace {char!r}: separate fields with one space", start + index
            )
        if char == " " and body[index - 1] == " ":
            raise ScheduleError(
                "unexpected whitespace: separate fields with exactly one space", start + index
            )
    return split_with_offsets(body, " ", start)


def split_with_offsets(text: str, separator: str, start: int) -> list[tuple[str, int]]:
    parts = []
    offset = start
    for part in text.split(separator):
        parts.append((part, offset))
        offset += len(part) + len(separator)
    return parts


def canonical_cron(fields: list[str]) -> str:
    # Names, L and W are case-insensitive on input; AWS documents them in upper case.
    return "cron(" + " ".join(field.upper() for field in fields) + ")"


# ------------------------------------------------------------------------- rate()


def _parse_rate(text: str, parts: list[tuple[str, int]], start: int) -> Schedule:
    if len(parts) != 2:
        raise ScheduleError(
            "rate() needs a value and a unit separated by one space, e.g. rate(5 minutes)", start
        )
    (value_text, value_at), (unit, unit_at) = parts
    value = _parse_rate_value(value_text, value_at)
    singular = unit.removesuffix("s")
    if unit.lower() != unit and unit.lower().removesuffix("s") in _RATE_UNITS:
        raise ScheduleError(f"write the unit in lowercase: '{unit.lower()}'", unit_at)
    if singular in ("second", "sec"):
        raise ScheduleError("seconds are not supported; the shortest rate is 1 minute", unit_at)
    if singular not in _RATE_UNITS:
        raise ScheduleError(f"unknown unit '{unit}' (use minutes, hours or days)", unit_at)
    if value == 1 and unit != singular:
        raise ScheduleError(f"use the singular unit: rate(1 {singular})", unit_at)
    if value > 1 and unit == singular:
        raise ScheduleError(f"use the plural unit: rate({value} {singular}s)", unit_at)
    return Schedule(
        expression=text,
        source=text,
        kind="rate",
        converted=False,
        rate_seconds=value * _RATE_UNITS[singular],
    )


def _parse_rate_value(text: str, offset: int) -> int:
    if not (text.isascii() and text.isdigit()):
        raise ScheduleError(f"rate value must be a positive whole number, got '{text}'", offset)
    value = int(text)
    if value == 0:
        raise ScheduleError("rate value must be at least 1", offset)
    if text[0] == "0":
        raise ScheduleError(f"rate value must not have leading zeros: write {value}", offset)
    return value


# ------------------------------------------------------------------------- cron()


def _compile_cron(parts: list[tuple[str, int]], start: int) -> _CronPlan:
    """Validate the six EventBridge fields and turn them into a fire-time plan."""
    if len(parts) == 7:
        raise ScheduleError(
            f"EventBridge cron has 6 fields ({_SIX_FIELDS}); seconds are not supported", start
        )
    if len(parts) != 6:
        hint = " (the year field is required; '*' means every year)" if len(parts) == 5 else ""
        raise ScheduleError(
            f"EventBridge cron needs 6 fields ({_SIX_FIELDS}); got {len(parts)}{hint}", start
        )
    (minutes, hours, dom, month, dow, year) = parts
    plan_minutes = _parse_values(_EB_MINUTES, *minutes)
    plan_hours = _parse_values(_EB_HOURS, *hours)
    dom_rule = _parse_dom(*dom)
    plan_months = _parse_values(_EB_MONTH, *month)
    dow_rule = _parse_dow(*dow)
    plan_years = _parse_values(_EB_YEAR, *year)
    if dom_rule is None:
        if dow_rule is None:
            raise ScheduleError(
                "day-of-month and day-of-week can't both be '?': set one of them, "
                "e.g. cron(0 3 * * ? *)",
                dow[1],
            )
        day_rule = dow_rule
    elif dow_rule is None:
        day_rule = dom_rule
    else:
        raise ScheduleError(
            "day-of-month and day-of-week are both specified; use '?' in day-of-month or "
            "day-of-week, e.g. cron(0 3 * * ? *)",
            dow[1],
        )
    return _CronPlan(plan_minutes, plan_hours, day_rule, plan_months, plan_years)


@lru_cache(maxsize=512)
def _plan_for(expression: str) -> _CronPlan:
    # Schedule carries only strings, so the plan is rebuilt from the canonical
    # expression; caching keeps repeated previews of one job cheap.
    start = len("cron(")
    return _compile_cron(_split_body(expression[start:-1], start, "cron"), start)


def _parse_dom(text: str, offset: int) -> _DayRule | None:
    """Parse day-of-month; None means '?'."""
    if _is_question(_EB_DOM, text, offset):
        return None
    upper = text.upper()
    special = next((i for i, char in enumerate(upper) if char in "LW"), None)
    if special is None:
        return _DayRule("dom", _parse_values(_EB_DOM, text, offset))
    if upper == "L":
        return _DayRule("last")
    if upper == "LW":
        return _DayRule("last_weekday")
    char = upper[special]
    if any(mark in text for mark in ",-/*"):
        raise _fail(
            _EB_DOM, f"'{char}' cannot be combined with lists, ranges or steps", offset + special
        )
    if upper.endswith("W") and upper[:-1].isdigit():
        return _DayRule("nearest_weekday", (_parse_value(_EB_DOM, text[:-1], offset),))
    if "W" in upper:
        raise _fail(
            _EB_DOM, "'W' must follow a single day number, e.g. 15W", offset + upper.index("W")
        )
    raise _fail(_EB_DOM, "'L' must stand alone in day-of-month (or as LW)", offset + special)


def _parse_dow(text: str, offset: int) -> _DayRule | None:
    """Parse day-of-week; None means '?'."""
    if _is_question(_EB_DOW, text, offset):
        return None
    upper = text.upper()
    if upper == "L":
        # Quartz semantics, which EventBridge documents as "last day of the week".
        return _DayRule("dow", (7,))
    hash_at = upper.find("#")
    if hash_at != -1:
        _reject_combined(text, "#", offset + hash_at)
        weekday, occurrence = text[:hash_at], text[hash_at + 1 :]
        if not weekday:
            raise _fail(_EB_DOW, "missing weekday before '#', e.g. MON#1", offset)
        day = _parse_value(_EB_DOW, weekday, offset)
        return _DayRule("nth_dow", (day,), _parse_occurrence(occurrence, offset + hash_at))
    last_at = upper.find("L")
    if last_at != -1:
        _reject_combined(text, "L", offset + last_at)
        if last_at != len(upper) - 1:
            raise _fail(_EB_DOW, "'L' must follow a single weekday, e.g. 6L", offset + last_at)
        return _DayRule("last_dow", (_parse_value(_EB_DOW, text[:-1], offset),))
    return _DayRule("dow", _parse_values(_EB_DOW, text, offset))


def _reject_combined(text: str, mark: str, offset: int) -> None:
    if any(char in text for char in ",-/*"):
        raise _fail(_EB_DOW, f"'{mark}' cannot be combined with lists, ranges or steps", offset)


def _parse_occurrence(text: str, offset: int) -> int:
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= 5):
        raise _fail(_EB_DOW, f"occurrence '#{text}' must be #1 to #5", offset)
    return int(text)


def _is_question(field: Field, text: str, offset: int) -> bool:
    question = text.find("?")
    if question == -1:
        return False
    if text != "?":
        raise _fail(field, "'?' must be the whole field", offset + question)
    return True


# ----------------------------------------------------------------- value lists


def _parse_values(field: Field, text: str, offset: int) -> tuple[int, ...]:
    """Parse a list of '*', values, ranges and steps into a sorted tuple."""
    return tuple(sorted(set(expand_list(field, text, offset))))


def expand_list(field: Field, text: str, offset: int) -> list[int]:
    """Parse a list in the order written (Unix day-of-week conversion keeps that order)."""
    _check_characters(field, text, offset)
    values: list[int] = []
    for item, item_at in split_with_offsets(text, ",", offset):
        if not item:
            raise _fail(field, "empty list item", item_at)
        values.extend(_expand_item(field, item, item_at))
    return values


def _check_characters(field: Field, text: str, offset: int) -> None:
    allowed = "*,-/" if field.step_max else "*,-"
    for index, char in enumerate(text):
        if (char.isascii() and char.isalnum()) or char in allowed:
            continue
        if char == "?" and field.dialect == UNIX:
            message = "'?' is not used in 5-field Unix cron; use '*'"
        elif char == "?":
            message = "'?' is only allowed in day-of-month or day-of-week"
        elif char in "*,-/#":
            message = f"'{char}' is not allowed in {field.name} ({field.dialect})"
        else:
            message = f"unexpected character {char!r}"
        raise _fail(field, message, offset + index)


def _expand_item(field: Field, item: str, offset: int) -> list[int]:
    base, slash, step_text = item.partition("/")
    if "/" in step_text:
        raise _fail(field, "unexpected second '/'", offset + len(base) + 1 + step_text.index("/"))
    if base == "*":
        first, last = field.lo, field.hi
    else:
        if "*" in base:
            raise _fail(field, "'*' must stand alone or before '/'", offset + base.index("*"))
        first, last = _parse_range(field, base, offset)
        if slash and "-" not in base:
            last = field.hi  # 'a/n' runs from a to the end of the field
    step = _parse_step(field, step_text, offset + len(base) + 1) if slash else 1
    return list(range(first, last + 1, step))


def _parse_range(field: Field, text: str, offset: int) -> tuple[int, int]:
    low_text, dash, high_text = text.partition("-")
    if not dash:
        value = _parse_value(field, text, offset)
        return value, value
    if not low_text:
        raise _fail(field, "missing value before '-'", offset)
    high_at = offset + len(low_text) + 1
    if not high_text:
        raise _fail(field, "missing value after '-'", high_at)
    if "-" in high_text:
        raise _fail(field, "unexpected second '-'", high_at + high_text.index("-"))
    low = _parse_value(field, low_text, offset)
    high = _parse_value(field, high_text, high_at)
    if low > high:
        raise _fail(
            field,
            f"range {text} runs backwards; ranges don't wrap around, "
            f"use a list such as {_split_range_hint(field, low_text, high_text)}",
            offset,
        )
    return low, high


def _split_range_hint(field: Field, low_text: str, high_text: str) -> str:
    named = bool(field.names) and low_text.isalpha()
    top = field.names[-1] if named else str(field.hi)
    bottom = field.names[0] if named else str(field.lo)
    low, high = low_text.upper(), high_text.upper()
    return f"{low}-{top},{bottom}" + ("" if high == bottom else f"-{high}")


def _parse_step(field: Field, text: str, offset: int) -> int:
    if not text:
        raise _fail(field, "missing step after '/'", offset)
    if not (text.isascii() and text.isdigit()):
        raise _fail(field, f"step '{text}' is not a number", offset)
    step = int(text)
    if not 1 <= step <= field.step_max:
        raise _fail(field, f"step {text} is out of range 1-{field.step_max}", offset)
    return step


def _parse_value(field: Field, text: str, offset: int) -> int:
    if not text:
        raise _fail(field, "missing value", offset)
    if text.isascii() and text.isdigit():
        value = int(text)
        if not field.lo <= value <= field.hi:
            raise _fail(field, f"{text} is out of range {field.range_text()}", offset)
        return value
    if text.isalpha() and field.names:
        upper = text.upper()
        if upper in field.names:
            return field.lo + field.names.index(upper)
        raise _fail(
            field,
            f"unknown name '{text}' (use {field.names[0]}-{field.names[-1]} "
            f"or {field.lo}-{field.hi})",
            offset,
        )
    raise _fail(field, f"'{text}' is not a valid value ({field.range_text()})", offset)


# ----------------------------------------------------------------- fire times


def _rate_times(after: datetime, seconds: int, count: int) -> list[datetime]:
    start = after.astimezone(UTC)
    times = []
    for k in range(1, count + 1):
        try:
            times.append(start + timedelta(seconds=seconds * k))
        except OverflowError:
            break
    return times


def _cron_times(plan: _CronPlan, after: datetime, count: int, zone: tzinfo) -> list[datetime]:
    local = after.astimezone(zone).replace(tzinfo=None)
    if local.year > plan.years[-1]:
        return []
    # Candidates are whole minutes strictly after `after`; an `after` in the second
    # half of a fall-back hour maps back to earlier instants, filtered out below.
    start = local.replace(second=0, microsecond=0) + timedelta(minutes=1)
    times: list[datetime] = []
    for candidate in _walk(plan, start):
        instant = _to_utc(candidate, zone)
        if instant is None or instant <= after:
            continue
        times.append(instant)
        if len(times) == count:
            break
    return times


def _to_utc(wall: datetime, zone: tzinfo) -> datetime | None:
    """Map a wall-clock time to UTC; None when it falls in a spring-forward gap.

    ``fold=0`` (the default) picks the first of two ambiguous instants, which is the
    single run EventBridge Scheduler makes during a fall-back hour.
    """
    instant = wall.replace(tzinfo=zone).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != wall:
        return None
    return instant


def _walk(plan: _CronPlan, start: datetime) -> Iterator[datetime]:
    """Yield matching wall-clock minutes >= start in ascending order.

    Each level only honours ``start``'s component while every outer level still equals
    ``start``'s; after that the level starts from its smallest value.
    """
    for year in plan.years[bisect_left(plan.years, start.year) :]:
        same_year = year == start.year
        months = plan.months[bisect_left(plan.months, start.month) :] if same_year else plan.months
        for month in months:
            same_month = same_year and month == start.month
            days = _days_matching(plan.days, year, month)
            if same_month:
                days = days[bisect_left(days, start.day) :]
            for day in days:
                same_day = same_month and day == start.day
                hours = (
                    plan.hours[bisect_left(plan.hours, start.hour) :] if same_day else plan.hours
                )
                for hour in hours:
                    same_hour = same_day and hour == start.hour
                    minutes = plan.minutes
                    if same_hour:
                        minutes = minutes[bisect_left(minutes, start.minute) :]
                    for minute in minutes:
                        yield datetime(year, month, day, hour, minute)


def _days_matching(rule: _DayRule, year: int, month: int) -> tuple[int, ...]:
    """Return the sorted days of ``year``-``month`` that ``rule`` selects."""
    monday_based_first, length = calendar.monthrange(year, month)
    first_weekday = (monday_based_first + 1) % 7 + 1  # 1 = SUN .. 7 = SAT
    if rule.kind == "dom":
        return rule.values[: bisect_left(rule.values, length + 1)]
    if rule.kind == "last":
        return (length,)
    if rule.kind == "last_weekday":
        return (_nearest_weekday(length, length, first_weekday),)
    if rule.kind == "nearest_weekday":
        (day,) = rule.values
        # Like a plain day number, nW does not fire in months too short to have day n.
        return (_nearest_weekday(day, length, first_weekday),) if day <= length else ()
    if rule.kind == "dow":
        return tuple(
            sorted(
                day
                for weekday in rule.values
                for day in range(_first_day_on(weekday, first_weekday), length + 1, 7)
            )
        )
    (weekday,) = rule.values
    first = _first_day_on(weekday, first_weekday)
    if rule.kind == "last_dow":
        return (first + 7 * ((length - first) // 7),)
    nth = first + 7 * (rule.nth - 1)
    return (nth,) if nth <= length else ()


def _first_day_on(weekday: int, first_weekday: int) -> int:
    return 1 + (weekday - first_weekday) % 7


def _nearest_weekday(day: int, length: int, first_weekday: int) -> int:
    """Quartz's W rule: move a weekend day to the nearest weekday inside the month."""
    weekday = (first_weekday + day - 2) % 7 + 1
    if weekday == 7:  # Saturday: Friday before, unless that leaves the month
        return day + 2 if day == 1 else day - 1
    if weekday == 1:  # Sunday: Monday after, unless that leaves the month
        return day - 2 if day == length else day + 1
    return day
