"""The ops CLI against deployed jobs executed on moto: `--wait` exits like the job."""

from __future__ import annotations

import contextlib
import json
import re
import time
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

    # The deployment may be shared by the module: the group may exist (put_logs allows it).
    put_logs(run["task_arn"], *(f"line {i}" for i in range(3)))
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


# ------------------------------------------------------------------ issue 13: operations

STARTED = re.compile(r"started \S+ run (\S+?)(?:;|\s|$)")


def started_run(out: str) -> str:
    found = STARTED.search(out)
    assert found, out
    return found.group(1)


def put_logs(task_arn: str, *lines: str) -> None:
    """What awslogs would write for the task's `app` container (the task definition's
    settings: group /ecs/app-batch, prefix app-batch)."""
    logs = boto3.client("logs", region_name=REGION)
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName="/ecs/app-batch")
    stream = f"app-batch/app/{task_arn.rsplit('/', 1)[-1]}"
    logs.create_log_stream(logGroupName="/ecs/app-batch", logStreamName=stream)
    logs.put_log_events(
        logGroupName="/ecs/app-batch",
        logStreamName=stream,
        logEvents=[
            {"timestamp": 1795000000000 + i, "message": line} for i, line in enumerate(lines)
        ],
    )


def wait_record(platform: Platform, job: str, run_id: str) -> dict[str, object]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        record = platform.record(job, run_id)
        if record:
            return record
        time.sleep(0.02)
    raise AssertionError(f"no record for {run_id}")


