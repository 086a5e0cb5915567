"""jobctl's Lambda entry point (AWS Chalice): the operator API and the history recorder.

Thin by design: a handler parses the request, calls a service that the composition root
(`chalicelib.services`) built, and returns its response model. Every route is IAM (SigV4)
authorized except the Slack endpoint, which verifies Slack's own signature. The app never reads jobs.yaml (deploy stores what it needs
in AWS) and creates no client at import time: services, boto3 and X-Ray load on first use,
because cold starts pay for every import.
"""

from __future__ import annotations

from typing import Any

from chalice.app import Chalice, IAMAuthorizer, Rate, Request, Response

from chalicelib import observability
from chalicelib.handlers.alerts import alerts
from chalicelib.ops.http import body, caller, respond
from chalicelib.services import services

# Powertools formats the logs (see chalicelib/observability.py), not chalice's handler.
app = Chalice(app_name="jobctl", configure_logs=False)
iam = IAMAuthorizer()
RUN_FILTERS = frozenset({"status", "since", "limit", "next_token"})
LOG_FILTERS = frozenset({"attempt", "limit", "next_token"})
# The body is read as JSON whatever the Content-Type says (curl -d sends a form type):
# chalice would otherwise answer an undocumented 415 in its own error shape.
ANY_BODY = ["*/*"]


def current() -> Request:
    """The request being handled (Chalice sets it before it calls a route)."""
    request = app.current_request
    if request is None:
        raise RuntimeError("no current request: called outside a route")
    return request


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
        current(),
        lambda _: {"jobs": [job.model_dump(mode="json") for job in services().ops.list_jobs()]},
    )


@app.route("/jobs/{name}", methods=["GET"], authorizer=iam)
def get_job(name: str) -> Response:
    return respond(current(), lambda _: services().ops.job(name))


@app.route("/jobs/{name}/runs", methods=["GET"], authorizer=iam)
def list_job_runs(name: str) -> Response:
    return respond(current(), lambda q: services().ops.runs(name, **q), accepts=RUN_FILTERS)


@app.route("/runs", methods=["GET"], authorizer=iam)
def list_runs() -> Response:
    return respond(current(), lambda q: services().ops.runs(**q), accepts=RUN_FILTERS)


@app.route("/runs/{run_id}", methods=["GET"], authorizer=iam)
def get_run(run_id: str) -> Response:
    return respond(current(), lambda _: services().ops.run(run_id))


@app.route("/runs/{run_id}/logs", methods=["GET"], authorizer=iam)
def get_run_logs(run_id: str) -> Response:
    return respond(current(), lambda q: services().ops.run_logs(run_id, **q), accepts=LOG_FILTERS)


@app.route("/runs/{run_id}/stop", methods=["POST"], authorizer=iam, content_types=ANY_BODY)
def stop_run(run_id: str) -> Response:
    from chalicelib.ops.models import StopRequest

    request = current()
    return respond(
        request,
        lambda _: services().ops.stop(run_id, body(request, StopRequest), by=caller(request)),
    )


@app.route("/jobs/{name}/runs", methods=["POST"], authorizer=iam, content_types=ANY_BODY)
def start_run(name: str) -> Response:
    from chalicelib.ops.models import ManualRunRequest

    request = current()
    return respond(
        request,
        lambda _: observability.started(
            services().ops.start(name, body(request, ManualRunRequest), by=caller(request))
        ),
        status=202,
    )


@app.route("/runs/{run_id}/rerun", methods=["POST"], authorizer=iam, content_types=ANY_BODY)
def rerun(run_id: str) -> Response:
    from chalicelib.ops.models import RerunRequest, RunStarted

    request = current()

    def start(_: dict[str, str]) -> RunStarted:
        given = body(request, RerunRequest)
        return observability.started(
            services().ops.rerun(
                run_id, by=caller(request), reason=given.reason, concurrency=given.concurrency
            )
        )

    return respond(request, start, status=202)


@app.route("/jobs/{name}/pause", methods=["POST"], authorizer=iam, content_types=ANY_BODY)
def pause(name: str) -> Response:
    return _set_paused(name, paused=True)


@app.route("/jobs/{name}/resume", methods=["POST"], authorizer=iam, content_types=ANY_BODY)
def resume(name: str) -> Response:
    return _set_paused(name, paused=False)


def _set_paused(name: str, *, paused: bool) -> Response:
    from chalicelib.ops.models import PauseRequest

    request = current()
    ops = services().ops
    change = ops.pause if paused else ops.resume
    return respond(
        request,
        lambda _: change(name, by=caller(request), reason=body(request, PauseRequest).reason),
    )


# Any other path answers 404 in the API's error shape (chalice's gateway, like API
# Gateway, would answer 403 "Missing Authentication Token"). Literal segments win over
# these variables, in API Gateway and in chalice's route matcher alike.
_ANY_METHOD = ["GET", "POST", "PUT", "DELETE", "PATCH"]


def _no_route(**_: str) -> Response:
    request = current()
    return Response(
        body={
            "error": "NotFound",
            "message": f"no route {request.method} {request.context.get('path', '')[:200]}",
        },
        status_code=404,
    )


for _depth, _path in enumerate(
    ("/", "/{p1}", "/{p1}/{p2}", "/{p1}/{p2}/{p3}", "/{p1}/{p2}/{p3}/{p4}")
):
    app.route(
        _path,
        methods=_ANY_METHOD,
        authorizer=iam,
        content_types=ANY_BODY,
        name=f"no_route_{_depth}",
    )(_no_route)


# ---------------------------------------------------------------- history recorder


@app.on_cw_event(
    {"source": ["aws.states"], "detail-type": ["Step Functions Execution Status Change"]},
    name="record_execution_status",
)
def record_execution_status(event: Any) -> dict[str, str]:
    return {"result": services().history.record_event(event.to_dict())}


@app.schedule(Rate(5, unit=Rate.MINUTES), name="reconcile_history")
def reconcile_history(event: Any) -> dict[str, int]:
    # Raises (after trying every record) when some run could not be checked.
    return services().history.reconcile().summary()
