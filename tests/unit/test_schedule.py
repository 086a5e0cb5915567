"""Example-based tests for jobctl.registry.schedule.

Expected fire times were worked out from the 2026 calendar and the tz database by hand;
they are not captured from the engine's output.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from jobctl.registry.schedule import (
    Schedule,
    ScheduleError,
    next_fire_times,
    parse_schedule,
)

NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
TOKYO = ZoneInfo("Asia/Tokyo")


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def fires(expression: str, after: datetime, count: int, tz: ZoneInfo | None = None) -> list[str]:
    """Fire times as compact UTC strings, so expectations read like a timetable."""
    times = next_fire_times(parse_schedule(expression), after, count, tz)
    assert all(t.tzinfo is UTC for t in times)
    return [t.strftime("%Y-%m-%d %H:%M") for t in times]


# ------------------------------------------------------------------ accepted


@pytest.mark.parametrize(
    ("text", "expression"),
    [
        ("cron(0 3 * * ? *)", "cron(0 3 * * ? *)"),
        ("cron(*/15 * * * ? *)", "cron(*/15 * * * ? *)"),
        ("cron(0/30 8-17 ? * MON-FRI *)", "cron(0/30 8-17 ? * MON-FRI *)"),
        ("cron(0 3 ? * mon-fri *)", "cron(0 3 ? * MON-FRI *)"),
        ("cron(0 0 1 jan,Jul ? *)", "cron(0 0 1 JAN,JUL ? *)"),
        ("cron(0 0 L * ? *)", "cron(0 0 L * ? *)"),
        ("cron(0 0 l * ? *)", "cron(0 0 L * ? *)"),
        ("cron(0 0 LW * ? *)", "cron(0 0 LW * ? *)"),
        ("cron(0 0 15w * ? *)", "cron(0 0 15W * ? *)"),
        ("cron(15 10 ? * 6L *)", "cron(15 10 ? * 6L *)"),
        ("cron(15 10 ? * friL *)", "cron(15 10 ? * FRIL *)"),
        ("cron(0 9 ? * MON#1 *)", "cron(0 9 ? * MON#1 *)"),
        ("cron(0 9 ? * 2#5 2026-2028)", "cron(0 9 ? * 2#5 2026-2028)"),
        ("cron(0 0 ? * L *)", "cron(0 0 ? * L *)"),
        ("cron(0 12 1-7/2 */3 ? 2030/5)", "cron(0 12 1-7/2 */3 ? 2030/5)"),
        ("cron(0,30 1,13 1,15 * ? *)", "cron(0,30 1,13 1,15 * ? *)"),
        ("cron(59 23 31 12 ? 2199)", "cron(59 23 31 12 ? 2199)"),
        ("cron(0 0 30 2 ? *)", "cron(0 0 30 2 ? *)"),
        ("cron(05 3 * * ? *)", "cron(05 3 * * ? *)"),
        ("cron(0 0 ? * * *)", "cron(0 0 ? * * *)"),
        ("cron(0 0 ? * SUN,7 *)", "cron(0 0 ? * SUN,7 *)"),
        ("cron(*/59 */23 */31 */12 ? */229)", "cron(*/59 */23 */31 */12 ? */229)"),
    ],
)
def test_accepts_eventbridge_cron(text: str, expression: str) -> None:
    schedule = parse_schedule(text)
    assert schedule == Schedule(expression, text, "cron", False, None)
    assert parse_schedule(schedule.expression).expression == expression


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("rate(1 minute)", 60),
        ("rate(5 minutes)", 300),
        ("rate(1 hour)", 3600),
        ("rate(12 hours)", 43200),
        ("rate(1 day)", 86400),
        ("rate(7 days)", 604800),
    ],
)
def test_accepts_rate(text: str, seconds: int) -> None:
    assert parse_schedule(text) == Schedule(text, text, "rate", False, seconds)


def test_schedule_is_frozen_and_hashable() -> None:
    first, second = parse_schedule("cron(0 3 * * ? *)"), parse_schedule("cron(0 3 * * ? *)")
    assert first == second
    assert len({first, second}) == 1
    with pytest.raises(AttributeError):
        first.expression = "rate(1 minute)"  # type: ignore[misc]


# ------------------------------------------------------------------ rejected


@pytest.mark.parametrize(
    ("text", "message", "offset"),
    [
        ("", "empty schedule", 0),
        (" cron(0 3 * * ? *)", "unexpected whitespace before the schedule", 0),
        ("cron(0 3 * * ? *) ", "unexpected whitespace after the schedule", 17),
        ("cron( 0 3 * * ? *)", "unexpected whitespace after 'cron('", 5),
        ("cron(0 3 * * ? * )", "unexpected whitespace before ')'", 16),
        ("cron(0  3 * * ? *)", "unexpected whitespace: separate fields with exactly one space", 7),
        ("cron(0\t3 * * ? *)", "unexpected whitespace '\\t': separate fields with one space", 6),
        ("cron (0 3 * * ? *)", "unexpected whitespace between 'cron' and '('", 4),
        ("CRON(0 3 * * ? *)", "write 'cron(' in lowercase", 0),
        ("cron(0 3 * * ? *", "missing ')' at the end", 16),
        ("cron(0 3 * * ? *)x", "unexpected text after ')'", 17),
        ("cron()", "cron() is empty", 5),
        (
            "cron(0 0 3 * * ? *)",
            "EventBridge cron has 6 fields (minutes hours day-of-month month day-of-week "
            "year); seconds are not supported",
            5,
        ),
        (
            "cron(0 3 * * ?)",
            "EventBridge cron needs 6 fields (minutes hours day-of-month month day-of-week "
            "year); got 5 (the year field is required; '*' means every year)",
            5,
        ),
        ("cron(60 3 * * ? *)", "minutes: 60 is out of range 0-59", 5),
        ("cron(0 24 * * ? *)", "hours: 24 is out of range 0-23", 7),
        ("cron(0 3 0 * ? *)", "day-of-month: 0 is out of range 1-31", 9),
        ("cron(0 3 * 13 ? *)", "month: 13 is out of range 1-12", 11),
        ("cron(0 3 ? * 8 *)", "day-of-week: 8 is out of range 1-7 (1 = SUN)", 13),
        ("cron(0 3 ? * 0 *)", "day-of-week: 0 is out of range 1-7 (1 = SUN)", 13),
        ("cron(0 3 * * ? 1969)", "year: 1969 is out of range 1970-2199", 15),
        ("cron(0 3 * * ? 2026,2200)", "year: 2200 is out of range 1970-2199", 20),
        ("cron(0 3 * JANUARY ? *)", "month: unknown name 'JANUARY' (use JAN-DEC or 1-12)", 11),
        ("cron(0 3 ? * MONDAY *)", "day-of-week: unknown name 'MONDAY' (use SUN-SAT or 1-7)", 13),
        ("cron(0 3 ? * 1/2 *)", "day-of-week: '/' is not allowed in day-of-week (EventBridge)", 14),
        (
            "cron(0 3 * * * *)",
            "day-of-month and day-of-week are both specified; use '?' in day-of-month or "
            "day-of-week, e.g. cron(0 3 * * ? *)",
            13,
        ),
        (
            "cron(0 3 1 * MON *)",
            "day-of-month and day-of-week are both specified; use '?' in day-of-month or "
            "day-of-week, e.g. cron(0 3 * * ? *)",
            13,
        ),
        (
            "cron(0 3 ? * ? *)",
            "day-of-month and day-of-week can't both be '?': set one of them, "
            "e.g. cron(0 3 * * ? *)",
            13,
        ),
        ("cron(? 3 * * ? *)", "minutes: '?' is only allowed in day-of-month or day-of-week", 5),
        ("cron(0 3 1,? * ? *)", "day-of-month: '?' must be the whole field", 11),
        ("cron(0 3 1,,2 * ? *)", "day-of-month: empty list item", 11),
        ("cron(0 3 1, * ? *)", "day-of-month: empty list item", 11),
        (
            "cron(0 22-2 * * ? *)",
            "hours: range 22-2 runs backwards; ranges don't wrap around, "
            "use a list such as 22-23,0-2",
            7,
        ),
        (
            "cron(0 3 ? * FRI-MON *)",
            "day-of-week: range FRI-MON runs backwards; ranges don't wrap around, "
            "use a list such as FRI-SAT,SUN-MON",
            13,
        ),
        ("cron(0 -5 * * ? *)", "hours: missing value before '-'", 7),
        ("cron(0 5- * * ? *)", "hours: missing value after '-'", 9),
        ("cron(1-2-3 3 * * ? *)", "minutes: unexpected second '-'", 8),
        ("cron(*/0 3 * * ? *)", "minutes: step 0 is out of range 1-59", 7),
        ("cron(*/60 3 * * ? *)", "minutes: step 60 is out of range 1-59", 7),
        ("cron(0 3/x * * ? *)", "hours: step 'x' is not a number", 9),
        ("cron(0 3/ * * ? *)", "hours: missing step after '/'", 9),
        ("cron(0 3 * */13 ? *)", "month: step 13 is out of range 1-12", 13),
        ("cron(0 3 5* * ? *)", "day-of-month: '*' must stand alone or before '/'", 10),
        (
            "cron(0 3 L,15 * ? *)",
            "day-of-month: 'L' cannot be combined with lists, ranges or steps",
            9,
        ),
        (
            "cron(0 3 L-3 * ? *)",
            "day-of-month: 'L' cannot be combined with lists, ranges or steps",
            9,
        ),
        (
            "cron(0 3 1-15W * ? *)",
            "day-of-month: 'W' cannot be combined with lists, ranges or steps",
            13,
        ),
        ("cron(0 3 W * ? *)", "day-of-month: 'W' must follow a single day number, e.g. 15W", 9),
        ("cron(0 3 32W * ? *)", "day-of-month: 32 is out of range 1-31", 9),
        ("cron(0 3 5L * ? *)", "day-of-month: 'L' must stand alone in day-of-month (or as LW)", 10),
        (
            "cron(0 3 ? * 6L,2 *)",
            "day-of-week: 'L' cannot be combined with lists, ranges or steps",
            14,
        ),
        ("cron(0 3 ? * 2#6 *)", "day-of-week: occurrence '#6' must be #1 to #5", 14),
        ("cron(0 3 ? * 2#0 *)", "day-of-week: occurrence '#0' must be #1 to #5", 14),
        (
            "cron(0 3 ? * 2#1,3 *)",
            "day-of-week: '#' cannot be combined with lists, ranges or steps",
            14,
        ),
        ("cron(0 3 ? * #1 *)", "day-of-week: missing weekday before '#', e.g. MON#1", 13),
        ("cron(0 3 ? * 8#1 *)", "day-of-week: 8 is out of range 1-7 (1 = SUN)", 13),
        ("cron(0 3 # * ? *)", "day-of-month: '#' is not allowed in day-of-month (EventBridge)", 9),
        ("cron(0 L * * ? *)", "hours: 'L' is not a valid value (0-23)", 7),
        ("cron(0 3 * * ? 20x0)", "year: '20x0' is not a valid value (1970-2199)", 15),
        ("cron(0 3 * * ? %)", "year: unexpected character '%'", 15),
        ("rate(1 minutes)", "use the singular unit: rate(1 minute)", 7),
        ("rate(5 minute)", "use the plural unit: rate(5 minutes)", 7),
        ("rate(3 day)", "use the plural unit: rate(3 days)", 7),
        ("rate(0 minutes)", "rate value must be at least 1", 5),
        ("rate(05 minutes)", "rate value must not have leading zeros: write 5", 5),
        ("rate(-5 minutes)", "rate value must be a positive whole number, got '-5'", 5),
        ("rate(1.5 hours)", "rate value must be a positive whole number, got '1.5'", 5),
        ("rate(30 seconds)", "seconds are not supported; the shortest rate is 1 minute", 8),
        ("rate(2 weeks)", "unknown unit 'weeks' (use minutes, hours or days)", 7),
        ("rate(5 Minutes)", "write the unit in lowercase: 'minutes'", 7),
        (
            "rate(5)",
            "rate() needs a value and a unit separated by one space, e.g. rate(5 minutes)",
            5,
        ),
        ("rate( 5 minutes)", "unexpected whitespace after 'rate('", 5),
        ("Rate(5 minutes)", "write 'rate(' in lowercase", 0),
        ("rate(5 minutes", "missing ')' at the end", 14),
    ],
)
def test_rejects_with_message_and_offset(text: str, message: str, offset: int) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_schedule(text)
    assert (caught.value.message, caught.value.offset) == (message, offset)
    assert str(caught.value) == message


def test_schedule_error_is_a_value_error_with_default_offset() -> None:
    error = ScheduleError("bad")
    assert isinstance(error, ValueError)
    assert (error.message, error.offset) == ("bad", 0)


# ---------------------------------------------------------- Unix conversion


@pytest.mark.parametrize(
    ("text", "expression"),
    [
        ("0 3 * * *", "cron(0 3 * * ? *)"),
        ("*/5 * * * *", "cron(*/5 * * * ? *)"),
        ("0 3 1 * *", "cron(0 3 1 * ? *)"),
        ("0 3 */2 * *", "cron(0 3 */2 * ? *)"),
        ("0 3 * * 0", "cron(0 3 ? * 1 *)"),
        ("0 3 * * 7", "cron(0 3 ? * 1 *)"),
        ("0 3 * * 1-5", "cron(0 3 ? * 2-6 *)"),
        ("0 3 * * mon-fri", "cron(0 3 ? * MON-FRI *)"),
        ("0 3 * * 1-fri", "cron(0 3 ? * 2-FRI *)"),
        ("0 3 * * 5-7", "cron(0 3 ? * 6,7,1 *)"),
        ("0 3 * * 0-7", "cron(0 3 ? * 1,2,3,4,5,6,7 *)"),
        ("0 3 * * 0,7", "cron(0 3 ? * 1 *)"),
        ("0 3 * * 6,0", "cron(0 3 ? * 7,1 *)"),
        ("0 3 * * */2", "cron(0 3 ? * 1,3,5,7 *)"),
        ("0 3 * * 1-5/2", "cron(0 3 ? * 2,4,6 *)"),
        ("0 3 * * 4/2", "cron(0 3 ? * 5,7 *)"),
        ("0 9 * jan,jul *", "cron(0 9 * JAN,JUL ? *)"),
        ("0  3\t* * *", "cron(0 3 * * ? *)"),
        ("@hourly", "cron(0 * * * ? *)"),
        ("@daily", "cron(0 0 * * ? *)"),
        ("@midnight", "cron(0 0 * * ? *)"),
        ("@weekly", "cron(0 0 ? * 1 *)"),
        ("@monthly", "cron(0 0 1 * ? *)"),
        ("@yearly", "cron(0 0 1 1 ? *)"),
        ("@annually", "cron(0 0 1 1 ? *)"),
    ],
)
def test_converts_unix_cron(text: str, expression: str) -> None:
    schedule = parse_schedule(text)
    assert schedule == Schedule(expression, text, "cron", True, None)
    reparsed = parse_schedule(schedule.expression)
    assert (reparsed.expression, reparsed.converted) == (expression, False)


@pytest.mark.parametrize(
    ("text", "message", "offset"),
    [
        (
            "0 3 1 * 1",
            "Unix cron runs when EITHER day-of-month or day-of-week matches, but EventBridge "
            "needs one of them to be '?'; split it into two jobs: '0 3 1 * *' and '0 3 * * 1'",
            8,
        ),
        (
            "0 3 */2 * mon",
            "Unix cron runs only when BOTH day-of-month and day-of-week match here (one of "
            "them starts with '*'), which EventBridge cannot express: it needs one of them "
            "to be '?'",
            10,
        ),
        ("0 3 * * ?", "day-of-week: '?' is not used in 5-field Unix cron; use '*'", 8),
        (
            "0 3 L * *",
            "'L' is not standard in 5-field Unix cron; use the 6-field EventBridge form, "
            "e.g. cron(0 3 L * ? *)",
            4,
        ),
        (
            "0 3 15W * *",
            "'W' is not standard in 5-field Unix cron; use the 6-field EventBridge form, "
            "e.g. cron(0 3 15W * ? *)",
            6,
        ),
        (
            "0 3 * * 5L",
            "'L' is not standard in 5-field Unix cron; use the 6-field EventBridge form, "
            "e.g. cron(0 3 ? * 6L *)",
            9,
        ),
        (
            "0 3 * * 1#2",
            "'#' is not standard in 5-field Unix cron; use the 6-field EventBridge form, "
            "e.g. cron(0 3 ? * 2#1 *)",
            9,
        ),
        ("0 3 * * 8", "day-of-week: 8 is out of range 0-7 (0 and 7 = SUN)", 8),
        (
            "0 3 * * fri-sun",
            "day-of-week: range fri-sun runs backwards; ranges don't wrap around, "
            "use a list such as FRI-SAT,SUN",
            8,
        ),
        ("60 3 * * *", "minutes: 60 is out of range 0-59", 0),
        ("0 3 * * */8", "day-of-week: step 8 is out of range 1-7", 10),
        (
            "0 3 * * * *",
            "expected cron(...), rate(...), an @macro or 5-field Unix cron; got 6 fields; "
            "a 6-field EventBridge expression must be wrapped: cron(...)",
            0,
        ),
        (
            "daily",
            "expected cron(...), rate(...), an @macro or 5-field Unix cron; got 1 field",
            0,
        ),
        ("@reboot", "@reboot is not a schedule: it runs once at boot", 0),
        (
            "@fortnightly",
            "unknown macro '@fortnightly' (use @hourly, @daily, @midnight, @weekly, @monthly, "
            "@yearly, @annually)",
            0,
        ),
    ],
)
def test_rejects_unix_cron(text: str, message: str, offset: int) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_schedule(text)
    assert (caught.value.message, caught.value.offset) == (message, offset)


# ------------------------------------------------------------- fire times (UTC)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        # L: last day of month, through a leap February.
        (
            "cron(0 0 L * ? *)",
            utc(2024, 1, 15),
            ["2024-01-31 00:00", "2024-02-29 00:00", "2024-03-31 00:00", "2024-04-30 00:00"],
        ),
        # LW: Jan 31 2026 is a Saturday, Feb 28 a Saturday, May 31 a Sunday.
        (
            "cron(0 18 LW * ? *)",
            utc(2026, 1, 1),
            ["2026-01-30 18:00", "2026-02-27 18:00", "2026-03-31 18:00", "2026-04-30 18:00"],
        ),
        # 1W: Feb 1 2026 is a Sunday -> Mon 2nd; Aug 1 is a Saturday -> Mon 3rd, not Jul 31.
        (
            "cron(0 9 1W 2,8,11 ? *)",
            utc(2026, 1, 1),
            ["2026-02-02 09:00", "2026-08-03 09:00", "2026-11-02 09:00"],
        ),
        # 15W: Mar 15 2026 is a Sunday -> Mon 16th; Aug 15 is a Saturday -> Fri 14th.
        (
            "cron(0 9 15W 3,8 ? 2026)",
            utc(2026, 1, 1),
            ["2026-03-16 09:00", "2026-08-14 09:00"],
        ),
        # 31W: May 31 2026 is a Sunday and the last day -> Fri 29th; months without a
        # 31st have no run, like a plain 31.
        (
            "cron(0 9 31W * ? 2026)",
            utc(2026, 4, 1),
            ["2026-05-29 09:00", "2026-07-31 09:00", "2026-08-31 09:00", "2026-10-30 09:00"],
        ),
        # 30W skips February.
        ("cron(0 0 30W * ? *)", utc(2026, 1, 31), ["2026-03-30 00:00"]),
        # MON#1: first Monday.
        (
            "cron(0 9 ? * MON#1 *)",
            utc(2026, 1, 1),
            ["2026-01-05 09:00", "2026-02-02 09:00", "2026-03-02 09:00"],
        ),
        # 6#5: fifth Friday only exists in some months.
        (
            "cron(0 9 ? * 6#5 *)",
            utc(2026, 1, 1),
            ["2026-01-30 09:00", "2026-05-29 09:00", "2026-07-31 09:00", "2026-10-30 09:00"],
        ),
        # 6L: last Friday.
        (
            "cron(15 10 ? * 6L *)",
            utc(2026, 1, 1),
            ["2026-01-30 10:15", "2026-02-27 10:15", "2026-03-27 10:15"],
        ),
        # L alone in day-of-week is Saturday, every week.
        (
            "cron(0 0 ? * L *)",
            utc(2026, 1, 1),
            ["2026-01-03 00:00", "2026-01-10 00:00", "2026-01-17 00:00"],
        ),
        # Weekday names and numbers mean the same days (2 = MON).
        (
            "cron(30 7 ? * 2,FRI *)",
            utc(2026, 1, 1),
            ["2026-01-02 07:30", "2026-01-05 07:30", "2026-01-09 07:30"],
        ),
        # Year steps start at the first year: 2030, 2035, ...
        (
            "cron(0 0 1 1 ? 2030/5)",
            utc(2026, 6, 1),
            ["2030-01-01 00:00", "2035-01-01 00:00", "2040-01-01 00:00"],
        ),
        # Feb 29 only in leap years; 2100 is not one.
        (
            "cron(0 12 29 2 ? *)",
            utc(2026, 1, 1),
            ["2028-02-29 12:00", "2032-02-29 12:00", "2036-02-29 12:00"],
        ),
        ("cron(0 12 29 2 ? *)", utc(2096, 3, 1), ["2104-02-29 12:00"]),
        # A stepped range of one value is just that value (Quartz), not "5 onwards".
        (
            "cron(5-5/10 * * * ? *)",
            utc(2026, 1, 1),
            ["2026-01-01 00:05", "2026-01-01 01:05", "2026-01-01 02:05"],
        ),
        # Steps and ranges within the day.
        (
            "cron(0/20 22-23 * * ? *)",
            utc(2026, 1, 1, 23, 5),
            ["2026-01-01 23:20", "2026-01-01 23:40", "2026-01-02 22:00", "2026-01-02 22:20"],
        ),
        # Strictly after: a fire time equal to `after` is not returned; seconds count.
        ("cron(0 3 * * ? *)", utc(2026, 1, 1, 3), ["2026-01-02 03:00"]),
        ("cron(0 3 * * ? *)", utc(2026, 1, 1, 2, 59, 59), ["2026-01-01 03:00"]),
        ("cron(* * * * ? *)", utc(2026, 12, 31, 23, 59, 30), ["2027-01-01 00:00"]),
    ],
)
def test_next_fire_times_utc(expression: str, after: datetime, expected: list[str]) -> None:
    assert fires(expression, after, len(expected)) == expected


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        # Year-limited: only two runs remain.
        ("cron(0 0 1 1 ? 2027-2028)", utc(2026, 6, 1), ["2027-01-01 00:00", "2028-01-01 00:00"]),
        ("cron(0 0 1 1 ? 2020)", utc(2026, 6, 1), []),
        # The year field ends at 2199.
        ("cron(59 23 31 12 ? *)", utc(2198, 6, 1), ["2198-12-31 23:59", "2199-12-31 23:59"]),
        ("cron(59 23 31 12 ? *)", utc(2199, 12, 31, 23, 59), []),
        ("cron(* * * * ? *)", utc(2300, 1, 1), []),
        # Feb 30 never happens.
        ("cron(0 0 30 2 ? *)", utc(2026, 1, 1), []),
    ],
)
def test_returns_fewer_when_no_more_matches(
    expression: str, after: datetime, expected: list[str]
) -> None:
    assert fires(expression, after, 5) == expected


def test_after_in_another_zone_is_the_same_instant() -> None:
    after = datetime(2026, 1, 1, 4, 0, tzinfo=TOKYO)  # 2025-12-31 19:00 UTC
    assert fires("cron(0 20 * * ? *)", after, 1) == ["2025-12-31 20:00"]


# ------------------------------------------------------ fire times (time zones)


def test_tokyo_daily_0300_is_1800_utc_the_day_before() -> None:
    assert fires("cron(0 3 * * ? *)", utc(2026, 1, 1), 3, TOKYO) == [
        "2026-01-01 18:00",
        "2026-01-02 18:00",
        "2026-01-03 18:00",
    ]


def test_new_york_spring_forward_skips_the_missing_time() -> None:
    # 2026-03-08 02:00 EST jumps to 03:00 EDT: 02:30 does not exist that day.
    assert fires("cron(30 2 * * ? *)", utc(2026, 3, 6, 12), 3, NEW_YORK) == [
        "2026-03-07 07:30",
        "2026-03-09 06:30",
        "2026-03-10 06:30",
    ]


def test_new_york_fall_back_runs_once_at_first_occurrence() -> None:
    # 2026-11-01 02:00 EDT falls back to 01:00 EST: 01:30 happens twice, runs at EDT.
    assert fires("cron(30 1 * * ? *)", utc(2026, 10, 30, 12), 3, NEW_YORK) == [
        "2026-10-31 05:30",
        "2026-11-01 05:30",
        "2026-11-02 06:30",
    ]


def test_every_30_minutes_across_fall_back() -> None:
    # 01:00 and 01:30 run once (EDT); their EST repeats at 06:00Z and 06:30Z do not.
    assert fires("cron(0/30 * * * ? *)", utc(2026, 11, 1, 4), 6, NEW_YORK) == [
        "2026-11-01 04:30",
        "2026-11-01 05:00",
        "2026-11-01 05:30",
        "2026-11-01 07:00",
        "2026-11-01 07:30",
        "2026-11-01 08:00",
    ]


def test_after_inside_the_repeated_hour_does_not_rerun_it() -> None:
    after = utc(2026, 11, 1, 6, 10)  # 01:10 EST, the second pass through 01:xx
    assert fires("cron(0/30 * * * ? *)", after, 2, NEW_YORK) == [
        "2026-11-01 07:00",
        "2026-11-01 07:30",
    ]


def test_every_30_minutes_across_spring_forward() -> None:
    # 02:00 and 02:30 do not exist on 2026-03-08; 03:00 EDT is 07:00Z.
    assert fires("cron(0/30 * * * ? *)", utc(2026, 3, 8, 6), 4, NEW_YORK) == [
        "2026-03-08 06:30",
        "2026-03-08 07:00",
        "2026-03-08 07:30",
        "2026-03-08 08:00",
    ]


def test_london_both_transitions() -> None:
    # 2026-03-29 01:00 GMT -> 02:00 BST: 01:30 does not exist.
    assert fires("cron(30 1 * * ? *)", utc(2026, 3, 27, 12), 3, LONDON) == [
        "2026-03-28 01:30",
        "2026-03-30 00:30",
        "2026-03-31 00:30",
    ]
    # 2026-10-25 02:00 BST -> 01:00 GMT: 01:30 runs once, at BST.
    assert fires("cron(30 1 * * ? *)", utc(2026, 10, 24, 12), 3, LONDON) == [
        "2026-10-25 00:30",
        "2026-10-26 01:30",
        "2026-10-27 01:30",
    ]


def test_weekday_is_matched_in_local_time() -> None:
    # Monday 00:30 in Tokyo is Sunday 15:30 UTC.
    assert fires("cron(30 0 ? * MON *)", utc(2026, 1, 1), 2, TOKYO) == [
        "2026-01-04 15:30",
        "2026-01-11 15:30",
    ]


# ----------------------------------------------------------------- rate() and API


def test_rate_adds_whole_periods_and_ignores_tz() -> None:
    after = datetime(2026, 1, 1, 0, 0, 30, tzinfo=ZoneInfo("Europe/Paris"))
    schedule = parse_schedule("rate(5 minutes)")
    times = next_fire_times(schedule, after, 3, NEW_YORK)
    assert times == [after + timedelta(minutes=5 * k) for k in (1, 2, 3)]
    assert all(t.tzinfo is UTC for t in times)
    assert times[0] == utc(2025, 12, 31, 23, 5, 30)


def test_count_zero_and_naive_after() -> None:
    schedule = parse_schedule("cron(0 3 * * ? *)")
    assert next_fire_times(schedule, utc(2026, 1, 1), 0) == []
    with pytest.raises(ValueError, match="timezone-aware"):
        next_fire_times(schedule, datetime(2026, 1, 1), 1)


def test_converted_schedules_fire_like_their_unix_source() -> None:
    # Unix 5 (FRI) becomes EventBridge 6.
    assert fires("0 9 * * 5", utc(2026, 1, 1), 2) == ["2026-01-02 09:00", "2026-01-09 09:00"]


def test_never_matching_expression_has_no_fire_times() -> None:
    # Day 31 of months that have 30 days or fewer: the walk ends at the year limit.
    after = utc(2026, 5, 17, 12, 34, 56)
    assert next_fire_times(parse_schedule("cron(0 0 31 2,4,6,9,11 ? *)"), after, 10) == []
