"""`jobctl local` as a user runs it: a subprocess, driven over HTTP, stopped with Ctrl-C.

One platform for the whole module (starting it costs seconds): a small registry whose
commands are real local programs. The test synchronises on the console lines the platform
prints (the `ready` line, one line per run status change, one `ALERT` line per alert),
never on sleeps; it asserts through the local API, the local CloudWatch Logs and a
Slack-webhook stand-in, then interrupts the process and checks that it exits 0 with no
task process left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.support.local_process import ROOT, TERMINAL, Output, local_environment, running_local

REGISTRY = """\
version: 1
project: loc
defaults:
  cluster: app
  task_definition: app-batch
  container: app
  launch_type: FARGATE
  network: {subnets: [subnet-0a1b2c3d], security_groups: [sg-0a1b2c3d]}
  timeout: 10m
  retry: {retries: 0}
jobs:
  hello:
    schedule: cron(0 3 * * ? *)
    command: [python, -c, "print('hello line 1'); print('hello line 2', flush=True)"]
  broken:
    schedule: cron(0 4 * * ? *)
    timezone: Europe/London
    command: [python, -c, "import sys; print('about to fail'); sys.exit(3)"]
    retry: {retries: 2, interval: 30s}
  report:
    schedule: cron(0 5 1 * ? *)
    command: [python, -c, "import os; print('DAY=' + os.environ['DAY'] + ' MODE=' + os.environ['MODE'])"]
    parameters:
      DAY: {pattern: '\\d{4}-\\d{2}-\\d{2}', default: "2026-01-01"}
      MODE: {enum: [full, incremental], default: incremental}
  sleeper:
    schedule: cron(0 6 1 * ? *)
    command: [sh, -c, "echo sleeping; sleep 600 & sleep 600"]
  spot:
    schedule: cron(0 7 1 * ? *)
    launch_type: null
    capacity_provider_strategy:
      - {capacity_provider: FARGATE_SPOT, weight: 3}
      - {capacity_provider: FARGATE, weight: 1, base: 1}
    command: [python, -c, "print('on spot')"]
  on-ec2:
    schedule: cron(0 8 1 * ? *)
    launch_type: EC2
    command: [python, -c, "print('never runs')"]
    alerts: {events: []}
"""


@dataclass
class Webhook:
    """A Slack incoming-webhook stand-in: records every JSON body posted to it."""

    posts: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""


@dataclass
class Local:
    process: subprocess.Popen[str]
    output: Output
    webhook: Webhook
    api: str = ""
    aws: str = ""
    registry: Path = Path("jobs.yaml")

    @property
    def lines(self) -> list[str]:
        return self.output.lines

    def wait_line(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        return self.output.wait_line(pattern, timeout)

    def call(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(
            self.api + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"} if data else {},
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=10) as response:
            return json.loads(response.read())

    def logs(self, task_arn: str) -> list[str]:
        logs = boto3.client(
            "logs",
            endpoint_url=self.aws,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        stream = f"app-batch/app/{task_arn.rsplit('/', 1)[-1]}"
        try:
            found = logs.get_log_events(
                logGroupName="/ecs/app-batch", logStreamName=stream, startFromHead=True
            )
        except logs.exceptions.ResourceNotFoundException as exc:
            tail = "\n".join(self.lines[-60:])
            raise AssertionError(f"{exc}\njobctl local printed:\n{tail}") from None
        return [event["message"] for event in found["events"]]


@pytest.fixture(scope="module")
def webhook() -> Iterator[Webhook]:
    hook = Webhook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            hook.posts.append(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/services/T000/B000/secret"
    yield hook
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory, webhook: Webhook) -> Iterator[Local]:
    directory = tmp_path_factory.mktemp("local")
    registry = directory / "jobs.yaml"
    registry.write_text(REGISTRY, encoding="utf-8")
    env = local_environment()
    env["PYTHONFAULTHANDLER"] = "1"  # a hung shutdown is dumped on SIGABRT (see _exit_status)
    args = ["--time-speed", "0.01", "--slack-webhook", webhook.url]
    args += ["--fire", "hello", "--fire", "broken"]
    with running_local(registry, *args, env=env) as (process, output, ready):
        handle = Local(process, output, webhook, registry=registry)
        handle.api, handle.aws = ready.group(1), ready.group(2)
        yield handle


def _run_ended(local: Local, job: str) -> tuple[str, str]:
    """(run id, status) of `job`'s first run, once it has ended."""
    started = local.wait_line(rf"run   {job} (\S+): RUNNING")
    ended = local.wait_line(rf"run   {job} {re.escape(started.group(1))}: ({TERMINAL})")
    return started.group(1), ended.group(1)


