"""Oracle 3: `jobctl export cloudformation`, linted by cfn-lint and deployed to moto.

cfn-lint carries AWS's CloudFormation resource schemas (including the state machine
definition checks, E3601, which run because the definitions say `"QueryLanguage":
"JSONata"`): every test registry's export lints with no finding at all. The export is built
from the same desired resources apply executes, and the tests compare the two (every
resource apply would create is in the template, with its name, and nothing else but the
META items' writer function). The template deploys to moto's CloudFormation where moto
models the resource kinds (`UNSUPPORTED_BY_MOTO` lists the ones it does not, and what it
drops from the ones it does).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.core.arns import fill_placeholders
from jobctl.cli.main import main
from jobctl.deploy.resources import SPEC_HASH_TAG, ResourceKind
from jobctl.export.cloudformation import CONFIG_WRITER, TYPES, logical_id, render, template
from tests.support.oracle_registries import ROOT, Deployment, deployment_ids, deployments

DEPLOYMENTS = {deployment.id: deployment for deployment in deployments()}
# moto 5.2.5's CloudFormation: kinds it has no model for (the stack skips or fails them) ...
UNSUPPORTED_BY_MOTO = {
    "AWS::Scheduler::Schedule",
    "AWS::Scheduler::ScheduleGroup",
    "Custom::JobctlJobConfig",  # custom resources need moto to run the Lambda (Docker)
}
# ... and what it drops from the kinds it models (checked below, so a moto that learns them
# makes these tests fail and this list shorter): TTL, state machine definitions.


def _lint(text: str, region: str) -> list[str]:
    from cfnlint.api import ManualArgs, lint

    return [str(match) for match in lint(text, config=ManualArgs(regions=[region]))]


@pytest.mark.parametrize("deployment_id", deployment_ids())
def test_the_export_lints_clean(deployment_id: str) -> None:
    deployment = DEPLOYMENTS[deployment_id]
    text = render(template(deployment.registry, deployment.env))
    assert _lint(text, deployment.context.region) == []


def test_cfn_lint_finds_planted_violations() -> None:
    deployment = DEPLOYMENTS["base"]
    document = template(deployment.registry, deployment.env)
    machine = next(
        r for r in document["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine"
    )
    states = machine["Properties"]["Definition"]["States"]
    next(iter(states.values()))["Type"] = "Tsk"  # not a state type
    rule = next(r for r in document["Resources"].values() if r["Type"] == "AWS::Events::Rule")
    rule["Properties"]["ScheduleExpression"] = "cron(0 3 * * * *)"  # '?' missing
    found = _lint(render(document), deployment.context.region)
    assert any("E3601" in f for f in found), found
    assert any("E3027" in f or "ScheduleExpression" in f for f in found), found


@pytest.mark.parametrize("deployment_id", deployment_ids())
def test_the_export_has_exactly_what_apply_creates(deployment_id: str) -> None:
    deployment = DEPLOYMENTS[deployment_id]
    document = template(deployment.registry, deployment.env)
    resources = document["Resources"]
    extra = {CONFIG_WRITER, CONFIG_WRITER + "Role"}
    assert set(resources) - extra == {logical_id(r) for r in deployment.resources}
    names = (
        "TableName",
        "TopicName",
        "LogGroupName",
        "RoleName",
        "Name",
        "StateMachineName",
        "Job",
    )
    for resource in deployment.resources:
        exported = resources[logical_id(resource)]
        assert exported["Type"] == TYPES[resource.kind]
        properties = exported["Properties"]
        assert resource.name in [properties.get(key) for key in names], resource.label
        if resource.kind == ResourceKind.STATE_MACHINE:
            # the definition, once CloudFormation substitutes the stack's values, is apply's
            values = deployment.context.placeholders()
            assert (
                fill_placeholders(properties["Definition"], values) == resource.spec["definition"]
            )
        if resource.kind in (ResourceKind.JOB_ROLE, ResourceKind.TRIGGER_ROLE):
            (policy,) = properties["Policies"]
            assert _substituted(policy["PolicyDocument"], deployment) == resource.spec["policy"]
        if resource.tags and "Tags" in properties:
            tags = {k: v for k, v in resource.tags.items() if k != SPEC_HASH_TAG}
            assert {t["Key"]: t["Value"] for t in properties["Tags"]} == tags
    assert set(document["Outputs"]) >= {
        logical_id(r) + "Arn" for r in deployment.resources if r.kind == ResourceKind.STATE_MACHINE
    }


def _substituted(value: Any, deployment: Deployment) -> Any:
    """`Fn::Sub` resolved as CloudFormation would, with the stack's values and parameters."""
    from tests.support.oracle_registries import TASK_EXECUTION_ROLE, TASK_ROLE

    if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
        text = value["Fn::Sub"]
        c = deployment.context
        for name, actual in (
            ("AWS::Partition", c.partition),
            ("AWS::Region", c.region),
            ("AWS::AccountId", c.account),
        ):
            text = text.replace("${" + name + "}", actual)
        for family in {job.task_definition for job in deployment.jobs()}:
            from jobctl.export.cloudformation import _task_parameter

            stem = _task_parameter(family)
            text = text.replace("${" + stem + "TaskRoleArn}", TASK_ROLE)
            text = text.replace("${" + stem + "ExecutionRoleArn}", TASK_EXECUTION_ROLE)
        return text.replace("${!", "${")
    if isinstance(value, dict):
        return {k: _substituted(v, deployment) for k, v in value.items()}
    if isinstance(value, list):
        return [_substituted(v, deployment) for v in value]
    return value


