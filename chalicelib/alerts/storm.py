"""The storm guard: one Slack message per incident, not one per failed run.

An incident opens with a job's first failure (posted at once). Further failures within
`window` seconds of the last message are counted, not posted; the first failure after the
window posts one "still failing" message with the count (incoming webhooks cannot edit or
thread a message, so a count replaces the updates). The first success after failures
posts a recovery saying how many failures it ends. Missed-run and back-on-schedule
notices (the watchdog decides those) are only de-duplicated here.

State: one document per job (`state.StateStore`, item `JOB#<job>`/`ALERT`), changed only
through `decide`, a pure function of (state, alert, now), saved with a version condition.

Invariants:
- At most one Lambda wins the right to post a given notice (the versioned save).
- Claim-then-confirm: a won notice is recorded as `pending` before posting and cleared
  after Slack took it; a redelivery of a message whose post was never confirmed (the
  Lambda failed) posts it again. Nothing is lost; a post may at worst be repeated once
  when a Lambda dies between Slack's answer and the confirmation.
- SNS redeliveries of a failure already counted (its run id in `seen`, the run ids since
  the last message) are ignored, as is a failure that ended before the last recovery.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from chalicelib.alerts.message import Alert, RunContext
from chalicelib.alerts.state import StateStore
from chalicelib.core.history import ALERT

KIND = ALERT
MAX_SEEN = 500
SAVE_ATTEMPTS = 8

NoticeKind = Literal["failure", "repeat", "recovery", "missed", "resumed"]


class StormConflict(RuntimeError):
    """Too many concurrent writers for one job's state; the invocation is retried."""


@dataclass(frozen=True)
class Notice:
    """What to post: the kind of message and the incident's figures."""

    kind: NoticeKind
    failures: int = 0  # failures in the incident (the recovery: the ones it ends)
    unreported: int = 0  # repeat: failures since the previous message, this one included
    since: str = ""  # when the incident's first failure ended


@dataclass(frozen=True)
class StormState:
    failing: bool = False
    failures: int = 0
    reported: int = 0
    first_failure_at: str = ""
    last_failure_at: str = ""
    posted_at: float = 0.0
    seen: tuple[str, ...] = ()
    recovered_at: str = ""
    last_recovery: str = ""
    last_watch: str = ""
    pending: str = ""
    pending_notice: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> StormState:
        known = {name: document[name] for name in cls.__dataclass_fields__ if name in document}
        if "seen" in known:
            known["seen"] = tuple(known["seen"])
        return cls(**known)

    def to_document(self) -> dict[str, Any]:
        document = asdict(self)
        document["seen"] = list(self.seen)
        return document

    def claim(self, alert_id: str, notice: Notice) -> StormState:
        return replace(self, pending=alert_id, pending_notice=asdict(notice))


@dataclass(frozen=True)
class Decision:
    notice: Notice | None  # None: nothing to post
    reason: str  # posted | redelivered | suppressed | duplicate | stale
    state: StormState


def decide(state: StormState, alert: Alert, now: float, window: float) -> Decision:
    """What to do with `alert` given the job's state (pure)."""
    alert_id = alert.id
    context = alert.context
    if state.pending == alert_id and state.pending_notice:
        return Decision(Notice(**state.pending_notice), "redelivered", state)
    if isinstance(context, RunContext):
        if context.event == "failure":
            return _failure(state, alert_id, context, now, window)
        if alert_id == state.last_recovery:
            return Decision(None, "duplicate", state)
        failures = state.failures if state.failing else 0
        notice = Notice("recovery", failures, failures - state.reported, state.first_failure_at)
        cleared = StormState(
            recovered_at=context.ended_at,
            last_recovery=alert_id,
            last_watch=state.last_watch,
        )
        return Decision(notice, "posted", cleared.claim(alert_id, notice))
    if alert_id == state.last_watch:
        return Decision(None, "duplicate", state)
    notice = Notice(context.event)
    return Decision(notice, "posted", replace(state, last_watch=alert_id).claim(alert_id, notice))


def _failure(
    state: StormState, alert_id: str, context: RunContext, now: float, window: float
) -> Decision:
    if alert_id in state.seen:
        return Decision(None, "duplicate", state)
    if state.recovered_at and context.ended_at and context.ended_at < state.recovered_at:
        return Decision(None, "stale", state)
    if not state.failing:
        notice = Notice("failure", 1, 1, context.ended_at)
        opened = replace(
            state,
            failing=True,
            failures=1,
            reported=1,
            first_failure_at=context.ended_at,
            last_failure_at=context.ended_at,
            posted_at=now,
            seen=(alert_id,),
        )
        return Decision(notice, "posted", opened.claim(alert_id, notice))
    failures = state.failures + 1
    if now - state.posted_at < window:
        counted = replace(
            state,
            failures=failures,
            last_failure_at=context.ended_at,
            seen=(*state.seen, alert_id)[-MAX_SEEN:],
        )
        return Decision(None, "suppressed", counted)
    notice = Notice("repeat", failures, failures - state.reported, state.first_failure_at)
    reported = replace(
        state,
        failures=failures,
        reported=failures,
        last_failure_at=context.ended_at,
        posted_at=now,
        seen=(alert_id,),
    )
    return Decision(notice, "posted", reported.claim(alert_id, notice))


class StormGuard:
    def __init__(
        self,
        store: StateStore,
        *,
        window: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.window = window
        self.clock = clock

    def claim(self, alert: Alert) -> Decision:
        """Decide and record the decision; only the winner of a concurrent race posts."""
        job = alert.context.job
        for _ in range(SAVE_ATTEMPTS):
            document, version = self.store.load(job, KIND)
            state = StormState.from_document(document)
            decision = decide(state, alert, self.clock(), self.window)
            if decision.state == state:
                return decision
            if self.store.save(job, KIND, decision.state.to_document(), version):
                return decision
        raise StormConflict(f"job {job}: alert state kept changing; giving up for now")

    def confirm(self, alert: Alert) -> None:
        """Slack took the notice for `alert`: it is no longer pending."""
        job = alert.context.job
        for _ in range(SAVE_ATTEMPTS):
            document, version = self.store.load(job, KIND)
            state = StormState.from_document(document)
            if state.pending != alert.id:
                return
            done = replace(state, pending="", pending_notice={})
            if self.store.save(job, KIND, done.to_document(), version):
                return
        raise StormConflict(f"job {job}: alert state kept changing; could not confirm")
