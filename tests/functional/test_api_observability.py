"""Powertools wiring: structured logs with correlation ids, EMF metrics, X-Ray only on demand."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib import observability

from .test_api import Api, api, deployed  # noqa: F401  (the fixtures)

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import os, sys, warnings
warnings.simplefilter("ignore")
from chalice.test import Client
import app
with Client(app.app) as client:
    response = client.http.get("/jobs/x")
print(response.status_code, "aws_xray_sdk" in sys.modules)
"""


def _probe(**env: str) -> str:
    environment = {
        **os.environ,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        # Nothing listens here: the request fails fast, as a 5xx, which is all this needs.
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_MAX_ATTEMPTS": "1",
        "JOBCTL_HISTORY_TABLE": "t",
        **env,
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_xray_is_not_imported_unless_tracing_is_on() -> None:
    assert _probe().endswith("False")
    assert _probe(JOBCTL_TRACING="true", POWERTOOLS_TRACE_DISABLED="true").endswith("True")


class _Lines(logging.Handler):
    """The log lines exactly as Powertools formats them when they are written."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(observability.logger().registered_formatter)
        self.lines: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


def test_requests_log_json_with_correlation_id_and_count_runs(
    api: Api,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Powertools' own handler keeps the stdout it started with, which capsys cannot swap
    # afterwards; a second handler with its formatter sees the same lines.
    logs = _Lines()
    logging.getLogger("jobctl").addHandler(logs)
    try:
        assert api.post("/jobs/report/runs", {"reason": "x"})[0] == 202
        assert api.get("/jobs/nope")[0] == 404
    finally:
        logging.getLogger("jobctl").removeHandler(logs)
    requests = [line for line in logs.lines if line.get("message") == "request"]
    assert [(r["method"], r["status"]) for r in requests] == [("POST", 202), ("GET", 404)]
    assert [r["correlation_id"] for r in requests] == ["request-1", "request-2"]
    assert all(r["function_request_id"] for r in requests)
    metrics = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line
    ]
    names = [m["Name"] for line in metrics for m in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
    assert names == ["RunsTriggered", "ApiClientErrors"]
