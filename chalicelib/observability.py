"""Powertools logging, metrics and tracing for Chalice's one-argument handlers.

Powertools' decorators expect `handler(event, context)`; Chalice calls `handler(event)`, so
the wiring lives in one Chalice middleware instead: it adds the Lambda context and a
correlation id (API Gateway's request id, or the event's id) to every log line, logs one
line per API request, and flushes metrics (EMF) once per invocation.
Invariants: nothing here runs at import time, so a cold start pays only for what it uses;
X-Ray (the Tracer) is imported only when `JOBCTL_TRACING=true` (set it with chalice's
`xray: true`); metrics are never flushed empty; an observability failure never fails a
request.
"""

from __future__ import annotations

import logging
import os
import time
from functools import cache
from typing import Any, TypeVar

NAMESPACE = "jobctl"
T = TypeVar("T")
_cold = [True]


@cache
def logger() -> Any:
    from aws_lambda_powertools import Logger

    # The logger is named `jobctl`: library modules log to `jobctl.*`, which propagate to it
    # and come out as the same JSON lines.
    return Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "jobctl"))


@cache
def metrics() -> Any:
    from aws_lambda_powertools import Metrics

    return Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE))


@cache
def tracer() -> Any | None:
    if os.environ.get("JOBCTL_TRACING", "").lower() != "true":
        return None
    from aws_lambda_powertools import Tracer

    return Tracer()


def count(name: str, value: int = 1) -> None:
    from aws_lambda_powertools.metrics import MetricUnit

    metrics().add_metric(name=name, unit=MetricUnit.Count, value=value)


def started(run: T) -> T:
    """Count a manual run or re-run the API started (passes `run` through)."""
    count("RunsTriggered")
    logger().info("run started", extra={"run": getattr(run, "run_id", None)})
    return run


def around(event: Any, get_response: Any) -> Any:
    """Chalice middleware body: context keys, correlation id, request log, metrics flush."""
    log = logger()
    context = getattr(event, "lambda_context", None) or getattr(event, "context", None)
    log.append_keys(
        cold_start=_cold[0],
        function_request_id=getattr(context, "aws_request_id", None),
        function_name=getattr(context, "function_name", None),
    )
    _cold[0] = False
    log.set_correlation_id(_correlation_id(event))
    began = time.perf_counter()
    active = tracer()
    try:
        if active is None:
            response = get_response(event)
        else:
            with active.provider.in_subsegment("## handler"):
                response = get_response(event)
        status = getattr(response, "status_code", None)
        if status is not None:
            log.info(
                "request",
                extra={
                    "method": event.method,
                    "path": event.path,
                    "status": status,
                    "ms": round((time.perf_counter() - began) * 1000, 1),
                },
            )
            if status >= 500:
                count("ApiServerErrors")
            elif status >= 400:
                count("ApiClientErrors")
        return response
    finally:
        _flush()


def _correlation_id(event: Any) -> str | None:
    context = getattr(event, "context", None)
    if isinstance(context, dict) and context.get("requestId"):
        return str(context["requestId"])
    raw: Any = getattr(event, "to_dict", lambda: {})()
    return str(raw["id"]) if isinstance(raw, dict) and raw.get("id") else None


def _flush() -> None:
    collected = metrics()
    if not collected.metric_set:
        return
    try:
        collected.flush_metrics()
    except Exception:  # a metrics failure must not fail the request it measured
        logging.getLogger("jobctl.observability").exception("metrics flush failed")
