"""jobctl's Lambda entry point (AWS Chalice): the operator API and the history recorder.

Thin by design: a handler parses the request, calls a service in `chalicelib`, and returns
its response model. Every route is IAM (SigV4) authorized except the Slack endpoint, which
verifies Slack's own signature. The app never reads jobs.yaml (deploy stores what it needs
in AWS) and creates no client at import time: services, boto3 and X-Ray load on first use,
because cold starts pay for every import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Chalice, IAMAuthorizer, Rate
from chalice.app import Response

from chalicelib import observability
from chalicelib.alerts.blueprint import alerts
from chalicelib.ops.http import body, caller, respond
from chalicelib.ops.models import ManualRunRequest, PauseRequest, RerunRequest

if TYPE_CHECKING:
    from chalicelib.history.service import HistoryService
    from chalicelib.ops.service import OpsService

# Powertools formats the logs (see chalicelib/observability.py), not chalice's handler.
app = Chalice(app_name="jobctl", configure_logs=False)
iam = IAMAuthorizer()
RUN_FILTERS = frozenset({"status", "since", "limit", "next_token"})
_services: dict[str, Any] = {}


def ops() -> OpsService:
    if "ops" not in _services:
        from chalicelib.ops.service import OpsService

        _services["ops"] = OpsService.from_environment()
    return _services["ops"]  # type: ignore[no-any-return]


def history() -> HistoryService:
    if "history" not in _services:
        from chalicelib.history.service import HistoryService

        _services["history"] = HistoryService.from_environment()
    return _services["history"]  # type: ignore[no-any-return]


# Slack: the notifier (SNS), the missed-run watchdog and POST /slack/actions (no IAM auth:
# Slack signs its requests).
app.register_blueprint(alerts)


@app.middleware("all")
def observe(event: Any, get_response: Any) -> Any:
    return observability.around(event, get_response)


# ---------------------------------------------------------------- operator API


@app.route("/jobs", methods=["GET"], authorizer=iam)
def list_jobs() -> Response:
    return respond(
        app.current_request,
        lambda _: {"jobs": [job.model_dump(mode="json") for job in ops().list_jobs()]},
    )


@app.route("/jobs/{name}", methods=["GET"], authorizer=iam)
def get_job(name: str) -> Response:
    return respond(app.current_request, lambda _: ops().job(name))


@app.route("/jobs/{name}/runs", methods=["GET"], authorizer=iam)
def list_job_runs(name: str) -> Response:
    return respond(app.current_request, lambda q: ops().runs(name, **q), accepts=RUN_FILTERS)


@app.route("/runs", methods=["GET"], authorizer=iam)
def list_runs() -> Response:
    return respond(app.current_request, lambda q: ops().runs(**q), accepts=RUN_FILTERS)


@app.route("/runs/{run_id}", methods=["GET"], authorizer=iam)
def get_run(run_id: str) -> Response:
    return respond(app.current_request, lambda _: ops().run(run_id))


@app.route("/jobs/{name}/runs", methods=["POST"], authorizer=iam)
def start_run(name: str) -> Response:
    request = app.current_request
    return respond(
        request,
        lambda _: observability.started(
            ops().start(name, body(request, ManualRunRequest), by=caller(request))
        ),
        status=202,
    )


@app.route("/runs/{run_id}/rerun", methods=["POST"], authorizer=iam)
def rerun(run_id: str) -> Response:
    request = app.current_request
    return respond(
        request,
        lambda _: observability.started(
            ops().rerun(run_id, by=caller(request), reason=body(request, RerunRequest).reason)
        ),
        status=202,
    )


@app.route("/jobs/{name}/pause", methods=["POST"], authorizer=iam)
def pause(name: str) -> Response:
    request = app.current_request
    return respond(
        request,
        lambda _: ops().pause(name, by=caller(request), reason=body(request, PauseRequest).reason),
    )


@app.route("/jobs/{name}/resume", methods=["POST"], authorizer=iam)
def resume(name: str) -> Response:
    request = app.current_request
    return respond(
        request,
        lambda _: ops().resume(name, by=caller(request), reason=body(request, PauseRequest).reason),
    )


# ---------------------------------------------------------------- history recorder


@app.on_cw_event(
    {"source": ["aws.states"], "detail-type": ["Step Functions Execution Status Change"]},
    name="record_execution_status",
)
def record_execution_status(event: Any) -> dict[str, str]:
    return {"result": history().record_event(event.to_dict())}


@app.schedule(Rate(5, unit=Rate.MINUTES), name="reconcile_history")
def reconcile_history(event: Any) -> dict[str, int]:
    return {"repaired": len(history().reconcile())}
