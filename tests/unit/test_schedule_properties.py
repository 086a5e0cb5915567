"""Property tests: next_fire_times against cronsim, an independent cron evaluator.

cronsim 2.8 speaks 5-field Unix cron (plus L, LW, nL and n#k), so the strategies only
generate EventBridge expressions it can also express, translated as follows:

* day-of-week numbers shift down by one (EventBridge 1 = SUN, cronsim 0 = SUN); names
  are the same in both;
* '?' becomes '*'. With one day field '*', cronsim ANDs the two day fields (the Debian
  rule), which is exactly EventBridge's "only the other field decides";
* the year field has no cronsim counterpart: it is either '*' or applied by filtering.

Left out on purpose, and covered by example tests in test_schedule.py instead:

* day-of-month 'nW' (cronsim 2.8 only knows 'LW');
* day-of-week 'L' alone (Saturday in EventBridge; cronsim rejects it);
* one-value stepped ranges such as '5-5/10' (see `items`);
* time zones: cronsim applies Debian cron's DST fix-ups (runs a skipped time later,
  ambiguous times twice for some expressions), while EventBridge Scheduler skips
  nonexistent times and runs ambiguous ones once, so comparisons are in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from cronsim import CronSim, CronSimError
from hypothesis import given, settings
from hypothesis import strategies as st

from jobctl.registry.schedule import ScheduleError, next_fire_times, parse_schedule

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
COUNT = 5

starts = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
)


@dataclass(frozen=True)
class Spelling:
    """One field written two ways: for parse_schedule and for cronsim."""

    ours: str
    theirs: str
    values: frozenset[int] = frozenset()


@dataclass(frozen=True)
class FieldShape:
    lo: int
    hi: int
    step_max: int = 0
    names: tuple[str, ...] = ()  # names[i] stands for lo + i
    shift: int = 0  # added to numbers when writing the cronsim spelling
    likely: tuple[int, int] | None = None  # a sub-range drawn from more often


EB_MINUTES = FieldShape(0, 59, 59)
EB_HOURS = FieldShape(0, 23, 23)
EB_DOM = FieldShape(1, 31, 31)
EB_MONTH = FieldShape(1, 12, 12, MONTHS)
EB_DOW = FieldShape(1, 7, 0, DAYS, shift=-1)
# Years near the start dates are likelier, so that runs are often found before the horizon.
EB_YEAR = FieldShape(1970, 2199, 229, likely=(2018, 2045))
UNIX_DOW = FieldShape(0, 7, 7, DAYS)


@st.composite
def values(draw: st.DrawFn, shape: FieldShape, lo: int, hi: int) -> tuple[int, str, str]:
    """A value in lo..hi, written as a number or (when it has one) a name in any case."""
    choices = st.integers(lo, hi)
    if shape.likely:
        near_lo, near_hi = (min(max(lo, bound), hi) for bound in shape.likely)
        choices = st.one_of(choices, st.integers(near_lo, near_hi))
    value = draw(choices)
    index = value - shape.lo
    if index < len(shape.names) and draw(st.booleans()):
        name = draw(st.sampled_from([str.upper, str.lower, str.title]))(shape.names[index])
        return value, name, name
    return value, str(value), str(value + shape.shift)


@st.composite
def items(draw: st.DrawFn, shape: FieldShape) -> Spelling:
    kinds = ["star", "value", "range"]
    if shape.step_max:
        kinds += ["star_step", "value_step", "range_step"]
    kind = draw(st.sampled_from(kinds))
    step = draw(st.integers(1, shape.step_max)) if kind.endswith("_step") else 1
    suffix = f"/{step}" if kind.endswith("_step") else ""
    if kind.startswith("star"):
        return Spelling("*" + suffix, "*" + suffix, frozenset(range(shape.lo, shape.hi + 1, step)))
    stepped_range = kind == "range_step"
    low, ours, theirs = draw(values(shape, shape.lo, shape.hi - stepped_range))
    if kind.startswith("value"):
        high = shape.hi if suffix else low
    else:
        # cronsim reads a one-value range with a step ("5-5/10") like "5/10", running to
        # the end of the field; EventBridge (Quartz) keeps it to that one value, which
        # test_schedule.py covers. So stepped ranges here span at least two values.
        high, high_ours, high_theirs = draw(values(shape, low + stepped_range, shape.hi))
        ours, theirs = f"{ours}-{high_ours}", f"{theirs}-{high_theirs}"
    return Spelling(ours + suffix, theirs + suffix, frozenset(range(low, high + 1, step)))


@st.composite
def lists(draw: st.DrawFn, shape: FieldShape) -> Spelling:
    parts = draw(st.lists(items(shape), min_size=1, max_size=3))
    return Spelling(
        ",".join(part.ours for part in parts),
        ",".join(part.theirs for part in parts),
        frozenset().union(*(part.values for part in parts)),
    )


@st.composite
def eventbridge_days(draw: st.DrawFn) -> tuple[Spelling, Spelling]:
    """(day-of-month, day-of-week) with exactly one of them '?'."""
    question = Spelling("?", "*")
    if draw(st.booleans()):
        dom = draw(
            st.one_of(
                lists(EB_DOM),
                st.sampled_from([Spelling("L", "L"), Spelling("LW", "LW"), Spelling("lw", "LW")]),
            )
        )
        return dom, question
    weekday = draw(st.integers(1, 7))
    spelled = draw(st.sampled_from([str(weekday), DAYS[weekday - 1]]))
    nth = draw(st.integers(1, 5))
    dow = draw(
        st.one_of(
            lists(EB_DOW),
            st.just(Spelling(f"{spelled}#{nth}", f"{weekday - 1}#{nth}")),
            st.just(Spelling(f"{spelled}L", f"{weekday - 1}L")),
        )
    )
    return question, dow


@dataclass(frozen=True)
class Case:
    ours: str  # the EventBridge expression
    theirs: str  # the same schedule for cronsim, without the year
    years: frozenset[int] | None  # the year field's values; None for '*'


@st.composite
def eventbridge_crons(draw: st.DrawFn, with_year: bool) -> Case:
    minutes, hours, month = draw(lists(EB_MINUTES)), draw(lists(EB_HOURS)), draw(lists(EB_MONTH))
    dom, dow = draw(eventbridge_days())
    year = draw(lists(EB_YEAR)) if with_year else Spelling("*", "")
    return Case(
        f"cron({minutes.ours} {hours.ours} {dom.ours} {month.ours} {dow.ours} {year.ours})",
        f"{minutes.theirs} {hours.theirs} {dom.theirs} {month.theirs} {dow.theirs}",
        year.values if with_year else None,
    )


def horizon(after: datetime) -> datetime:
    """Where comparisons stop.

    cronsim gives up after 50 years without a match. Every match before this point is
    less than 50 years past wherever cronsim resumes searching, so cronsim finds it.
    """
    return datetime(after.year + 45, 1, 1, tzinfo=UTC)


def cronsim_times(expression: str, after: datetime, years: frozenset[int] | None) -> list[datetime]:
    """cronsim's first COUNT matches after `after` and before the horizon, in `years`."""
    limit = horizon(after)
    times: list[datetime] = []
    cursor = after
    while len(times) < COUNT:
        if years is not None:
            allowed = [year for year in years if year >= cursor.year]
            if not allowed:
                break
            if min(allowed) > cursor.year:
                # cronsim starts strictly after its argument, at whole seconds.
                cursor = datetime(min(allowed), 1, 1, tzinfo=UTC) - timedelta(seconds=1)
        match = next(CronSim(expression, cursor), None)
        if match is None or match >= limit:
            break
        if years is None or match.year in years:
            times.append(match)
        cursor = match
    return times


