"""Human durations: in jobs.yaml (`90s`, `10m`, `1h30m`, `2d`, or a bare integer of
seconds), and elapsed times as the CLI and the console show them (`elapsed_text`).

Invariant: a parsed duration is a whole number of seconds >= 0; text and its parse
round-trip through `format_duration` to the shortest equivalent spelling.
"""

from __future__ import annotations

import re

_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(value: object) -> int:
    """Seconds in `value`; raises ValueError with a message fit for a user."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as '90s', '10m' or '1h30m'")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return value
    if not isinstance(value, str):
        raise ValueError("expected a duration such as '90s', '10m' or '1h30m'")
    match = _DURATION.match(value.strip()) if value.strip() else None
    if match is None:
        raise ValueError(
            f"'{value}' is not a duration: use a number with units d, h, m, s, e.g. '90s' or '1h30m'"
        )
    days, hours, minutes, seconds = (int(part) if part else 0 for part in match.groups())
    return days * 86400 + hours * 3600 + minutes * 60 + seconds


def format_duration(seconds: int) -> str:
    """The shortest spelling of `seconds`, e.g. 5400 -> '1h30m'."""
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in _UNITS.items():
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def elapsed_text(seconds: int, *, separator: str = "", days_from_hours: int | None = None) -> str:
    """An elapsed time for people, in its two largest units: 45s, 1m15s, 3h05m; from
    `days_from_hours` hours on (None: never), days and hours, 2d03h. `separator` goes
    between the two units (the console writes `1m 15s`)."""
    if seconds < 60:
        return f"{seconds}s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{separator}{rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    if days_from_hours is None or hours < days_from_hours:
        return f"{hours}h{separator}{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{separator}{hours:02d}h"
