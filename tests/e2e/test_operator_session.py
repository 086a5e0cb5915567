"""An on-call session on `jobctl local`, as an operator types it and reads it.

One `jobctl local` process (real task processes, real local CloudWatch Logs); the ops
commands run in this process against its AWS endpoint, with the operator's (local)
credentials. A failing job is retried and fails, a slow one times out, a stuck one is
stopped; every line an operator reads along the way is checked: the attempts `--wait`
streams, the logs of each attempt, `show`, `job`, `stop`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobctl.cli.main import main
from tests.support.local_process import running_local

REGISTRY = """\
version: 1
project: oncall
defaults:
  cluster: app
  task_definition: app-batch
  container: app
  launch_type: FARGATE
  network: {subnets: [subnet-0a1b2c3d], security_groups: [sg-0a1b2c3d]}
  timeout: 10m
  retry: {retries: 0}
jobs:
  flaky:
    schedule: cron(0 4 * * ? *)
    timezone: Europe/London
    description: nightly import
    command: [python, -c, "import sys; print('importing'); print('db down'); sys.exit(3)"]
    retry: {retries: 2, interval: 30s}
    parameters:
      DAY: {pattern: '\\d{4}-\\d{2}-\\d{2}', default: "2026-01-01"}
  slow:
    schedule: cron(0 5 * * ? *)
    timeout: 1m
    command: [sh, -c, "echo warming up; sleep 600"]
  stuck:
    schedule: cron(0 6 * * ? *)
    concurrency: forbid
    command: [sh, -c, "echo holding the lock; sleep 600"]
"""


class Session:
    def __init__(self, registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.registry = str(registry)
        self.capsys = capsys

    def __call__(self, *argv: str) -> tuple[int, list[str], str]:
        """`jobctl ARGV`: exit status, stdout lines, stderr."""
        self.capsys.readouterr()
        status = main([argv[0], "-f", self.registry, *argv[1:]])
        captured = self.capsys.readouterr()
        return status, captured.out.splitlines(), captured.err


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    directory = tmp_path_factory.mktemp("oncall")
    registry = directory / "jobs.yaml"
    registry.write_text(REGISTRY, encoding="utf-8")
    env = {"PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1", "HOME": str(directory)}
    with running_local(registry, "--time-speed", "0.01", env=env, stop_timeout=30) as (
        _process,
        _output,
        ready,
    ):
        yield registry, ready.group(2)


@pytest.fixture
def jobctl(
    platform: tuple[Path, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Session:
    registry, aws = platform
    for name, value in {
        "AWS_ENDPOINT_URL": aws,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return Session(registry, capsys)


def _run_id(lines: list[str]) -> str:
    found = re.match(r"started \S+ run (\S+?)[;]?( waiting)?$", lines[0])
    assert found, lines
    return found.group(1)


def test_a_failing_retried_job_step_by_step(jobctl: Session) -> None:
    status, out, _ = jobctl("run", "flaky", "--reason", "check the import", "--wait")
    assert status == 3, out
    run_id = _run_id(out)
    assert out[0] == f"started flaky run {run_id}; waiting"
    streamed = [line for line in out[1:] if line.startswith(("attempt", "waiting"))]
    tasks = [line.rsplit(" ", 1)[1] for line in streamed if ": task " in line]
    assert len(tasks) == 3
    assert streamed == [
        "attempt 1: started",
        f"attempt 1: task {tasks[0]}",
        "attempt 1: FAILED, exit code 3 (Essential container in task exited)",
        "waiting 30 s before attempt 2",
        "attempt 2: started",
        f"attempt 2: task {tasks[1]}",
        "attempt 2: FAILED, exit code 3 (Essential container in task exited)",
        "waiting 60 s before attempt 3",
        "attempt 3: started",
        f"attempt 3: task {tasks[2]}",
        "attempt 3: FAILED, exit code 3 (Essential container in task exited)",
    ]
    shown = "\n".join(out)
    assert re.search(r"status\s+FAILED", shown) and re.search(r"attempts\s+3", shown)
    assert "container app exited with code 3 (EssentialContainerExited" in shown

    status, lines, _ = jobctl("logs", run_id, "--all")
    assert status == 0
    assert lines == [
        line
        for number, task in enumerate(tasks, start=1)
        for line in (
            f"== attempt {number} of 3: FAILED, exit code 3, task {task} ==",
            "importing",
            "db down",
        )
    ]
    status, lines, err = jobctl("logs", run_id)
    assert (status, lines) == (0, ["importing", "db down"])
    assert "attempt 3 of 3" in err

    status, lines, _ = jobctl("show", run_id)
    shown = "\n".join(lines)
    assert status == 0 and "check the import" in shown and "DAY=2026-01-01" not in shown
    (console,) = [line for line in lines if line.startswith("console_url ")]
    assert console.endswith(f":execution:oncall-flaky:{run_id}"), "the link is whole"
    assert "…" not in shown

    status, lines, _ = jobctl("job", "flaky")
    shown = "\n".join(lines)
    assert status == 0
    assert "DAY: pattern \\d{4}-\\d{2}-\\d{2}; default 2026-01-01" in shown
    assert "2 retries, 30 s apart (x2)" in shown
    assert re.search(
        r"T03:00:00Z  \d{4}-\d{2}-\d{2} 04:00 (GMT|BST)|T04:00:00Z  \S+ 04:00 GMT", shown
    )
    assert run_id in shown and "FAILED" in shown


def test_a_timed_out_run_and_a_stopped_one(jobctl: Session) -> None:
    status, out, _ = jobctl("run", "slow", "--reason", "r", "--wait", "--poll", "0.2")
    assert status == 124, out
    run_id = _run_id(out)
    assert "attempt 1: TIMED_OUT" in "\n".join(out)
    deadline = time.monotonic() + 20
    while True:  # the local agent ships the process's output as it prints it
        status, lines, err = jobctl("logs", run_id)
        if lines or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert (status, lines) == (0, ["warming up"]), err

    status, out, _ = jobctl("run", "stuck", "--reason", "nightly by hand")
    assert status == 0
    stuck = _run_id(out)
    assert out[1] == f"follow it: jobctl show {stuck}; jobctl logs {stuck} --follow"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        _, lines, _ = jobctl("show", stuck, "--json")
        if '"task_arn"' in "\n".join(lines) or '"recorded": true' in "\n".join(lines):
            break
        time.sleep(0.2)
    status, lines, _ = jobctl("stop", stuck, "--reason", "holding the lock too long")
    assert status == 0, lines
    assert re.match(rf"{stuck} stopped by arn:aws:\S+ at \S+: recorded ABORTED$", lines[0])
    status, lines, _ = jobctl("show", stuck)
    shown = "\n".join(lines)
    assert re.search(r"status\s+ABORTED", shown)
    assert re.search(r"abort_reason\s+holding the lock too long", shown)
    status, _, err = jobctl("stop", stuck, "--reason", "again")
    assert status == 1 and f"run '{stuck}' already ended ABORTED" in err
    # The forbid lock was freed: the job runs again.
    status, out, _ = jobctl("run", "stuck", "--reason", "again")
    assert status == 0
    jobctl("stop", _run_id(out), "--reason", "cleanup")