# --- end to end: the CLI, then moto's CloudFormation --------------------------------------


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from tests.support.aws import offline_aws

    offline_aws(monkeypatch, "ap-northeast-1")
    with mock_aws():
        yield


def _moto_part(document: dict[str, Any]) -> dict[str, Any]:
    """The template without the kinds moto's CloudFormation cannot create."""
    keep = {k for k, v in document["Resources"].items() if v["Type"] not in UNSUPPORTED_BY_MOTO}
    resources = {}
    for key in sorted(keep):
        body = dict(document["Resources"][key])
        if "DependsOn" in body:
            body["DependsOn"] = [d for d in body["DependsOn"] if d in keep]
        resources[key] = body
    outputs = {k: v for k, v in document["Outputs"].items() if k.removesuffix("Arn") in keep}
    return {**document, "Resources": resources, "Outputs": outputs}


def test_export_end_to_end_cli_then_moto_cloudformation(offline: None, tmp_path: Path) -> None:
    out = tmp_path / "jobs.template.json"
    status = main(
        [
            "export",
            "cloudformation",
            "-f",
            str(ROOT / "jobs.yaml"),
            "--env",
            "production",
            "-o",
            str(out),
        ]
    )
    assert status == 0
    document = json.loads(out.read_text())
    deployment = DEPLOYMENTS["example-production"]
    assert document == template(deployment.registry, "production")
    assert _lint(out.read_text(), "ap-northeast-1") == []

    cloudformation = boto3.client("cloudformation")
    from tests.support.oracle_registries import TASK_EXECUTION_ROLE, TASK_ROLE

    parameters = [
        {
            "ParameterKey": key,
            "ParameterValue": TASK_ROLE if key.endswith("TaskRoleArn") else TASK_EXECUTION_ROLE,
        }
        for key in document["Parameters"]
    ]
    cloudformation.create_stack(
        StackName="coin-production-jobs",
        TemplateBody=render(_moto_part(document)),
        Parameters=parameters,
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    stack = cloudformation.describe_stacks(StackName="coin-production-jobs")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")

    table = boto3.client("dynamodb").describe_table(TableName="coin-production-history")["Table"]
    assert sorted(i["IndexName"] for i in table["GlobalSecondaryIndexes"]) == sorted(
        deployment.of_kind(ResourceKind.TABLE)[0].spec["indexes"]
    )
    topic = deployment.of_kind(ResourceKind.TOPIC)[0].name
    assert any(
        t["TopicArn"].endswith(":" + topic) for t in boto3.client("sns").list_topics()["Topics"]
    )
    iam = boto3.client("iam")
    for role in deployment.of_kind(ResourceKind.JOB_ROLE):
        policy = iam.get_role_policy(RoleName=role.name, PolicyName="jobctl")["PolicyDocument"]
        # moto keeps a CloudFormation inline policy as the text of a Python dict
        document_read = policy if isinstance(policy, dict) else ast.literal_eval(policy)
        assert document_read == role.spec["policy"], role.name
    events = boto3.client("events")
    for rule in deployment.of_kind(ResourceKind.RULE):
        described = events.describe_rule(Name=rule.name)
        assert described["ScheduleExpression"] == rule.spec["ScheduleExpression"]
        assert described["State"] == rule.spec["State"]
        (target,) = events.list_targets_by_rule(Rule=rule.name)["Targets"]
        assert target["InputTransformer"] == rule.spec["Targets"][0]["InputTransformer"]
    machines = {
        m["name"] for m in boto3.client("stepfunctions").list_state_machines()["stateMachines"]
    }
    assert machines == {m.name for m in deployment.of_kind(ResourceKind.STATE_MACHINE)}
    # What moto drops (see UNSUPPORTED_BY_MOTO): the TTL and the definitions' substitutions.
    ttl = boto3.client("dynamodb").describe_time_to_live(TableName="coin-production-history")
    assert ttl["TimeToLiveDescription"]["TimeToLiveStatus"] == "DISABLED"


def test_export_needs_no_cfn_lint_and_refuses_bad_input(tmp_path: Path) -> None:
    code = (
        "import sys; from jobctl.cli.main import main; "
        f"status = main(['export', 'cloudformation', '-f', {str(ROOT / 'jobs.yaml')!r}, "
        f"'--env', 'staging', '-o', {str(tmp_path / 't.json')!r}]); "
        "assert status == 0, status; "
        "assert not [m for m in sys.modules if m.startswith('cfnlint')], 'cfn-lint imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    assert main(["export", "cloudformation", "-f", str(ROOT / "jobs.yaml")]) == 2  # no --env
    assert main(["export", "cloudformation", "-f", str(ROOT / "jobs.yaml"), "--env", "prod"]) == 2
    assert (
        main(
            [
                "export",
                "cloudformation",
                "-f",
                str(ROOT / "jobs.yaml"),
                "--env",
                "staging",
                "-o",
                str(tmp_path / "missing" / "t.json"),
            ]
        )
        == 2
    )


def test_the_config_writer_is_python_that_writes_what_apply_writes() -> None:
    from jobctl.export.cloudformation import WRITER_CODE

    compile(WRITER_CODE, "index.py", "exec")
    # the same attributes the META gateway sets (config, job_name, entity) and no others
    assert "SET config = :c, job_name = :j, #e = :e" in WRITER_CODE
    assert "ENTITY_ATTRIBUTE" not in WRITER_CODE


@pytest.mark.parametrize("deployment_id", deployment_ids())
def test_a_pinned_environment_refuses_other_accounts_and_regions(deployment_id: str) -> None:
    deployment = DEPLOYMENTS[deployment_id]
    document = template(deployment.registry, deployment.env)
    account, region = deployment.registry.pins.get(deployment.env or "", (None, None))
    asserted = {
        rule["Assert"]["Fn::Equals"][0]["Ref"]: rule["Assert"]["Fn::Equals"][1]
        for rule in document.get("Rules", {})
        .get("PinnedAccountAndRegion", {})
        .get("Assertions", [])
    }
    expected = {"AWS::AccountId": account, "AWS::Region": region}
    assert asserted == {key: value for key, value in expected.items() if value}
