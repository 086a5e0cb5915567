"""jobctl's Lambda entry point (AWS Chalice).

Thin by design: handlers parse the event, call a service in `chalicelib`, and return. The
app never reads jobs.yaml (deploy stores what it needs in AWS) and creates no client at
import time (cold starts pay only for what a handler uses).
"""

from __future__ import annotations

from typing import Any

from chalice import Chalice, Rate

from chalicelib.history.service import HistoryService

app = Chalice(app_name="jobctl")
_history: HistoryService | None = None


def history() -> HistoryService:
    global _history
    if _history is None:
        _history = HistoryService.from_environment()
    return _history


@app.on_cw_event(
    {"source": ["aws.states"], "detail-type": ["Step Functions Execution Status Change"]},
    name="record_execution_status",
)
def record_execution_status(event: Any) -> dict[str, str]:
    return {"result": history().record_event(event.to_dict())}


@app.schedule(Rate(5, unit=Rate.MINUTES), name="reconcile_history")
def reconcile_history(event: Any) -> dict[str, int]:
    return {"repaired": len(history().reconcile())}