def assert_matches_cronsim(
    ours_text: str, theirs_text: str, after: datetime, years: frozenset[int] | None
) -> None:
    ours = next_fire_times(parse_schedule(ours_text), after, COUNT)
    try:
        theirs = cronsim_times(theirs_text, after, years)
    except CronSimError:
        # cronsim refuses day-of-month sets that no chosen month has (e.g. 30 in FEB).
        assert ours == []
        return
    assert [time for time in ours if time < horizon(after)] == theirs


@settings(max_examples=300, deadline=None)
@given(case=eventbridge_crons(with_year=False), after=starts)
def test_matches_cronsim_for_every_year(case: Case, after: datetime) -> None:
    assert_matches_cronsim(case.ours, case.theirs, after, None)


@settings(max_examples=300, deadline=None)
@given(case=eventbridge_crons(with_year=True), after=starts)
def test_matches_cronsim_with_year_field(case: Case, after: datetime) -> None:
    assert_matches_cronsim(case.ours, case.theirs, after, case.years)


@st.composite
def unix_crons(draw: st.DrawFn) -> str:
    minutes, hours, month = draw(lists(EB_MINUTES)), draw(lists(EB_HOURS)), draw(lists(EB_MONTH))
    dom = draw(st.one_of(st.just(Spelling("*", "*")), lists(EB_DOM)))
    dow = draw(st.one_of(st.just(Spelling("*", "*")), lists(UNIX_DOW)))
    separator = draw(st.sampled_from([" ", "  ", "\t"]))
    return separator.join([minutes.ours, hours.ours, dom.ours, month.ours, dow.ours])


@settings(max_examples=300, deadline=None)
@given(text=unix_crons(), after=starts)
def test_unix_conversion_fires_like_the_unix_original(text: str, after: datetime) -> None:
    fields = text.split()
    if fields[2] != "*" and fields[4] != "*":
        with pytest.raises(ScheduleError, match="EventBridge"):
            parse_schedule(text)
        return
    schedule = parse_schedule(text)
    assert schedule.converted
    assert_matches_cronsim(text, text, after, None)
