"""The pipeline recipes in examples/ cannot rot: every `jobctl` command of the GitHub Actions
workflow and of the CodeBuild buildspec runs here, in order, against moto (plan, the saved
plan, apply), and the repository's pre-commit hook runs `jobctl validate`."""

from __future__ import annotations

import os
import re
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws

from jobctl.cli.main import main
from jobctl.local.seed import register_task_definition
from tests.support.aws import offline_aws

ROOT = Path(__file__).parent.parent.parent
EXAMPLES = ROOT / "examples"
REGION = "eu-west-1"


def commands(scripts: list[str]) -> list[str]:
    """The `jobctl ...` lines of shell scripts, in order."""
    found = []
    for script in scripts:
        for line in script.splitlines():
            line = line.strip()
            if line.startswith("jobctl "):
                found.append(line)
    return found


def workflow() -> tuple[dict[str, str], list[str]]:
    document: dict[Any, Any] = yaml.safe_load((EXAMPLES / "github-actions/jobctl.yml").read_text())
    scripts = [
        step["run"] for job in document["jobs"].values() for step in job["steps"] if "run" in step
    ]
    return document["env"], commands(scripts)


def buildspec() -> tuple[dict[str, str], list[str]]:
    document: dict[str, Any] = yaml.safe_load((EXAMPLES / "codebuild/buildspec.yml").read_text())
    scripts = [command for phase in document["phases"].values() for command in phase["commands"]]
    return document["env"]["variables"], commands(scripts)


def run(line: str, capsys: pytest.CaptureFixture[str]) -> int:
    """One command line as the shell would run it: variables expanded, `> FILE` honoured."""
    line, _, redirect = line.partition(" > ")
    argv = shlex.split(os.path.expandvars(line))
    assert argv[0] == "jobctl"
    capsys.readouterr()
    status = main(argv[1:])
    captured = capsys.readouterr()
    if redirect:
        Path(redirect.strip()).write_text(captured.out)
    assert status in ((0, 2) if "--detailed-exitcode" in argv else (0,)), (line, captured.err)
    return status


@pytest.fixture
def project(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A copy of examples/ as a repository checkout, its AWS facts created in moto."""
    offline_aws(monkeypatch, REGION)
    for name in ("AWS_ACCOUNT_ID", "JOBCTL_FILE", "JOBCTL_ENV"):
        monkeypatch.delenv(name, raising=False)
    checkout = tmp_path / "repo"
    shutil.copytree(EXAMPLES, checkout)
    monkeypatch.chdir(checkout)
    with mock_aws():
        ecs = boto3.client("ecs")
        register_task_definition(ecs, family="shop-batch")
        ecs.create_cluster(clusterName="shop-jobs")
        ec2 = boto3.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
        for index, name in enumerate(("shop-private-a", "shop-private-b")):
            ec2.create_subnet(
                VpcId=vpc,
                CidrBlock=f"10.7.{index}.0/24",
                TagSpecifications=[_named("subnet", name)],
            )
        ec2.create_security_group(
            GroupName="shop-jobs",
            Description="jobs",
            VpcId=vpc,
            TagSpecifications=[_named("security-group", "shop-jobs")],
        )
        # The checkout commits its compiled state machines (build --check compares them).
        assert main(["build", "-f", "jobs.yaml"]) == 0
        yield checkout


def _named(kind: str, name: str) -> dict[str, Any]:
    return {"ResourceType": kind, "Tags": [{"Key": "Name", "Value": name}]}


@pytest.mark.parametrize("recipe", [workflow, buildspec], ids=["github-actions", "codebuild"])
def test_recipe_commands_run(
    recipe: Any, project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env, lines = recipe()
    for name, value in env.items():
        monkeypatch.setenv(name, str(value))
    verbs = [shlex.split(line)[1] for line in lines]
    assert verbs == ["validate", "build", "plan", "apply"]
    statuses = [run(line, capsys) for line in lines]
    if "--detailed-exitcode" in lines[2]:
        assert statuses[2] == 2  # changes: the apply job runs
        assert "| `nightly-report` | + create |" in (project / "plan.md").read_text()
    names = [
        m["name"] for m in boto3.client("stepfunctions").list_state_machines()["stateMachines"]
    ]
    assert names == ["shop-production-nightly-report"]
    # Applied exactly the plan: planning again finds nothing to do.
    assert (
        main(
            [
                "plan",
                "--env",
                "production",
                "--envfile",
                "envs/production.env",
                "--detailed-exitcode",
            ]
        )
        == 0
    )


def test_pre_commit_hook_validates(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hooks: list[dict[str, Any]] = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    (hook,) = hooks
    assert hook["id"] == "jobctl-validate" and hook["language"] == "python"
    assert all(re.search(hook["files"], path) for path in ("jobs.yaml", "deploy/jobs.yml"))
    argv = shlex.split(hook["entry"])
    assert argv[0] == "jobctl"
    assert main(argv[1:]) == 0
    (project / "jobs.yaml").write_text(
        "version: 1\nproject: shop\njobs: {x: {cluster: '${aws:vpc:x}'}}\n"
    )
    assert main(argv[1:]) == 2
    assert "unknown AWS lookup 'vpc'" in capsys.readouterr().err
