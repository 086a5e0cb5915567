"""References resolved at plan time on moto: environment and --envfile, Terraform state from
a fixture file and from S3, tag and name lookups; unresolvable references stop the plan at
their FILE:LINE:COL with nothing applied; saved plans and --detailed-exitcode."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from jobctl.cli.main import main
from jobctl.compile.compiler import compile_job
from jobctl.local.seed import register_task_definition
from jobctl.registry.loader import load_registry
from tests.support.aws import offline_aws

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account
STATE = Path(__file__).parent.parent / "data" / "tfstate" / "terraform.tfstate"
JOBS = """\
version: 1
project: demo
environments:
  prod:
    account: "${tfstate:data.aws_caller_identity.current.account_id}"
    tfstate: STATE
defaults:
  cluster: "${aws:cluster:jobs}"
  task_definition: "${aws:task-definition:app-batch}"
  container: app
  launch_type: FARGATE
  network:
    subnets: ["${aws:subnet:Name=private-a}", "${tfstate:aws_subnet.private[1].id}"]
    security_groups: "${env:SECURITY_GROUPS}"
jobs:
  report:
    schedule: cron(0 3 * * ? *)
    command: [bin/report]
"""


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    offline_aws(monkeypatch, REGION)
    monkeypatch.delenv("SECURITY_GROUPS", raising=False)
    with mock_aws():
        ecs = boto3.client("ecs")
        register_task_definition(ecs)
        register_task_definition(ecs)  # revision 2 is the latest ACTIVE one
        ecs.create_cluster(clusterName="jobs")
        ec2 = boto3.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(
            VpcId=vpc,
            CidrBlock="10.9.1.0/24",
            TagSpecifications=[
                {"ResourceType": "subnet", "Tags": [{"Key": "Name", "Value": "private-a"}]}
            ],
        )["Subnet"]["SubnetId"]
        yield {"ec2": ec2, "vpc": vpc, "subnet": subnet}


@pytest.fixture
def registry_file(tmp_path: Path) -> Path:
    shutil.copy(STATE, tmp_path / "terraform.tfstate")
    path = tmp_path / "jobs.yaml"
    path.write_text(JOBS.replace("STATE", "terraform.tfstate"))
    (tmp_path / "prod.env").write_text("# the pipeline's variables\nSECURITY_GROUPS=sg-a, sg-b\n")
    return path


def jobctl(path: Path, *args: str) -> int:
    return main([*args, "-f", str(path), "--env", "prod"])


def plan_document(path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    capsys.readouterr()
    status = jobctl(path, "plan", "--format", "json", *args)
    captured = capsys.readouterr()
    assert status == 0, captured.err
    document: dict[str, Any] = json.loads(captured.out)
    return document


def spec_of(saved: Path, kind: str) -> str:
    """The desired spec of the saved plan's `kind` resource, as JSON text."""
    actions = json.loads(saved.read_text())["actions"]
    return json.dumps(next(a for a in actions if a["kind"] == kind)["spec"])


def deployed(kind: str) -> list[str]:
    if kind == "state-machines":
        return [
            m["name"] for m in boto3.client("stepfunctions").list_state_machines()["stateMachines"]
        ]
    return boto3.client("dynamodb").list_tables()["TableNames"]


