"""The local ECS agent against moto: argv, environment, secrets, logs, exit codes, stops."""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from chalicelib.aws.clients import ClientFactory
from jobctl.local.agent import LocalAgent, base_environment
from jobctl.local.moto import StartedTask
from tests.support.aws import offline_aws

REGION = "us-east-1"
PRINT_ENV = (
    "import json, os; "
    "print(json.dumps({k: os.environ.get(k) for k in "
    "['FROM_DEF', 'OVERRIDDEN', 'DB_PASSWORD', 'API_TOKEN', 'AWS_ENDPOINT_URL', 'PYTHONUNBUFFERED']}))"
)


class Lab:
    def __init__(self, factory: ClientFactory, workdir: Path) -> None:
        self.factory = factory
        self.ecs = factory.client("ecs")
        self.finished: dict[str, tuple[int | None, str]] = {}
        self.stopped: set[str] = set()
        self.lines: list[str] = []
        self._done = threading.Condition()
        self.agent = LocalAgent(
            factory,
            workdir=workdir,
            base_env=base_environment({"AWS_ENDPOINT_URL": "http://127.0.0.1:1"}),
            say=self.lines.append,
            finish=self._finish,
            is_running=lambda arn: arn not in self.finished and arn not in self.stopped,
            grace=1.0,
        )
        ec2 = factory.client("ec2")
        subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
        group = ec2.describe_security_groups()["SecurityGroups"][0]["GroupId"]
        self.network = {"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}}
        self.ecs.create_cluster(clusterName="app")

    def _finish(self, arn: str, code: int | None, reason: str) -> None:
        with self._done:
            self.finished[arn] = (code, reason)
            self._done.notify_all()

    def register(self, **container: Any) -> None:
        self.ecs.register_task_definition(
            family="app-batch",
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="256",
            memory="512",
            containerDefinitions=[
                {
                    "name": "app",
                    "image": "app:latest",
                    "essential": True,
                    "memory": 512,
                    "logConfiguration": {
                        "logDriver": "awslogs",
                        "options": {"awslogs-group": "/ecs/app", "awslogs-stream-prefix": "p"},
                    },
                    **container,
                }
            ],
        )

    def start(
        self, command: list[str] | None = None, environment: dict[str, str] | None = None
    ) -> StartedTask:
        task = self.ecs.run_task(
            cluster="app",
            taskDefinition="app-batch",
            launchType="FARGATE",
            networkConfiguration=self.network,
        )["tasks"][0]
        override: dict[str, Any] = {"Name": "app", "Command": command}
        override["Environment"] = [{"Name": k, "Value": v} for k, v in (environment or {}).items()]
        started = StartedTask(
            task_arn=task["taskArn"],
            cluster_arn=task["clusterArn"],
            group="jobctl:job",
            overrides={"ContainerOverrides": [override]},
        )
        self.agent.on_start(started)
        return started

    def wait(self, task: StartedTask, timeout: float = 10.0) -> tuple[int | None, str]:
        with self._done:
            if not self._done.wait_for(lambda: task.task_arn in self.finished, timeout):
                raise AssertionError(f"task did not finish: {self.lines}")
            return self.finished[task.task_arn]

    def logs(self, task: StartedTask) -> list[str]:
        stream = f"p/app/{task.task_arn.rsplit('/', 1)[-1]}"
        events = self.factory.client("logs").get_log_events(
            logGroupName="/ecs/app", logStreamName=stream, startFromHead=True
        )["events"]
        return [event["message"] for event in events]


@pytest.fixture
def lab(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Lab]:
    offline_aws(monkeypatch, REGION)
    with mock_aws():
        lab = Lab(ClientFactory(region=REGION), tmp_path)
        try:
            yield lab
        finally:
            lab.agent.stop()


def test_environment_is_definition_then_overrides_then_secrets_and_logs_reach_cloudwatch(
    lab: Lab,
) -> None:
    secret = lab.factory.client("secretsmanager").create_secret(
        Name="app/db", SecretString=json.dumps({"password": "s3cret"})
    )["ARN"]
    lab.factory.client("ssm").put_parameter(Name="/app/token", Value="t0ken", Type="SecureString")
    lab.register(
        environment=[
            {"name": "FROM_DEF", "value": "definition"},
            {"name": "OVERRIDDEN", "value": "definition"},
        ],
        secrets=[
            {"name": "DB_PASSWORD", "valueFrom": f"{secret}:password::"},
            {
                "name": "API_TOKEN",
                "valueFrom": f"arn:aws:ssm:{REGION}:123456789012:parameter/app/token",
            },
        ],
    )
    task = lab.start(
        [sys.executable, "-c", PRINT_ENV + "; raise SystemExit(4)"], {"OVERRIDDEN": "override"}
    )
    assert lab.wait(task) == (4, "Essential container in task exited")
    (line,) = lab.logs(task)
    assert json.loads(line) == {
        "FROM_DEF": "definition",
        "OVERRIDDEN": "override",
        "DB_PASSWORD": "s3cret",
        "API_TOKEN": "t0ken",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
        "PYTHONUNBUFFERED": "1",
    }


def test_the_console_echo_redacts_the_tasks_secrets_and_credential_shaped_values(
    lab: Lab,
) -> None:
    lab.factory.client("ssm").put_parameter(Name="/app/pw", Value="hunter22", Type="SecureString")
    lab.register(
        secrets=[
            {
                "name": "DB_PASSWORD",
                "valueFrom": f"arn:aws:ssm:{REGION}:123456789012:parameter/app/pw",
            }
        ]
    )
    # Built at run time: no credential-shaped literal in the repository.
    script = (
        "import os; print('pw=' + os.environ['DB_PASSWORD']); "
        "print('url postgres://app:' + 'pa55word@db/x done')"
    )
    task = lab.start([sys.executable, "-c", script], {})
    assert lab.wait(task) == (0, "Essential container in task exited")
    # CloudWatch Logs keep what the task printed, as on AWS; the console shows no secret.
    assert lab.logs(task) == ["pw=hunter22", "url postgres://app:pa55word@db/x done"]
    echoed = [line for line in lab.lines if " | " in line]
    assert [line.split(" | ", 1)[1] for line in echoed] == ["pw=[redacted]", "url [redacted] done"]


def test_without_an_override_the_definitions_entry_point_and_command_run(lab: Lab) -> None:
    lab.register(entryPoint=[sys.executable, "-c"], command=["print('from the definition')"])
    task = lab.start(None)
    assert lab.wait(task)[0] == 0
    assert lab.logs(task) == ["from the definition"]


def test_a_missing_executable_or_secret_stops_the_task_without_an_exit_code(lab: Lab) -> None:
    lab.register()
    missing = lab.start(["no-such-program-jobctl"])
    code, reason = lab.wait(missing)
    assert code is None and reason.startswith("CannotStartContainerError: no-such-program")
    lab.register(secrets=[{"name": "X", "valueFrom": "arn:aws:ssm:us-east-1:1:parameter/none"}])
    unresolved = lab.start(["true"])
    code, reason = lab.wait(unresolved)
    assert code is None and reason.startswith("ResourceInitializationError: unable to pull")


def test_a_process_killed_by_a_signal_reports_128_plus_the_signal(lab: Lab) -> None:
    lab.register()
    task = lab.start(["sh", "-c", "kill -9 $$"])
    assert lab.wait(task)[0] == 137


def test_a_task_stopped_from_outside_has_its_whole_process_group_killed(lab: Lab) -> None:
    lab.register()
    task = lab.start(["sh", "-c", "echo up; sleep 60 & sleep 60"])
    pid = _wait_for_pid(lab)
    lab.stopped.add(task.task_arn)  # what a timeout or an abort does to the task
    _wait_gone(pid)
    assert task.task_arn not in lab.finished, "its fate was decided by whoever stopped it"


def test_stop_terminates_running_tasks(lab: Lab) -> None:
    lab.register()
    lab.start(["sh", "-c", "sleep 60 & sleep 60"])
    pid = _wait_for_pid(lab)
    lab.agent.stop()
    assert lab.agent.running() == 0
    _wait_gone(pid, timeout=2.0)  # orphaned grandchildren are reaped by init, not by us


def _wait_for_pid(lab: Lab, timeout: float = 10.0) -> int:
    import re
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in list(lab.lines):
            match = re.search(r"\(pid (\d+)\)", line)
            if match:
                return int(match.group(1))
        time.sleep(0.01)
    raise AssertionError(f"no task started: {lab.lines}")


def _wait_gone(pid: int, timeout: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.02)
    raise AssertionError(f"process group {pid} still alive")
