"""Schedules as developers write them in jobs.yaml: EventBridge, Unix cron and @macros.

Owns the authoring conveniences: 5-field Unix cron (with its day-of-week numbering and
day-field rules) and the ``@daily``-style macros, converted to the canonical EventBridge
form that `chalicelib.core.schedule` validates and evaluates (the runtime reads only that
form). Invariant: a converted schedule fires exactly when the Unix expression would, or
the conversion is refused with the reason.
"""

from __future__ import annotations

import re

from chalicelib.core.schedule import (
    DAY_NAMES,
    MONTH_NAMES,
    UNIX,
    WRAPPED,
    Field,
    Schedule,
    ScheduleError,
    canonical_cron,
    check_outer_whitespace,
    expand_list,
    next_fire_times,
    parse_expression,
    split_with_offsets,
)

__all__ = ["Schedule", "ScheduleError", "next_fire_times", "parse_schedule"]

UNIX_MINUTES = Field("minutes", 0, 59, 59, UNIX)
UNIX_HOURS = Field("hours", 0, 23, 23, UNIX)
UNIX_DOM = Field("day-of-month", 1, 31, 31, UNIX)
UNIX_MONTH = Field("month", 1, 12, 12, UNIX, MONTH_NAMES)
UNIX_DOW = Field("day-of-week", 0, 7, 7, UNIX, DAY_NAMES, " (0 and 7 = SUN)")
_MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
_UNIX_SEPARATOR = re.compile(r"[ \t]+")


_ZONE_PREFIX = re.compile(r"(CRON_TZ|TZ)=(\S*)\s+")


def parse_schedule(text: str) -> Schedule:
    """Validate ``text`` and return its canonical EventBridge schedule.

    Accepts ``cron(...)``, ``rate(...)``, 5-field Unix cron and @macros; raises
    ``ScheduleError`` with a message naming the field and the offset of the problem.
    """
    check_outer_whitespace(text)
    zone = _ZONE_PREFIX.match(text)
    if zone:
        # Kubernetes (and cronie) read `CRON_TZ=Zone` in front of the expression; here the
        # zone is its own key, which also makes the job a DST-aware Scheduler schedule.
        raise ScheduleError(
            f"'{zone.group(1)}=' is not part of a schedule here: write "
            f"'timezone: {zone.group(2)}' beside 'schedule: \"{text[zone.end() :]}\"'",
            0,
        )
    if text.startswith("@"):
        return _parse_macro(text)
    if WRAPPED.match(text):
        return parse_expression(text)
    return _parse_unix(text)


# ---------------------------------------------------------------- Unix cron input


def _parse_macro(text: str) -> Schedule:
    if text == "@reboot":
        raise ScheduleError("@reboot is not a schedule: it runs once at boot", 0)
    if text not in _MACROS:
        raise ScheduleError(f"unknown macro '{text}' (use {', '.join(_MACROS)})", 0)
    return _converted(split_with_offsets(_MACROS[text], " ", 0), text)


def _parse_unix(text: str) -> Schedule:
    fields = _split_unix(text)
    if len(fields) != 5:
        hint = (
            "; a 6-field EventBridge expression must be wrapped: cron(...)"
            if len(fields) == 6
            else ""
        )
        raise ScheduleError(
            "expected cron(...), rate(...), an @macro or 5-field Unix cron; "
            f"got {len(fields)} field{'s' if len(fields) != 1 else ''}{hint}",
            0,
        )
    return _converted(fields, text)


def _converted(fields: list[tuple[str, int]], source: str) -> Schedule:
    """A Unix-cron (or macro) schedule, converted to the EventBridge form."""
    return Schedule(
        expression=_convert_unix(fields),
        source=source,
        kind="cron",
        converted=True,
        rate_seconds=None,
    )


def _split_unix(text: str) -> list[tuple[str, int]]:
    # crontab allows runs of blanks between fields, so Unix input does too.
    fields = []
    start = 0
    for separator in _UNIX_SEPARATOR.finditer(text):
        fields.append((text[start : separator.start()], start))
        start = separator.end()
    fields.append((text[start:], start))
    return fields


def _convert_unix(fields: list[tuple[str, int]]) -> str:
    """Validate 5 Unix fields and return the equivalent canonical cron(...) expression."""
    (minutes, hours, dom, month, dow) = fields
    _reject_quartz_marks(*dom, {"L": "cron(0 3 L * ? *)", "W": "cron(0 3 15W * ? *)"})
    _reject_quartz_marks(*dow, {"L": "cron(0 3 ? * 6L *)", "#": "cron(0 3 ? * 2#1 *)"})
    specs = (UNIX_MINUTES, UNIX_HOURS, UNIX_DOM, UNIX_MONTH)
    for field, (text, offset) in zip(specs, fields[:4], strict=True):
        expand_list(field, text, offset)
    eventbridge_dow = _convert_unix_dow(*dow)
    # With either day field '*', Unix cron ANDs the two, so the other one alone decides.
    if dow[0] == "*":
        dom_out, dow_out = dom[0], "?"
    elif dom[0] == "*":
        dom_out, dow_out = "?", eventbridge_dow
    else:
        raise ScheduleError(_both_days_message(fields), dow[1])
    return canonical_cron([minutes[0], hours[0], dom_out, month[0], dow_out, "*"])


def _reject_quartz_marks(text: str, offset: int, examples: dict[str, str]) -> None:
    for index, char in enumerate(text.upper()):
        if char in examples:
            raise ScheduleError(
                f"'{char}' is not standard in 5-field Unix cron; "
                f"use the 6-field EventBridge form, e.g. {examples[char]}",
                offset + index,
            )


def _both_days_message(fields: list[tuple[str, int]]) -> str:
    (minutes, hours, dom, month, dow) = (text for text, _ in fields)
    if dom.startswith("*") or dow.startswith("*"):
        # Vixie/Debian cron AND the two day fields when either starts with '*'.
        return (
            "Unix cron runs only when BOTH day-of-month and day-of-week match here "
            "(one of them starts with '*'), which EventBridge cannot express: "
            "it needs one of them to be '?'"
        )
    return (
        "Unix cron runs when EITHER day-of-month or day-of-week matches, but EventBridge "
        "needs one of them to be '?'; split it into two jobs: "
        f"'{minutes} {hours} {dom} {month} *' and '{minutes} {hours} * {month} {dow}'"
    )


def _convert_unix_dow(text: str, offset: int) -> str:
    """Renumber Unix day-of-week (0-7, 0 and 7 = SUN) to EventBridge's (1-7, 1 = SUN)."""
    tokens: list[str] = []
    for item, item_at in split_with_offsets(text, ",", offset):
        for token in _convert_unix_dow_item(item, item_at):
            if token not in tokens:
                tokens.append(token)
    return ",".join(tokens)


def _convert_unix_dow_item(item: str, offset: int) -> list[str]:
    values = expand_list(UNIX_DOW, item, offset)
    if "/" in item or "*" in item or 7 in values[1:]:
        # EventBridge day-of-week has no steps, and a range reaching Unix 7 (SUN)
        # would wrap past SAT = 7, so both become an explicit list in written order.
        return list(dict.fromkeys(str(value % 7 + 1) for value in values))
    return ["-".join(_renumber_unix_day(end) for end in item.split("-"))]


def _renumber_unix_day(text: str) -> str:
    return text.upper() if text.isalpha() else str(int(text) % 7 + 1)
