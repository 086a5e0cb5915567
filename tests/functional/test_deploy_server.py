"""`jobctl apply` against a real moto server over HTTP (AWS_ENDPOINT_URL), checked with boto3.

One apply of a three-job registry (a rate rule, a time-zone schedule, a job disabled in the
environment), then plain boto3 reads compare what exists with what the compiler produces:
definitions, triggers, tags. The server runs in this process on a free 127.0.0.1 port.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from chalicelib.core.arns import fill_placeholders
from jobctl.cli.main import main
from jobctl.compile.compiler import CompiledJob, compile_job
from jobctl.deploy.gateways.base import normalize_target
from jobctl.deploy.resources import SPEC_HASH_TAG, spec_hash
from jobctl.local.seed import register_task_definition
from jobctl.local.server import moto_server
from jobctl.registry.loader import parse_registry
from tests.support.registries import BASE

REGION = "eu-west-1"
ACCOUNT = "123456789012"
ENV = "staging"
PREFIX = f"demo-{ENV}"
VALUES = {"Partition": "aws", "Region": REGION, "AccountId": ACCOUNT}
REGISTRY = (
    BASE
    + f"""\
environments:
  {ENV}: {{}}
jobs:
  alpha:
    schedule: rate(5 minutes)
    description: every five minutes
  beta:
    schedule: cron(30 6 ? * MON-FRI *)
    timezone: Europe/London
    starting_deadline: 10m
  gamma:
    schedule: cron(0 3 * * ? *)
    environments:
      {ENV}: {{enabled: false}}
