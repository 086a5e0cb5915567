"""Schedules and durations in words, for people scanning a page.

Owns only presentation: a schedule that this module cannot put in words is shown as the
expression itself (never a guess), and every function is pure.
"""

from __future__ import annotations

import re
from datetime import datetime

from chalicelib.core.durations import elapsed_text

_DAYS = {"1": "Sun", "2": "Mon", "3": "Tue", "4": "Wed", "5": "Thu", "6": "Fri", "7": "Sat"}
_DAY_NAMES = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.*)\)$")


def schedule_text(expression: str, timezone: str | None = None) -> str:
    """`cron(0 3 * * ? *)` -> `daily at 03:00 UTC`; unknown shapes come back unchanged."""
    zone = timezone or "UTC"
    rate = _RATE.match(expression)
    if rate:
        count, unit = int(rate.group(1)), rate.group(2).rstrip("s")
        return f"every {unit}" if count == 1 else f"every {count} {unit}s"
    cron = _CRON.match(expression)
    if not cron:
        return expression
    fields = cron.group(1).split()
    if len(fields) != 6:
        return expression
    minute, hour, dom, month, dow, year = fields
    if month != "*" or year != "*":
        return expression
    if minute.startswith(("0/", "*/")) and hour == "*" and dom in "*?" and dow in "*?":
        step = minute.split("/", 1)[1]
        if step.isdigit():
            return f"every {int(step)} minutes"
    if not (minute.isdigit() and (hour.isdigit() or hour == "*")):
        return expression
    if hour == "*":
        return f"hourly at :{int(minute):02d}" if dom in "*?" and dow in "*?" else expression
    at = f"{int(hour):02d}:{int(minute):02d} {zone}"
    if dom in "*?" and dow in "*?":
        return f"daily at {at}"
    if dom == "?" and dow != "?":
        days = _weekdays(dow)
        return f"{days} at {at}" if days else expression
    if dow == "?" and dom.isdigit():
        return f"day {int(dom)} of each month at {at}"
    if dow == "?" and dom == "L":
        return f"last day of each month at {at}"
    return expression


def _weekdays(field: str) -> str | None:
    if field in ("MON-FRI", "2-6"):
        return "weekdays"
    names = []
    for part in field.split(","):
        upper = part.upper()
        if upper in _DAY_NAMES:
            names.append(upper.title())
        elif part in _DAYS:
            names.append(_DAYS[part])
        else:
            return None
    return ", ".join(names)


def parse_time(text: str | None) -> datetime | None:
    """An ISO 8601 instant as stored in the history (`...Z`), or None."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def seconds_between(start: str | None, end: str | None) -> float | None:
    began, ended = parse_time(start), parse_time(end)
    if began is None or ended is None:
        return None
    return max(0.0, (ended - began).total_seconds())


def duration_text(seconds: float | None) -> str:
    """`75.2` -> `1m 15s`, days from 48 hours on; None -> `-`."""
    if seconds is None:
        return "-"
    return elapsed_text(round(seconds), separator=" ", days_from_hours=48)


def time_text(text: str | None) -> str:
    """A stored instant to the second, in UTC: `2026-12-01 22:10:05 UTC`."""
    moment = parse_time(text)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "-"