def test_a_fired_job_succeeds_with_exit_code_0_and_its_logs_in_cloudwatch(local: Local) -> None:
    run_id, status = _run_ended(local, "hello")
    assert status == "SUCCEEDED"
    run = local.call("GET", f"/runs/{run_id}")
    assert (run["status"], run["exit_code"], run["attempts"]) == ("SUCCEEDED", 0, 1)
    assert run["trigger"] == "schedule" and run["scheduled_time"].endswith(":00Z")
    assert local.logs(run["task_arn"]) == ["hello line 1", "hello line 2"]


def test_a_failing_job_retries_fails_with_its_exit_code_and_alerts_once(local: Local) -> None:
    run_id, status = _run_ended(local, "broken")
    assert status == "FAILED"
    run = local.call("GET", f"/runs/{run_id}")
    assert (run["status"], run["exit_code"], run["attempts"]) == ("FAILED", 3, 3)
    assert local.logs(run["task_arn"]) == ["about to fail"]
    alert = local.wait_line(r"^\S+ ALERT (.*)")
    assert alert.group(1) == "loc broken: FAILED"
    local.wait_line(rf"run_id={re.escape(run_id)} .*exit_code=3")
    local.wait_line(r"\(posted to Slack \(failure\)\)")
    (post,) = local.webhook.posts
    assert "broken" in json.dumps(post)


def test_the_console_alert_says_what_happened_with_the_tasks_last_output(local: Local) -> None:
    run_id, _ = _run_ended(local, "broken")
    local.wait_line(rf"run_id={re.escape(run_id)} .*exit_code=3")
    local.wait_line(r"^\S+       what happened: container app exited with code 3$")
    local.wait_line(r"^\S+       last output \(1 line\):$")
    local.wait_line(r"^\S+         \| about to fail$")
    local.wait_line(r"\(posted to Slack \(failure\)\)")
    (post,) = local.webhook.posts
    texts = json.dumps(post)
    assert "container app exited with code 3" in texts and "about to fail" in texts


def test_a_manual_run_through_the_api_sees_its_parameters(local: Local) -> None:
    started = local.call(
        "POST", "/jobs/report/runs", {"parameters": {"DAY": "2026-03-04"}, "reason": "e2e"}
    )
    run_id = started["run_id"]
    ended = local.wait_line(rf"run   report {re.escape(run_id)}: ({TERMINAL})")
    assert ended.group(1) == "SUCCEEDED"
    run = local.call("GET", f"/runs/{run_id}")
    assert run["parameters"]["DAY"] == "2026-03-04"
    assert run["trigger"] == "manual" and run["triggered_by"] == started["triggered_by"]
    assert run["triggered_by"].startswith("arn:aws:iam::") and run["exit_code"] == 0
    # The container saw the parameter, and the default of the one not given.
    assert local.logs(run["task_arn"]) == ["DAY=2026-03-04 MODE=incremental"]


