"""History use cases behind the Lambda handlers: record a status change, reconcile.

Built by the composition root (`chalicelib.services`) from the function's environment
(`JOBCTL_HISTORY_TABLE`, `JOBCTL_PREFIX`) and its own account and region (`home`, one STS
call on first need); the Step Functions client is made on first use. One `Recorder` per
process, so its cache of deployed state machine ARNs outlives an invocation.
Invariants: a malformed event is logged and dropped ("rejected"), never raised: EventBridge
would retry it forever and it can never succeed. `reconcile` tries every RUNNING record,
then fails (so the function's error metric shows it) if some could not be checked; a run
whose execution no longer exists is recorded ABORTED, which is not a failure.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cached_property
from typing import Any

from chalicelib.aws.clients import AwsContext
from chalicelib.history.recorder import (
    ExecutionChange,
    Reconciler,
    Reconciliation,
    Recorder,
    RejectedEvent,
)
from chalicelib.history.store import RunStore

LOG = logging.getLogger("jobctl.history")
# How many unchecked runs the failure message names (the log line names every one).
NAMED_IN_FAILURE = 10


class ReconcileIncomplete(RuntimeError):
    """Some RUNNING records could not be checked; every other record was handled."""

    def __init__(self, outcome: Reconciliation) -> None:
        self.outcome = outcome
        named = "; ".join(f"{j}/{r}: {why}" for j, r, why in outcome.unchecked[:NAMED_IN_FAILURE])
        more = len(outcome.unchecked) - NAMED_IN_FAILURE
        super().__init__(
            f"{len(outcome.unchecked)} running record(s) could not be checked "
            f"({outcome.summary()}): {named}" + (f"; and {more} more" if more > 0 else "")
        )


class HistoryService:
    def __init__(
        self,
        store: RunStore,
        stepfunctions: Callable[[], Any],
        prefix: str,
        home: Callable[[], AwsContext],
    ) -> None:
        self.store = store
        self._stepfunctions = stepfunctions
        self.prefix = prefix
        self._home = home

    @cached_property
    def recorder(self) -> Recorder:
        return Recorder(self.store, self.prefix, self._home)

    def record_event(self, event: Any) -> str:
        """'created', 'finished', 'unchanged', 'ignored' (not jobctl's machine) or
        'rejected' (not a usable status change)."""
        try:
            change = ExecutionChange.from_event(event)
        except RejectedEvent as exc:
            LOG.warning("dropped an event that is not a usable status change: %s", exc)
            return "rejected"
        return self.recorder.record(change)

    def reconcile(self) -> Reconciliation:
        outcome = Reconciler(self.store, self._stepfunctions(), self.recorder).run()
        for job, run_id in outcome.gone:
            LOG.warning("run %s/%s: its execution no longer exists; recorded ABORTED", job, run_id)
        for job, run_id, why in outcome.unchecked:
            LOG.error("run %s/%s could not be checked: %s", job, run_id, why)
        LOG.info("reconciled the running records: %s", outcome.summary())
        if outcome.unchecked:
            raise ReconcileIncomplete(outcome)
        return outcome