def test_plan_resolves_env_tfstate_and_tag_lookups(
    aws: dict[str, Any], registry_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = registry_file.parent / "plan.json"
    envfile = str(registry_file.parent / "prod.env")
    document = plan_document(registry_file, capsys, "--envfile", envfile, "--out", str(saved))
    values = {r["reference"]: r["value"] for r in document["references"]}
    assert values == {
        "${tfstate:data.aws_caller_identity.current.account_id}": ACCOUNT,
        "${aws:cluster:jobs}": "jobs",
        "${aws:task-definition:app-batch}": "app-batch:2",
        "${aws:subnet:Name=private-a}": aws["subnet"],
        "${tfstate:aws_subnet.private[1].id}": "subnet-tf2",
        "${env:SECURITY_GROUPS}": ["sg-a", "sg-b"],
    }
    assert all(r["where"].startswith(f"{registry_file}:") for r in document["references"])
    assert document["format_version"] == 1 and document["changes"] is True
    # The deployed state machine has the values; build's compiled output has the references.
    definition = spec_of(saved, "state-machine")
    assert aws["subnet"] in definition and "subnet-tf2" in definition and "sg-b" in definition
    assert "aws:subnet:Name=private-a" not in definition
    built = json.dumps(compile_job(load_registry(registry_file).jobs_for("prod")[0]).definition)
    assert "aws:subnet:Name=private-a" in built and aws["subnet"] not in built
    assert "task-definition/app-batch:2" in spec_of(saved, "job-role")


def test_text_plan_shows_reference_and_value(
    aws: dict[str, Any],
    registry_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SECURITY_GROUPS", "sg-from-shell")  # the environment wins over --envfile
    assert jobctl(registry_file, "plan", "--envfile", str(registry_file.parent / "prod.env")) == 0
    out = capsys.readouterr().out
    assert f"${{aws:subnet:Name=private-a}} -> {aws['subnet']}" in out
    assert "${env:SECURITY_GROUPS} -> sg-from-shell" in out
    assert out.rstrip().endswith("to destroy.")


def test_tfstate_from_s3(
    aws: dict[str, Any],
    registry_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="tf-states", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket="tf-states", Key="prod/terraform.tfstate", Body=STATE.read_bytes())
    text = registry_file.read_text().replace(
        "tfstate: terraform.tfstate", "tfstate: s3://tf-states/prod/terraform.tfstate"
    )
    text = text.replace(
        '"${aws:cluster:jobs}"', "'${tfstate:module.ecs.aws_ecs_cluster.this[\"main\"].name}'"
    )
    registry_file.write_text(text)
    monkeypatch.setenv("SECURITY_GROUPS", "sg-1")
    document = plan_document(registry_file, capsys)
    values = {r["reference"]: r["value"] for r in document["references"]}
    assert values['${tfstate:module.ecs.aws_ecs_cluster.this["main"].name}'] == "tf-cluster"
    assert values["${tfstate:aws_subnet.private[1].id}"] == "subnet-tf2"


def _refused(registry_file: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    assert jobctl(registry_file, "apply", "--yes", *args) == 1
    assert deployed("state-machines") == [] and deployed("tables") == []
    return capsys.readouterr().err


def test_missing_references_stop_the_plan_with_file_line_and_nothing_applied(
    aws: dict[str, Any], registry_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = registry_file.read_text().replace("private[1]", "private[7]")
    registry_file.write_text(text.replace("aws:cluster:jobs", "aws:cluster:nope"))
    err = _refused(registry_file, capsys)
    lines = text.splitlines()
    line_of = {
        needle: 1 + next(i for i, line in enumerate(lines) if needle in line)
        for needle in ("cluster:", "subnets:", "security_groups:")
    }
    assert (
        f"{registry_file}:{line_of['cluster:']}:" in err and "no ACTIVE cluster named nope" in err
    )
    assert f"{registry_file}:{line_of['subnets:']}:" in err and "has no instance [7]" in err
    assert f"{registry_file}:{line_of['security_groups:']}:" in err
    assert "environment variable SECURITY_GROUPS is not set" in err
    assert "3 references could not be resolved: nothing was planned or changed" in err


def test_ambiguous_tag_lookup_is_refused(
    aws: dict[str, Any],
    registry_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SECURITY_GROUPS", "sg-1")
    aws["ec2"].create_subnet(
        VpcId=aws["vpc"],
        CidrBlock="10.9.2.0/24",
        TagSpecifications=[
            {"ResourceType": "subnet", "Tags": [{"Key": "Name", "Value": "private-a"}]}
        ],
    )
    err = _refused(registry_file, capsys)
    assert "${aws:subnet:Name=private-a}: 2 of them match" in err and "ambiguous" in err


def test_tfstate_errors_are_clear(
    aws: dict[str, Any],
    registry_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "SECURITY_GROUPS", "${tfstate:output.db_password}"
    )  # a value, not a reference
    text = registry_file.read_text().replace("private[1].id", "private.id")
    registry_file.write_text(
        text.replace('"${aws:cluster:jobs}"', '"${tfstate:output.db_password}"')
    )
    err = _refused(registry_file, capsys)
    assert "aws_subnet.private has 2 instances ([0], [1]): name one" in err
    assert "output 'db_password' is sensitive" in err
    (registry_file.parent / "terraform.tfstate").write_text('{"version": 3}')
    assert "not a Terraform state of format version 4" in _refused(registry_file, capsys)


def test_detailed_exitcode_and_saved_plan_round_trip(
    aws: dict[str, Any],
    registry_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("SECURITY_GROUPS", "sg-1")
    saved = tmp_path / "plan.json"
    assert jobctl(registry_file, "plan", "--detailed-exitcode", "--out", str(saved)) == 2
    assert main(["apply", str(saved), "-f", str(registry_file)]) == 0  # --env from the plan
    assert deployed("state-machines") == ["demo-prod-report"]
    assert jobctl(registry_file, "plan", "--detailed-exitcode", "--out", str(saved)) == 0
    # AWS changes after the review: the saved plan (no changes) is refused, nothing applied.
    boto3.client("events").disable_rule(Name="demo-prod-report")
    capsys.readouterr()
    assert jobctl(registry_file, "apply", str(saved)) == 1
    err = capsys.readouterr().err
    assert "changed since this plan was made" in err and "rule demo-prod-report" in err
    rule = boto3.client("events").describe_rule(Name="demo-prod-report")
    assert rule["State"] == "DISABLED"
    # A reference resolving differently is a change too.
    assert jobctl(registry_file, "plan", "--out", str(saved)) == 0
    monkeypatch.setenv("SECURITY_GROUPS", "sg-2")
    assert jobctl(registry_file, "apply", str(saved)) == 1
    assert "${env:SECURITY_GROUPS}: 'sg-1' -> 'sg-2'" in capsys.readouterr().err


def test_saved_plan_refuses_another_registry_environment_or_edit(
    aws: dict[str, Any],
    registry_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("SECURITY_GROUPS", "sg-1")
    saved = tmp_path / "plan.json"
    assert jobctl(registry_file, "plan", "--out", str(saved)) == 0
    registry_file.write_text(registry_file.read_text().replace("bin/report", "bin/report2"))
    capsys.readouterr()
    assert jobctl(registry_file, "apply", str(saved)) == 1
    assert "changed since this plan was made" in capsys.readouterr().err
    data = json.loads(saved.read_text())
    data["environment"] = "staging"
    saved.write_text(json.dumps(data))
    assert jobctl(registry_file, "apply", str(saved)) == 2
    assert "was modified after it was made" in capsys.readouterr().err
    saved.write_text("{}")
    assert jobctl(registry_file, "apply", str(saved)) == 2
    assert deployed("state-machines") == []


def test_detailed_exitcode_errors_are_1_and_markdown(
    aws: dict[str, Any],
    registry_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert jobctl(registry_file, "plan", "--detailed-exitcode") == 1  # unresolved reference
    bad_envfile = registry_file.parent / "bad.env"
    bad_envfile.write_text("OK=1\nnot a line\n")
    assert jobctl(registry_file, "plan", "--envfile", str(bad_envfile)) == 2
    assert f"{bad_envfile}:2: not a dotenv line" in capsys.readouterr().err
    registry_file.write_text(registry_file.read_text().replace("cron(0 3 * * ? *)", "cron(nope)"))
    assert jobctl(registry_file, "plan", "--detailed-exitcode") == 1  # invalid registry: not 2
    registry_file.write_text(registry_file.read_text().replace("cron(nope)", "cron(0 3 * * ? *)"))
    monkeypatch.setenv("SECURITY_GROUPS", "sg-1")
    capsys.readouterr()
    assert jobctl(registry_file, "plan", "--format", "markdown", "--detailed-exitcode") == 2
    out = capsys.readouterr().out
    assert out.startswith("### jobctl plan: `demo/prod` in account `123456789012`")
    assert "**Plan: " in out and "| job | action | resource | changes |" in out
    assert "| `report` | + create | state-machine demo-prod-report |" in out
    assert "`${aws:cluster:jobs}` | `jobs` |" in out
