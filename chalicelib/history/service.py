"""History use cases behind the Lambda handlers: record a status change, reconcile.

Configuration comes from the function's environment (`JOBCTL_HISTORY_TABLE`,
`JOBCTL_PREFIX`, set per stage in .chalice/config.json). Clients are created on first use.
Invariant: a malformed event is logged and dropped, never raised: EventBridge would retry
it forever and it can never succeed.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from chalicelib.aws.clients import ClientFactory
from chalicelib.history.recorder import ExecutionChange, Reconciler, Recorder
from chalicelib.history.store import RunStore

LOG = logging.getLogger("jobctl.history")


class HistoryService:
    def __init__(self, factory: ClientFactory, table: str, prefix: str) -> None:
        self.factory = factory
        self.table = table
        self.prefix = prefix

    @classmethod
    def from_environment(cls) -> HistoryService:
        try:
            table, prefix = os.environ["JOBCTL_HISTORY_TABLE"], os.environ["JOBCTL_PREFIX"]
        except KeyError as missing:
            raise RuntimeError(f"the function's environment lacks {missing.args[0]}") from None
        return cls(ClientFactory(), table, prefix)

    def _recorder(self) -> Recorder:
        return Recorder(RunStore(self.factory.client("dynamodb"), self.table), self.prefix)

    def record_event(self, event: dict[str, Any]) -> str:
        try:
            change = ExecutionChange.from_event(event)
        except ValueError as exc:
            LOG.warning("dropped an event that is not a usable status change: %s", exc)
            return "rejected"
        return self._recorder().record(change)

    def reconcile(self) -> list[tuple[str, str]]:
        recorder = self._recorder()
        return Reconciler(recorder.store, self.factory.client("stepfunctions"), recorder).run()
