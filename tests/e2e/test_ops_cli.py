"""The ops CLI against deployed jobs executed on moto: `--wait` exits like the job."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from jobctl.cli.main import main
from jobctl.local.moto import TaskExit, ecs_double

from .conftest import REGION, Platform


@pytest.fixture
def registry(platform: Platform, tmp_path: Path) -> str:
    path = tmp_path / "jobs.yaml"
    path.write_text(platform.registry_text)
    return str(path)


def jobctl(registry: str, *argv: str) -> int:
    return main([argv[0], "-f", registry, *argv[1:]])


def test_run_wait_exits_with_the_jobs_own_exit_code(
    platform: Platform, registry: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ecs_double.script("broken", 1, 1, TaskExit(3, "Essential container in task exited"))
    status = jobctl(registry, "run", "broken", "--reason", "check", "--wait", "--poll", "0.05")
    assert status == 3
    out = capsys.readouterr().out
    assert "FAILED" in out and "Essential container in task exited" in out
    ecs_double.script("ok", 0)
    assert jobctl(registry, "run", "ok", "--reason", "check", "--wait", "--poll", "0.05") == 0


def test_run_with_parameters_then_show_runs_and_logs(
    platform: Platform, registry: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ecs_double.script("params", 0)
    argv = ["run", "params", "--param", "DAY=2026-11-01", "--reason", "backfill", "--json"]
    assert jobctl(registry, *argv, "--wait", "--poll", "0.05") == 0
    run = json.loads(capsys.readouterr().out)
    assert (run["status"], run["parameters"], run["reason"]) == (
        "SUCCEEDED",
        {"DAY": "2026-11-01"},
        "backfill",
    )
    assert run["triggered_by"].startswith("arn:aws:")
    assert ecs_double.started[0].environment()["DAY"] == "2026-11-01"

    assert jobctl(registry, "runs", "params", "--json") == 0
    listed = json.loads(capsys.readouterr().out)["runs"]
    assert [r["run_id"] for r in listed] == [run["run_id"]]
    assert jobctl(registry, "show", run["run_id"]) == 0
    assert "backfill" in capsys.readouterr().out

    task_id = run["task_arn"].rsplit("/", 1)[-1]
    logs = boto3.client("logs", region_name=REGION)
    logs.create_log_group(logGroupName="/ecs/app-batch")
    logs.create_log_stream(logGroupName="/ecs/app-batch", logStreamName=f"app-batch/app/{task_id}")
    logs.put_log_events(
        logGroupName="/ecs/app-batch",
        logStreamName=f"app-batch/app/{task_id}",
        logEvents=[{"timestamp": 1795000000000 + i, "message": f"line {i}"} for i in range(3)],
    )
    assert jobctl(registry, "logs", run["run_id"]) == 0
    assert capsys.readouterr().out.splitlines() == ["line 0", "line 1", "line 2"]


def test_pause_resume_and_refusals(
    platform: Platform, registry: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert jobctl(registry, "pause", "ok", "--reason", "maintenance") == 0
    assert "ok paused by arn:aws:" in capsys.readouterr().out
    assert jobctl(registry, "jobs", "--json") == 0
    jobs = {job["name"]: job for job in json.loads(capsys.readouterr().out)["jobs"]}
    assert jobs["ok"]["paused"] is True and jobs["flaky"]["paused"] is False
    assert jobctl(registry, "run", "ok", "--reason", "x") == 1
    assert "paused" in capsys.readouterr().err
    assert jobctl(registry, "resume", "ok") == 0
    capsys.readouterr()
    assert jobctl(registry, "run", "params", "--param", "LEVEL=max", "--reason", "x") == 2
    assert "one of: low, high" in capsys.readouterr().err
    assert jobctl(registry, "run", "params", "--param", "LEVEL", "--reason", "x") == 2
    assert "NAME=VALUE" in capsys.readouterr().err
    assert jobctl(registry, "run", "params") == 2
    assert "--reason is required" in capsys.readouterr().err
    assert jobctl(registry, "show", "no-such-run") == 2
    assert "no run with id" in capsys.readouterr().err
    assert jobctl(registry, "runs", "--since", "soon") == 2
    assert jobctl(registry, "logs", "no-such-run") == 2


HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x9b31m\u202eexe.txt\u2066"


def test_show_runs_and_logs_print_terminal_controls_escaped(
    platform: Platform, registry: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A record written by someone else (or by ECS) cannot drive the operator's terminal."""
    from tests.support.history import put_runs, run_item

    dynamodb = boto3.client("dynamodb", region_name=REGION)
    put_runs(
        dynamodb,
        "e2e-history",
        [
            run_item(
                "ok",
                "hostile-1",
                "FAILED",
                "2026-11-22T03:00:00.000Z",
                reason=HOSTILE,
                stopped_reason=HOSTILE,
                trigger="manual\x1b[8m",
                parameters={"DAY": HOSTILE},
            )
        ],
    )
    for argv in (("show", "hostile-1"), ("runs", "ok")):
        assert jobctl(registry, *argv) == 0
        out = capsys.readouterr().out
        for control in ("\x1b", "\x07", "\x9b", "\u202e", "\u2066"):
            assert control not in out, (argv, repr(out))
    assert jobctl(registry, "show", "hostile-1") == 0
    out = capsys.readouterr().out
    assert "\\x1b]0;pwned\\x07" in out and "\\u202eexe.txt\\u2066" in out
    assert jobctl(registry, "show", "hostile-1", "--json") == 0
    assert json.loads(capsys.readouterr().out)["reason"] == HOSTILE, "--json keeps the value"

    # And the CLI refuses to write such a reason, as the API does.
    refused: tuple[tuple[str, ...], ...] = (
        ("run", "ok", "--reason", HOSTILE),
        ("rerun", "hostile-1", "--reason", "x\u202ey"),
        ("pause", "ok", "--reason", "\x1b[2J"),
        ("resume", "ok", "--reason", "\x9b"),
    )
    for command in refused:
        assert jobctl(registry, *command) == 2, command
        assert "control character" in capsys.readouterr().err
