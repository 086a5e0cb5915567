"""The storm guard: one message per incident, counts, recovery, duplicates, races."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.alerts.message import Alert, parse_alert
from chalicelib.alerts.state import MemoryStateStore
from chalicelib.alerts.storm import (
    Notice,
    StormConflict,
    StormGuard,
    StormState,
    decide,
)
from tests.support.alert_samples import run_alert, text, watch

WINDOW = 3600.0


def failure(n: int, **kwargs: Any) -> Alert:
    return parse_alert(
        text(run_alert(run_id=f"r{n}", ended_at=f"2026-03-01T{n:02d}:00:00Z", **kwargs))
    )


def recovery(n: int) -> Alert:
    return parse_alert(
        text(run_alert("recovery", run_id=f"r{n}", ended_at=f"2026-03-01T{n:02d}:00:00Z"))
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def guard() -> tuple[StormGuard, Clock]:
    clock = Clock()
    return StormGuard(MemoryStateStore(), window=WINDOW, clock=clock), clock


def deliver(guard: StormGuard, alert: Alert) -> Notice | None:
    decision = guard.claim(alert)
    if decision.notice is not None:
        guard.confirm(alert)
    return decision.notice


def test_first_failure_posts_then_repeats_within_the_window_are_counted(
    guard: tuple[StormGuard, Clock],
) -> None:
    storm, clock = guard
    assert deliver(storm, failure(1)) == Notice("failure", 1, 1, "2026-03-01T01:00:00Z")
    for n in range(2, 8):
        clock.now += 60
        assert deliver(storm, failure(n)) is None, "collapsed into the first message"
    clock.now += WINDOW
    assert deliver(storm, failure(8)) == Notice("repeat", 8, 7, "2026-03-01T01:00:00Z")
    clock.now += 60
    assert deliver(storm, failure(9)) is None
    assert deliver(storm, recovery(10)) == Notice("recovery", 9, 1, "2026-03-01T01:00:00Z")
    clock.now += 60
    assert deliver(storm, failure(11)) == Notice("failure", 1, 1, "2026-03-01T11:00:00Z"), (
        "a failure after a recovery opens a new incident"
    )


def test_redelivered_messages_are_not_counted_twice(guard: tuple[StormGuard, Clock]) -> None:
    storm, _ = guard
    assert deliver(storm, failure(1)) is not None
    assert storm.claim(failure(1)).reason == "duplicate"
    assert storm.claim(failure(2)).reason == "suppressed"
    assert storm.claim(failure(2)).reason == "duplicate"
    assert deliver(storm, recovery(3)) == Notice("recovery", 2, 1, "2026-03-01T01:00:00Z")
    assert storm.claim(recovery(3)).reason == "duplicate"


def test_a_failure_older_than_the_last_recovery_is_stale(guard: tuple[StormGuard, Clock]) -> None:
    storm, _ = guard
    deliver(storm, failure(1))
    deliver(storm, recovery(5))
    assert storm.claim(failure(3)).reason == "stale"


def test_an_unconfirmed_post_is_posted_again_on_redelivery(
    guard: tuple[StormGuard, Clock],
) -> None:
    """Slack was down: the invocation failed before confirm; SNS/Lambda deliver it again."""
    storm, _ = guard
    first = storm.claim(failure(1))
    assert first.notice == Notice("failure", 1, 1, "2026-03-01T01:00:00Z")
    again = storm.claim(failure(1))
    assert (again.reason, again.notice) == ("redelivered", first.notice)
    storm.confirm(failure(1))
    assert storm.claim(failure(1)).reason == "duplicate"


def test_recovery_without_a_known_incident_still_posts(guard: tuple[StormGuard, Clock]) -> None:
    storm, _ = guard
    assert deliver(storm, recovery(1)) == Notice("recovery", 0, 0, "")


def test_watch_notices_are_deduplicated_by_id(guard: tuple[StormGuard, Clock]) -> None:
    storm, _ = guard
    missed = parse_alert(text(watch("missed")))
    assert deliver(storm, missed) == Notice("missed")
    assert storm.claim(missed).reason == "duplicate"
    assert deliver(storm, parse_alert(text(watch("resumed")))) == Notice("resumed")


def test_decide_is_pure() -> None:
    state = StormState()
    first = decide(state, failure(1), 10.0, WINDOW)
    assert state == StormState() and first.state.failing and first.state.pending == "r1"
    assert decide(state, failure(1), 10.0, WINDOW) == first


def test_concurrent_notifiers_post_an_incident_once() -> None:
    """Two Lambdas load the same state; only the first save wins, the other re-decides."""
    store = MemoryStateStore()
    racer = StormGuard(store, window=WINDOW, clock=lambda: 1_000_000.0)

    class Interleaved(MemoryStateStore):
        """Before this guard saves, the racer handles another failure of the job."""

        def __init__(self) -> None:
            self.items = store.items
            self.raced = False

        def save(self, job: str, kind: str, state: dict[str, Any], version: int) -> bool:
            if not self.raced:
                self.raced = True
                assert racer.claim(failure(2)).notice is not None, "the racer opens the incident"
            return super().save(job, kind, state, version)

    loser = StormGuard(Interleaved(), window=WINDOW, clock=lambda: 1_000_000.0)
    decision = loser.claim(failure(1))
    assert (decision.notice, decision.reason) == (None, "suppressed")
    document, _ = store.load("daily-report", "ALERT")
    assert document["failures"] == 2 and document["pending"] == "r2"


def test_a_store_that_never_settles_fails_the_invocation() -> None:
    class Busy(MemoryStateStore):
        def save(self, job: str, kind: str, state: dict[str, Any], version: int) -> bool:
            return False

    with pytest.raises(StormConflict):
        StormGuard(Busy(), window=WINDOW).claim(failure(1))
