"""Source schedule texts -> (`SourceSchedule`, jobs.yaml candidates), shared by the importers.

Owns reading robfig/cron-style schedules (Kubernetes and Copilot: 5-field Unix cron, `?` as
`*`, the @ macros, `@every <Go duration>`, a `CRON_TZ=`/`TZ=` prefix) and EventBridge
`cron(...)`/`rate(...)` texts, and the jobs.yaml texts that may express them. Which candidate
is taken is decided by `equivalence.prove`, never here.
"""

from __future__ import annotations

import re

from jobctl.importers.equivalence import SourceSchedule

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_GO_DURATION = re.compile(r"^(?:([0-9.]+)h)?(?:([0-9.]+)m(?!s))?(?:([0-9.]+)s)?$")
_ZONE_PREFIX = re.compile(r"^(CRON_TZ|TZ)=(\S+)\s+")
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")


class NotASchedule(ValueError):
    """The text is not a schedule the source system accepts."""


def go_duration(text: str) -> float | None:
    """Seconds in a Go duration such as `1h30m`, `90s`, `1.5h`; None if not one."""
    match = _GO_DURATION.match(text.strip())
    if match is None or not any(match.groups()):
        return None
    hours, minutes, seconds = (float(part) if part else 0.0 for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def rate_text(seconds: int) -> str:
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds % size == 0:
            count = seconds // size
            return f"rate({count} {unit}{'s' if count != 1 else ''})"
    raise ValueError(seconds)


def robfig(text: str, zone: str) -> tuple[SourceSchedule, list[tuple[str, str]], str]:
    """A Kubernetes/Copilot schedule: its source semantics, candidates, and its zone.

    A `CRON_TZ=`/`TZ=` prefix overrides `zone` (robfig/cron reads it).
    """
    shown = text
    prefix = _ZONE_PREFIX.match(text)
    if prefix:
        zone = prefix.group(2)
        text = text[prefix.end() :]
    text = text.strip()
    if text.startswith("@every"):
        seconds = go_duration(text[len("@every") :])
        if seconds is None or seconds <= 0:
            raise NotASchedule(f"'{shown}' is not '@every <duration>' (e.g. '@every 1h30m')")
        source = SourceSchedule("every", str(int(seconds)), "UTC", shown)
        if seconds != int(seconds) or seconds % 60:
            return source, [], zone
        return source, [(rate_text(int(seconds)), "UTC")], zone
    if text.startswith("@"):
        if text not in MACROS:
            raise NotASchedule(f"unknown schedule macro '{text}' (use {', '.join(MACROS)})")
        source = SourceSchedule("unix", MACROS[text], zone, shown)
        return source, _with_utc(text, zone), zone
    fields = text.split()
    if len(fields) != 5:
        raise NotASchedule(f"'{shown}' is not a 5-field cron expression")
    fields[2], fields[4] = ("*" if f == "?" else f for f in (fields[2], fields[4]))
    expression = " ".join(fields)
    # jobs.yaml gets robfig's reading spelled out where jobctl's Unix cron reads the same
    # text otherwise: a day-of-week `N/S` runs to robfig's last day, 6 (Saturday), where
    # jobctl's (Vixie's) runs to 7 (Sunday again): `1/1` is Mon-Sat there, Mon-Sun here.
    written = " ".join([*fields[:4], _robfig_weekdays(fields[4])])
    return SourceSchedule("unix", expression, zone, shown), _with_utc(written, zone), zone


_OPEN_STEP = re.compile(r"(\d+)/(\d+)")


def _robfig_weekdays(field: str) -> str:
    """`1/2,5` -> `1-6/2,5`: every open-ended day-of-week step closed at robfig's 6."""
    return ",".join(
        f"{step.group(1)}-6/{step.group(2)}" if (step := _OPEN_STEP.fullmatch(item)) else item
        for item in field.split(",")
    )


def _with_utc(value: str, zone: str) -> list[tuple[str, str]]:
    # With a zone, the UTC spelling is tried too: for schedules that do not name the hour
    # (`*/5 * * * *`) it fires at the same instants, including the repeated fall-back hour.
    return [(value, zone)] + ([(value, "UTC")] if zone != "UTC" else [])


def eventbridge(text: str) -> tuple[SourceSchedule, list[tuple[str, str]]]:
    """An EventBridge rule expression (UTC): the same text in jobs.yaml."""
    text = text.strip()
    rate = _RATE.match(text)
    if rate:
        count, unit = int(rate.group(1)), rate.group(2).rstrip("s")
        seconds = count * {"minute": 60, "hour": 3600, "day": 86400}[unit]
        return SourceSchedule("every", str(seconds), "UTC", text), [(rate_text(seconds), "UTC")]
    if text.startswith("cron(") and text.endswith(")"):
        return SourceSchedule("eventbridge", text[5:-1], "UTC", text), [(text, "UTC")]
    raise NotASchedule(f"'{text}' is not an EventBridge cron(...) or rate(...) expression")
