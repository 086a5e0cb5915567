"""Operator actions through the API, executed end to end by the deployed state machines."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client

import app as lambda_app
from jobctl.local.moto import ecs_double

from .conftest import Platform


@pytest.fixture
def api(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    monkeypatch.setenv("JOBCTL_HISTORY_TABLE", "e2e-history")
    monkeypatch.setenv("JOBCTL_PREFIX", "e2e")
    # As `jobctl local` serves it (no SigV4 identity): the local mode names the caller.
    monkeypatch.setenv("JOBCTL_LOCAL_MODE", "1")
    monkeypatch.setenv("JOBCTL_LOCAL_CALLER", "bob")
    with Client(lambda_app.app) as client:
        yield client


def post(client: Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.http.post(
        path, headers={"Content-Type": "application/json"}, body=json.dumps(body).encode()
    )
    assert response.status_code == 202, response.json_body
    return response.json_body  # type: ignore[no-any-return]


def test_manual_run_reaches_the_container_as_environment(platform: Platform, api: Client) -> None:
    ecs_double.script("params", 0)
    started = post(
        api, "/jobs/params/runs", {"parameters": {"DAY": "2026-11-01"}, "reason": "backfill"}
    )
    platform.executions.append(started["execution_arn"])
    assert platform.wait(started["execution_arn"])["status"] == "SUCCEEDED"
    environment = ecs_double.started[0].environment()
    assert (environment["DAY"], environment["LEVEL"], environment["MODE"]) == (
        "2026-11-01",
        "low",
        "nightly",
    )
    run = api.http.get(f"/runs/{started['run_id']}").json_body
    assert (run["status"], run["exit_code"], run["trigger"]) == ("SUCCEEDED", 0, "manual")
    assert (run["triggered_by"], run["reason"]) == ("bob", "backfill")
    assert run["parameters"] == {"DAY": "2026-11-01"}


def test_rerun_of_a_failed_run_is_linked_and_repeats_its_parameters(
    platform: Platform, api: Client
) -> None:
    ecs_double.script("params", 1, 0)
    failed = post(api, "/jobs/params/runs", {"parameters": {"LEVEL": "high"}, "reason": "try"})
    platform.executions.append(failed["execution_arn"])
    assert platform.wait(failed["execution_arn"])["status"] == "FAILED"
    again = post(api, f"/runs/{failed['run_id']}/rerun", {"reason": "fixed"})
    platform.executions.append(again["execution_arn"])
    assert platform.wait(again["execution_arn"])["status"] == "SUCCEEDED"
    run = api.http.get(f"/runs/{again['run_id']}").json_body
    assert (run["rerun_of"], run["trigger"], run["parameters"]) == (
        failed["run_id"],
        "rerun",
        {"LEVEL": "high"},
    )
    assert ecs_double.started[1].environment()["LEVEL"] == "high"
    runs = api.http.get("/jobs/params/runs").json_body["runs"]
    assert [(r["run_id"], r["status"]) for r in runs] == [
        (again["run_id"], "SUCCEEDED"),
        (failed["run_id"], "FAILED"),
    ]


def test_a_paused_job_skips_its_scheduled_runs_until_resumed(
    platform: Platform, api: Client
) -> None:
    assert api.http.post("/jobs/ok/pause").status_code == 200
    scheduled = {"trigger": "schedule", "scheduled_time": "2026-11-22T03:00:00Z"}
    assert platform.run("ok", "tick-1", scheduled)["status"] == "SUCCEEDED"
    run = api.http.get("/runs/tick-1").json_body
    assert (run["status"], run["skip_reason"]) == ("SKIPPED", "paused")
    assert ecs_double.started == []
    assert api.http.post("/jobs/ok/resume").status_code == 200
    ecs_double.script("ok", 0)
    later = {"trigger": "schedule", "scheduled_time": "2026-11-23T03:00:00Z"}
    assert platform.run("ok", "tick-2", later)["status"] == "SUCCEEDED"
    assert api.http.get("/runs/tick-2").json_body["status"] == "SUCCEEDED"


def test_logs_of_every_attempt_page_by_page_and_stop_through_the_api(
    platform: Platform, api: Client
) -> None:
    import boto3

    from jobctl.local.moto import TaskExit

    ecs_double.script("broken", 1, 2, TaskExit(3, "Essential container in task exited"))
    failed = post(api, "/jobs/broken/runs", {"reason": "try"})
    platform.executions.append(failed["execution_arn"])
    assert platform.wait(failed["execution_arn"])["status"] == "FAILED"
    logs = boto3.client("logs", region_name="us-east-1")
    logs.create_log_group(logGroupName="/ecs/app-batch")
    for number, task in enumerate(ecs_double.started, start=1):
        stream = f"app-batch/app/{task.task_arn.rsplit('/', 1)[-1]}"
        logs.create_log_stream(logGroupName="/ecs/app-batch", logStreamName=stream)
        logs.put_log_events(
            logGroupName="/ecs/app-batch",
            logStreamName=stream,
            logEvents=[
                {"timestamp": 1795000000000 + i, "message": f"{number}.{i}"} for i in range(3)
            ],
        )
    path = f"/runs/{failed['run_id']}/logs"
    latest = api.http.get(path).json_body
    assert (latest["attempt"], [a["exit_code"] for a in latest["attempts"]]) == (3, [1, 2, 3])
    assert [line["message"] for line in latest["lines"]] == ["3.0", "3.1", "3.2"]
    assert latest["next_token"] is None
    assert all(a["task_arn"] for a in latest["attempts"])
    seen: list[tuple[int, str]] = []
    token = ""
    for _ in range(20):
        page = api.http.get(f"{path}?attempt=all&limit=2&next_token={token}").json_body
        seen += [(line["attempt"], line["message"]) for line in page["lines"]]
        token = page["next_token"]
        if not token:
            break
    assert seen == [(n, f"{n}.{i}") for n in (1, 2, 3) for i in range(3)]
    first = api.http.get(f"{path}?attempt=1").json_body
    assert [line["message"] for line in first["lines"]] == ["1.0", "1.1", "1.2"]

    held = post(api, "/jobs/slow/runs", {"reason": "long"})
    platform.executions.append(held["execution_arn"])
    ecs_double.wait_started(4)
    stop = f"/runs/{held['run_id']}/stop"
    for _ in range(200):  # until the claim step has written the run
        if api.http.get(f"/runs/{held['run_id']}").json_body.get("recorded", False):
            break
        time.sleep(0.02)
    response = api.http.post(
        stop, headers={"Content-Type": "application/json"}, body=b'{"reason": "not today"}'
    )
    assert response.status_code == 200, response.json_body
    assert response.json_body["aborted_by"] == "bob"
    assert platform.wait(held["execution_arn"])["status"] == "ABORTED"
    run = api.http.get(f"/runs/{held['run_id']}").json_body
    assert (run["status"], run["abort_reason"]) == ("ABORTED", "not today")
    again = api.http.post(
        stop, headers={"Content-Type": "application/json"}, body=b'{"reason": "x"}'
    )
    assert again.status_code == 409