def test_wait_streams_every_attempt_and_logs_reach_each_of_them(
    platform: Platform, registry: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ecs_double.script("broken", 1, 2, TaskExit(3, "Essential container in task exited"))
    status = jobctl(registry, "run", "broken", "--reason", "check", "--wait", "--poll", "0.02")
    assert status == 3
    out = capsys.readouterr().out
    run_id = started_run(out)
    for line in (
        "attempt 1: FAILED, exit code 1 (Essential container in task exited)",
        "waiting 30 s before attempt 2",
        "attempt 2: FAILED, exit code 2 (Essential container in task exited)",
        "waiting 60 s before attempt 3",
        "attempt 3: FAILED, exit code 3 (Essential container in task exited)",
    ):
        assert line in out, out
    assert "waiting" not in out.split("attempt 3: FAILED")[1], "no retry follows the last"
    # The cause in plain words, not 1.5 KB of ECS JSON (which --json keeps).
    assert "container app exited with code 3 (EssentialContainerExited" in out
    assert '"Attachments"' not in out

    platform.executions.append(
        f"arn:aws:states:{REGION}:123456789012:execution:e2e-broken:{run_id}"
    )
    tasks = [task.task_arn for task in ecs_double.started]
    assert len(tasks) == 3
    for number, task in enumerate(tasks, start=1):
        put_logs(task, f"attempt {number} line 1", f"attempt {number} line 2")

    assert jobctl(registry, "logs", run_id) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == ["attempt 3 line 1", "attempt 3 line 2"]
    assert "attempt 3 of 3" in captured.err
    assert jobctl(registry, "logs", run_id, "--attempt", "1") == 0
    assert capsys.readouterr().out.splitlines() == ["attempt 1 line 1", "attempt 1 line 2"]
    assert jobctl(registry, "logs", run_id, "--all") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("== attempt 1 of 3: FAILED, exit code 1, task ")
    assert [line for line in lines if not line.startswith("==")] == [
        f"attempt {n} line {i}" for n in (1, 2, 3) for i in (1, 2)
    ]
    assert sum(line.startswith("== attempt") for line in lines) == 3
    assert jobctl(registry, "logs", run_id, "--attempt", "4") == 2
    assert "no attempt 4 (attempts 1-3)" in capsys.readouterr().err
    assert jobctl(registry, "logs", run_id, "--all", "--limit", "3") == 0
    assert len([x for x in capsys.readouterr().out.splitlines() if not x.startswith("==")]) == 3


def test_a_running_run_has_logs_and_stop_records_who_and_why(
    platform: Platform, registry: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert jobctl(registry, "run", "single", "--reason", "long one") == 0
    run_id = started_run(capsys.readouterr().out)
    arn = f"arn:aws:states:{REGION}:123456789012:execution:e2e-single:{run_id}"
    platform.executions.append(arn)
    (task,) = ecs_double.wait_started(1)
    wait_record(platform, "single", run_id)
    put_logs(task.task_arn, "working", "still working")
    # Before: "started no task" (exit 2) for a RUNNING run.
    assert jobctl(registry, "logs", run_id) == 0
    assert capsys.readouterr().out.splitlines() == ["working", "still working"]

    assert jobctl(registry, "stop", run_id) == 2
    assert "--reason is required" in capsys.readouterr().err
    assert jobctl(registry, "stop", run_id, "--reason", "stuck on a lock") == 0
    out = capsys.readouterr().out
    assert f"{run_id} stopped by arn:aws:" in out and "recorded ABORTED" in out
    assert f"stopped task {task.task_arn.rsplit('/', 1)[-1]}" in out
    assert platform.wait(arn)["status"] == "ABORTED"
    record = platform.record("single", run_id)
    assert (record["status"], record["abort_reason"], record["error"]) == (
        "ABORTED",
        "stuck on a lock",
        "Job.Stopped",
    )
    assert str(record["aborted_by"]).startswith("arn:aws:")
    assert "lock_holder" not in platform.meta("single"), "the forbid lock is freed"

    assert jobctl(registry, "show", run_id) == 0
    shown = capsys.readouterr().out
    assert "ABORTED" in shown and "stuck on a lock" in shown and "aborted_by" in shown
    assert jobctl(registry, "stop", run_id, "--reason", "again") == 1
    assert "already ended ABORTED" in capsys.readouterr().err
    assert jobctl(registry, "logs", run_id) == 0, "an ABORTED run's task printed output"
    assert capsys.readouterr().out.splitlines() == ["working", "still working"]
    assert jobctl(registry, "stop", "no-such-run", "--reason", "x") == 2


def test_a_timed_out_run_has_logs(
    platform: Platform, registry: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert jobctl(registry, "run", "slow", "--reason", "r", "--wait", "--poll", "0.02") == 124
    out = capsys.readouterr().out
    run_id = started_run(out)
    assert "attempt 1: TIMED_OUT" in out
    platform.executions.append(f"arn:aws:states:{REGION}:123456789012:execution:e2e-slow:{run_id}")
    (task,) = ecs_double.started
    put_logs(task.task_arn, "started", "never finished")
    # Before: "started no task" for a TIMED_OUT run (the task ARN came only from .sync).
    assert jobctl(registry, "logs", run_id) == 0
    assert capsys.readouterr().out.splitlines() == ["started", "never finished"]


def test_job_describes_parameters_next_runs_pause_and_last_runs(
    platform: Platform, registry: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ecs_double.script("params", 0)
    assert (
        jobctl(
            registry,
            "run",
            "params",
            "--param",
            "DAY=2026-11-01",
            "--reason",
            "r",
            "--wait",
            "--poll",
            "0.02",
        )
        == 0
    )
    run_id = started_run(capsys.readouterr().out)
    assert jobctl(registry, "pause", "params", "--reason", "db migration") == 0
    capsys.readouterr()
    # Pausing again without a reason keeps who paused it and why.
    assert jobctl(registry, "pause", "params") == 0
    assert "already paused" in capsys.readouterr().out
    assert jobctl(registry, "job", "params") == 0
    out = capsys.readouterr().out
    assert "DAY: pattern \\d{4}-\\d{2}-\\d{2}" in out
    assert "LEVEL: one of low, high; default low" in out
    assert "paused by arn:aws:" in out and "db migration" in out
    assert "none while paused" in out
    assert run_id in out and "SUCCEEDED" in out
    assert "concurrency" in out and "timeout" in out and "retry" in out
    assert jobctl(registry, "jobs") == 0
    listed = capsys.readouterr().out
    assert "db migration" in listed, "`pause --help` promises `jobctl jobs` shows the reason"
    assert jobctl(registry, "resume", "params") == 0
    capsys.readouterr()
    assert jobctl(registry, "job", "params") == 0
    assert "T09:00:00Z" in capsys.readouterr().out
    assert jobctl(registry, "job", "nope") == 2


def test_runs_show_duration_skip_reason_and_all_pages(
    platform: Platform, registry: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert jobctl(registry, "pause", "ok", "--reason", "hold") == 0
    for n in range(3):
        platform.run(
            "ok", f"tick-{n}", {"trigger": "schedule", "scheduled_time": f"2026-11-2{n}T03:00:00Z"}
        )
    assert jobctl(registry, "runs", "ok", "--limit", "2") == 0
    out = capsys.readouterr().out
    assert "SKIPPED (paused)" in out and "duration" in out
    assert "more: add --all" in out
    assert jobctl(registry, "runs", "ok", "--limit", "1", "--all", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert sorted(r["run_id"] for r in listed["runs"]) == ["tick-0", "tick-1", "tick-2"]
    assert listed["next_token"] is None
    assert all(r["skip_reason"] == "paused" for r in listed["runs"])


def test_ops_help_and_behaviour_agree_on_env_and_a_missing_deploy(
    platform: Platform, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["jobs", "--help"])
    assert "all declared" not in capsys.readouterr().out
    other = tmp_path / "other.yaml"
    other.write_text(platform.registry_text.replace("project: e2e", "project: fresh"))
    # Before: a raw ResourceNotFoundException.
    assert main(["jobs", "-f", str(other)]) == 1
    err = capsys.readouterr().err
    assert "fresh-history does not exist" in err and "jobctl apply" in err
    assert "ResourceNotFoundException" not in err


def test_run_and_rerun_with_concurrency_allow_run_beside_the_holder_recorded(
    platform: Platform, registry: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert jobctl(registry, "run", "single", "--reason", "long one") == 0
    holder_id = started_run(capsys.readouterr().out)
    holder = f"arn:aws:states:{REGION}:123456789012:execution:e2e-single:{holder_id}"
    platform.executions.append(holder)
    (task,) = ecs_double.wait_started(1)
    wait_record(platform, "single", holder_id)

    ecs_double.script("single", 0, 0, 0)
    wait = ["--wait", "--poll", "0.05", "--json"]
    argv = ["run", "single", "--reason", "beside", "--concurrency", "allow", *wait]
    assert jobctl(registry, *argv) == 0
    beside = json.loads(capsys.readouterr().out)
    assert (beside["status"], beside["concurrency_override"]) == ("SUCCEEDED", "allow")
    assert platform.meta("single")["lock_holder"] == holder, "the holder keeps its lock"
    assert jobctl(registry, "rerun", beside["run_id"], "--concurrency", "allow", *wait) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["status"], again["concurrency_override"]) == ("SUCCEEDED", "allow")
    assert again["rerun_of"] == beside["run_id"]
    assert platform.meta("single")["lock_holder"] == holder

    assert jobctl(registry, "runs", "single", "--json") == 0
    listed = {r["run_id"]: r for r in json.loads(capsys.readouterr().out)["runs"]}
    assert listed[beside["run_id"]]["concurrency_override"] == "allow"
    assert listed[holder_id]["concurrency_override"] is None
    assert jobctl(registry, "show", beside["run_id"]) == 0
    assert re.search(r"concurrency_override\s+allow", capsys.readouterr().out)

    assert jobctl(registry, "run", "single", "--reason", "x", "--concurrency", "allow") == 0
    out = capsys.readouterr().out
    assert "concurrency: allow" in out
    third = f"arn:aws:states:{REGION}:123456789012:execution:e2e-single:{started_run(out)}"
    platform.executions.append(third)
    assert platform.wait(third)["status"] == "SUCCEEDED"
    assert jobctl(registry, "run", "replacer", "--reason", "x", "--concurrency", "allow") == 2
    err = capsys.readouterr().err
    assert "concurrency" in err and "replace" in err and "stops the running one" in err
    with pytest.raises(SystemExit) as exited:
        jobctl(registry, "run", "single", "--reason", "x", "--concurrency", "forbid")
    assert exited.value.code == 2
    assert "invalid choice" in capsys.readouterr().err

    ecs_double.finish(task.task_arn, 0)
    assert platform.wait(holder)["status"] == "SUCCEEDED"
    assert "lock_holder" not in platform.meta("single"), "the holder releases as usual"
