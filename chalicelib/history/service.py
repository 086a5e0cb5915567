"""History use cases behind the Lambda handlers: record a status change, reconcile.

Built by the composition root (`chalicelib.services`) from the function's environment
(`JOBCTL_HISTORY_TABLE`, `JOBCTL_PREFIX`); the Step Functions client is made on first use.
Invariant: a malformed event is logged and dropped, never raised: EventBridge would retry
it forever and it can never succeed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from chalicelib.history.recorder import ExecutionChange, Reconciler, Recorder
from chalicelib.history.store import RunStore

LOG = logging.getLogger("jobctl.history")


class HistoryService:
    def __init__(self, store: RunStore, stepfunctions: Callable[[], Any], prefix: str) -> None:
        self.store = store
        self._stepfunctions = stepfunctions
        self.prefix = prefix

    def _recorder(self) -> Recorder:
        return Recorder(self.store, self.prefix)

    def record_event(self, event: dict[str, Any]) -> str:
        try:
            change = ExecutionChange.from_event(event)
        except ValueError as exc:
            LOG.warning("dropped an event that is not a usable status change: %s", exc)
            return "rejected"
        return self._recorder().record(change)

    def reconcile(self) -> list[tuple[str, str]]:
        recorder = self._recorder()
        return Reconciler(recorder.store, self._stepfunctions(), recorder).run()
