"""Property tests: croniter (source semantics) against jobctl's engine on generated schedules."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from jobctl.importers.equivalence import SourceSchedule, prove, split_of
from jobctl.importers.schedules import robfig

ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Tokyo", "Australia/Sydney"]


def _field(low: int, high: int) -> st.SearchStrategy[str]:
    value = st.integers(low, high).map(str)
    step = st.tuples(st.integers(low, high), st.integers(1, 5)).map(lambda t: f"{t[0]}/{t[1]}")
    span = st.tuples(st.integers(low, high), st.integers(low, high)).map(
        lambda t: f"{min(t)}-{max(t)}"
    )
    return st.one_of(
        st.just("*"), value, step, span, st.lists(value, min_size=2, max_size=3).map(",".join)
    )


@settings(max_examples=25, deadline=None)
@given(
    minute=_field(0, 59),
    hour=_field(0, 23),
    dom=_field(1, 28),
    month=_field(1, 12),
    dow=_field(0, 6),
    zone=st.sampled_from(ZONES),
    which=st.sampled_from(["dom", "dow"]),
)
def test_proven_schedules_really_agree(
    minute: str, hour: str, dom: str, month: str, dow: str, zone: str, which: str
) -> None:
    """A verdict of 'equivalent' holds; a refusal always names a reason."""
    dom, dow = (dom, "*") if which == "dom" else ("*", dow)
    expression = f"{minute} {hour} {dom} {month} {dow}"
    source, candidates, _ = robfig(expression, zone)
    written = candidates[0][0]  # robfig's reading, spelled for jobctl's Unix cron
    check, chosen = prove(source, candidates, "Kubernetes")
    if chosen is None:
        assert check.first_difference or check.note
    else:
        assert check.equivalent and chosen[0] == written
    if zone == "UTC":  # no DST: a Unix expression with one '*' day field always converts
        assert chosen == (written, "UTC")


def test_an_open_weekday_step_is_written_as_robfig_reads_it() -> None:
    """Found by the property above: `1/1` is Mon-Sat for Kubernetes (robfig's weekdays end
    at 6) and Mon-Sun for jobctl's Unix cron (Vixie's end at 7)."""
    source, candidates, _ = robfig("* 0 * * 1/1", "UTC")
    assert candidates == [("* 0 * * 1-6/1", "UTC")]
    check, chosen = prove(source, candidates, "Kubernetes")
    assert check.equivalent and chosen == ("* 0 * * 1-6/1", "UTC")
    verbatim, _ = prove(source, [("* 0 * * 1/1", "UTC")], "Kubernetes")
    assert verbatim.first_difference == "2026-01-04T00:00Z: jobctl runs, Kubernetes does not"


@settings(max_examples=15, deadline=None)
@given(
    minute=st.integers(0, 59),
    hour=st.integers(0, 23),
    dom=st.integers(1, 28),
    dow=st.integers(0, 6),
)
def test_both_day_fields_split_is_equivalent(minute: int, hour: int, dom: int, dow: int) -> None:
    expression = f"{minute} {hour} {dom} * {dow}"
    source = SourceSchedule("unix", expression, "UTC", expression)
    assert split_of(source, "Kubernetes") == [
        f"{minute} {hour} {dom} * *",
        f"{minute} {hour} * * {dow}",
    ]


def test_every_and_eventbridge_sources() -> None:
    every = SourceSchedule("every", "5400", "UTC", "@every 1h30m")
    assert prove(every, [("rate(90 minutes)", "UTC")], "Copilot")[1] is not None
    assert prove(every, [("rate(1 hour)", "UTC")], "Copilot")[1] is None
    rule = SourceSchedule("eventbridge", "0 12 ? * 2-6 2026-2027", "UTC", "cron(...)")
    assert prove(rule, [("cron(0 12 ? * 2-6 2026-2027)", "UTC")], "EventBridge")[1] is not None
    assert prove(rule, [("cron(0 12 ? * 1-5 2026-2027)", "UTC")], "EventBridge")[1] is None