def test_the_printed_exports_let_the_cli_work_against_the_platform_as_the_same_caller(
    local: Local, tmp_path: Path
) -> None:
    exports = local.wait_line(r"^\S+ aws   (.*)$").group(1)
    # A machine with no AWS account: nothing AWS in the environment, no ~/.aws.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "JOBCTL_"))
        and key.lower() not in ("http_proxy", "https_proxy")
    }
    env["HOME"] = str(tmp_path)
    jobctl = f"{sys.executable} -m jobctl.cli.main"
    where = f"-f {local.registry}"

    def cli(command: str) -> str:
        done = subprocess.run(
            ["sh", "-c", f"{exports}; {jobctl} {command} {where}"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, f"{command}: {done.returncode}\n{done.stdout}{done.stderr}"
        assert "Traceback" not in done.stderr
        return done.stdout

    started = json.loads(cli("run report --param DAY=2026-05-06 --reason from-the-cli --json"))
    run_id = started["run_id"]
    local.wait_line(rf"run   report {re.escape(run_id)}: SUCCEEDED")
    assert any(job["name"] == "report" for job in json.loads(cli("jobs --json"))["jobs"])
    assert run_id in cli("runs report")
    assert json.loads(cli(f"show {run_id} --json"))["status"] == "SUCCEEDED"
    assert "DAY=2026-05-06 MODE=incremental" in cli(f"logs {run_id}")
    # The CLI and the local API record the same person.
    by_api = local.call("POST", "/jobs/hello/runs", {"reason": "from the API"})["triggered_by"]
    by_cli = local.call("GET", f"/runs/{run_id}")["triggered_by"]
    assert by_cli == by_api and by_cli.startswith("arn:aws:iam::") and "moto" not in by_cli


def test_a_fargate_spot_job_runs_locally(local: Local) -> None:
    run_id = local.call("POST", "/jobs/spot/runs", {"reason": "spot"})["run_id"]
    ended = local.wait_line(rf"run   spot {re.escape(run_id)}: ({TERMINAL})")
    assert ended.group(1) == "SUCCEEDED"
    run = local.call("GET", f"/runs/{run_id}")
    assert local.logs(run["task_arn"]) == ["on spot"]


def test_an_ec2_job_fails_at_once_with_ecs_reason_and_no_traceback(local: Local) -> None:
    run_id = local.call("POST", "/jobs/on-ec2/runs", {"reason": "ec2"})["run_id"]
    ended = local.wait_line(rf"run   on-ec2 {re.escape(run_id)}: ({TERMINAL}).*", timeout=30)
    assert ended.group(1) == "FAILED"
    assert "No Container Instances were found in your cluster" in ended.group(0)
    assert not any("Traceback" in line for line in local.lines), "\n".join(local.lines)


def test_the_local_api_refuses_cross_site_requests(local: Local) -> None:
    request = urllib.request.Request(local.api + "/jobs", headers={"Origin": "https://evil"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with pytest.raises(urllib.error.HTTPError) as refused:
        opener.open(request, timeout=10)
    assert refused.value.code == 403


def test_ctrl_c_stops_everything_cleanly(local: Local) -> None:
    local.wait_line(r"^\S+ ALERT ")  # broken's alert is in (this test may run alone)
    started = local.call("POST", "/jobs/sleeper/runs", {"reason": "to be interrupted"})
    pid = int(local.wait_line(r"agent: sleeper/\S+: started .* \(pid (\d+)\)").group(1))
    local.wait_line(r"sleeper/\S+ \| sleeping")
    began = time.monotonic()
    local.process.send_signal(signal.SIGINT)
    assert _exit_status(local, timeout=20) == 0
    stopped_in = time.monotonic() - began
    assert stopped_in < 10, f"shutdown took {stopped_in:.1f}s"
    local.wait_line(r"^\S+ stopped$")
    assert any(
        re.search(rf"run   sleeper {re.escape(started['run_id'])}: ABORTED", line)
        for line in local.lines
    ), "the interrupted run is recorded ABORTED"
    # The task's whole process group (sh and both sleeps) is gone; init reaps the orphans.
    deadline = time.monotonic() + 2
    while _group_exists(pid):
        assert time.monotonic() < deadline, f"process group {pid} outlived jobctl local"
        time.sleep(0.02)
    alerts = [line for line in local.lines if re.match(r"^\S+ ALERT ", line)]
    assert len(alerts) == 1, alerts
    assert len(local.webhook.posts) == 1
    assert not any("Traceback" in line for line in local.lines), "\n".join(local.lines)


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _exit_status(local: Local, timeout: float) -> int:
    """The process's exit status; if it hangs, every thread's stack in the failure."""
    try:
        return local.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        local.process.send_signal(signal.SIGABRT)  # faulthandler prints all threads
        local.process.wait(timeout=10)
        with contextlib.suppress(AssertionError):
            local.wait_line(r"^\$never", timeout=2)  # collect the dump until EOF
        tail = "\n".join(local.lines[-150:])
        raise AssertionError(f"jobctl local did not exit within {timeout}s:\n{tail}") from None