"""
)
JOBS = ("alpha", "beta", "gamma")
EXPECTED_TAGS = {"ManagedBy": "jobctl", "jobctl:project": "demo", "jobctl:env": ENV}


@dataclass
class Deployed:
    endpoint: str
    code: int
    out: str
    err: str
    registry_file: Path


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    tmp = tmp_path_factory.mktemp("server")
    with pytest.MonkeyPatch.context() as env:
        for name in (
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_REGION",
            "AWS_SESSION_TOKEN",
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "http_proxy",
            "https_proxy",
            "AWS_MAX_ATTEMPTS",
            "AWS_RETRY_MODE",
        ):
            env.delenv(name, raising=False)
        env.setenv("NO_PROXY", "127.0.0.1,localhost")
        env.setenv("AWS_CONFIG_FILE", str(tmp / "no-aws-config"))
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp / "no-aws-credentials"))
        env.setenv("AWS_EC2_METADATA_DISABLED", "true")
        env.setenv("BOTO_CONFIG", str(tmp / "no-boto-config"))
        env.setenv("AWS_DEFAULT_REGION", REGION)
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")

        with moto_server() as endpoint:
            env.setenv("AWS_ENDPOINT_URL", endpoint)
            register_task_definition(client("ecs"))
            path = tmp / "jobs.yaml"
            path.write_text(REGISTRY, encoding="utf-8")
            code, out, err = run_cli("apply", "-f", str(path), "--env", ENV, "--yes")
            yield Deployed(endpoint, code, out, err, path)


def client(service: str) -> Any:
    """A plain boto3 client: the endpoint comes from AWS_ENDPOINT_URL, as for jobctl."""
    return boto3.client(service, region_name=REGION)


def compiled(name: str) -> CompiledJob:
    job = parse_registry(REGISTRY).job(ENV, name)
    assert job is not None
    return compile_job(job)


def sfn_arn(name: str) -> str:
    return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}"


def test_apply_over_http_succeeds_and_a_second_plan_is_empty(deployed: Deployed) -> None:
    assert deployed.code == 0, deployed.err
    assert deployed.endpoint.startswith("http://127.0.0.1:")
    # 4 shared resources, and per job a role, a state machine, a trigger and its META item.
    assert "Apply complete: 16 added, 0 changed, 0 destroyed." in deployed.out
    assert f"jobctl plan: demo/{ENV} in account {ACCOUNT} ({REGION})" in deployed.out

    args = ("-f", str(deployed.registry_file), "--env", ENV)
    code, out, err = run_cli("plan", *args, "--json", "--prune")
    assert code == 0, err
    plan = json.loads(out)
    assert (plan["actions"], plan["held_back"]) == ([], [])
    assert (plan["account"], plan["region"]) == (ACCOUNT, REGION)


def test_one_state_machine_per_job_with_the_compiled_definition(deployed: Deployed) -> None:
    sfn = client("stepfunctions")
    machines = sfn.list_state_machines()["stateMachines"]
    assert sorted(m["name"] for m in machines) == [f"{PREFIX}-{job}" for job in JOBS]
    for job in JOBS:
        expected = compiled(job)
        described = sfn.describe_state_machine(stateMachineArn=sfn_arn(f"{PREFIX}-{job}"))
        assert json.loads(described["definition"]) == fill_placeholders(
            expected.definition, VALUES
        ), job
        assert "${" not in described["definition"]
        assert described["roleArn"] == f"arn:aws:iam::{ACCOUNT}:role/jobctl/{PREFIX}-{job}-sfn"
        assert described["type"] == "STANDARD"


def test_one_trigger_per_job(deployed: Deployed) -> None:
    events, scheduler = client("events"), client("scheduler")
    rules = {rule["Name"]: rule for rule in events.list_rules()["Rules"]}
    schedules = scheduler.list_schedules()["Schedules"]
    # UTC jobs get a rule, the time-zone job a Scheduler schedule; nothing else exists.
    assert sorted(rules) == [f"{PREFIX}-alpha", f"{PREFIX}-gamma"]
    assert [(s["Name"], s["GroupName"]) for s in schedules] == [(f"{PREFIX}-beta", PREFIX)]

    for job in ("alpha", "gamma"):
        trigger = fill_placeholders(compiled(job).trigger, VALUES)
        rule = events.describe_rule(Name=f"{PREFIX}-{job}")
        assert rule["ScheduleExpression"] == trigger["ScheduleExpression"]
        assert rule["State"] == trigger["State"]
        assert rule["Description"] == trigger["Description"]
        targets = events.list_targets_by_rule(Rule=f"{PREFIX}-{job}")["Targets"]
        assert len(targets) == 1
        (target,) = targets
        (wanted,) = trigger["Targets"]
        assert target["Id"] == "run"
        assert target["Arn"] == sfn_arn(f"{PREFIX}-{job}")
        assert target["RoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/jobctl/{PREFIX}-trigger"
        assert target["InputTransformer"] == wanted["InputTransformer"]
        assert target["InputTransformer"]["InputPathsMap"] == {"id": "$.id", "time": "$.time"}
        assert target["RetryPolicy"] == wanted["RetryPolicy"]
    assert events.describe_rule(Name=f"{PREFIX}-alpha")["ScheduleExpression"] == ("rate(5 minutes)")

    trigger = fill_placeholders(compiled("beta").trigger, VALUES)
    schedule = scheduler.get_schedule(Name=f"{PREFIX}-beta", GroupName=PREFIX)
    assert schedule["ScheduleExpression"] == "cron(30 6 ? * MON-FRI *)"
    assert schedule["ScheduleExpressionTimezone"] == "Europe/London"
    assert schedule["State"] == "ENABLED"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert schedule["Description"] == trigger["Description"]
    target = schedule["Target"]
    assert target["Arn"] == sfn_arn(f"{PREFIX}-beta")
    assert target["RoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/jobctl/{PREFIX}-trigger"
    assert target["Input"] == trigger["Target"]["Input"]
    assert json.loads(target["Input"]) == {
        "trigger": "schedule",
        "scheduled_time": "<aws.scheduler.scheduled-time>",
        "event_id": "<aws.scheduler.execution-id>",
    }
    # starting_deadline: 10m caps delivery retries at 600 s.
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 600, "MaximumRetryAttempts": 185}


def test_disabled_job_trigger_is_disabled(deployed: Deployed) -> None:
    events = client("events")
    assert events.describe_rule(Name=f"{PREFIX}-gamma")["State"] == "DISABLED"
    assert events.describe_rule(Name=f"{PREFIX}-alpha")["State"] == "ENABLED"
    # Disabled means no trigger fires; the state machine still exists for manual runs.
    sfn = client("stepfunctions")
    assert sfn.describe_state_machine(stateMachineArn=sfn_arn(f"{PREFIX}-gamma"))["status"] == (
        "ACTIVE"
    )


def test_tags_mark_every_resource_as_this_projects(deployed: Deployed) -> None:
    sfn, events, iam = client("stepfunctions"), client("events"), client("iam")
    for job in JOBS:
        want = EXPECTED_TAGS | {"jobctl:job": job}
        tags = sfn.list_tags_for_resource(resourceArn=sfn_arn(f"{PREFIX}-{job}"))["tags"]
        assert {t["key"]: t["value"] for t in tags} == want, job
        role = iam.list_role_tags(RoleName=f"{PREFIX}-{job}-sfn")["Tags"]
        assert {t["Key"]: t["Value"] for t in role} == want, job
    for job in ("alpha", "gamma"):
        rule = events.describe_rule(Name=f"{PREFIX}-{job}")
        tags = events.list_tags_for_resource(ResourceARN=rule["Arn"])["Tags"]
        # The hash tag is the hash of what the rule holds: its schedule, state, description
        # and targets as they are deployed (what lets a cheap plan trust unseen targets).
        targets = events.list_targets_by_rule(Rule=f"{PREFIX}-{job}")["Targets"]
        held = {
            "ScheduleExpression": rule["ScheduleExpression"],
            "State": rule["State"],
            "Description": rule.get("Description", ""),
            "Targets": [normalize_target(t) for t in sorted(targets, key=lambda t: t["Id"])],
        }
        assert {t["Key"]: t["Value"] for t in tags} == EXPECTED_TAGS | {
            "jobctl:job": job,
            SPEC_HASH_TAG: spec_hash(held),
        }

    # Shared resources: tagged for the project and environment, no job.
    trigger_role = iam.list_role_tags(RoleName=f"{PREFIX}-trigger")["Tags"]
    assert {t["Key"]: t["Value"] for t in trigger_role} == EXPECTED_TAGS
    roles = iam.list_roles(PathPrefix="/jobctl/")["Roles"]
    assert sorted(r["RoleName"] for r in roles) == sorted(
        [f"{PREFIX}-trigger"] + [f"{PREFIX}-{job}-sfn" for job in JOBS]
    )
    group = client("scheduler").get_schedule_group(Name=PREFIX)
    tags = client("scheduler").list_tags_for_resource(ResourceArn=group["Arn"])["Tags"]
    assert {t["Key"]: t["Value"] for t in tags} == EXPECTED_TAGS
