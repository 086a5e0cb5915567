"""Operator actions through the API, executed end to end by the deployed state machines."""

from __future__ import annotations

import json
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
