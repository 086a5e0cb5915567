"""Deploy on moto: create, change one thing at a time, prune, destroy; idempotency by call count."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.aws.clients import AwsContext, ClientFactory
from jobctl.cli.main import main
from jobctl.deploy.desired import shared_resources
from jobctl.deploy.gateways import build_gateways
from jobctl.deploy.gateways.table import TableGateway
from jobctl.deploy.plan import ConflictError, compute_plan
from jobctl.deploy.resources import SPEC_HASH_TAG, ResourceKind
from jobctl.deploy.service import DeployService
from jobctl.local.seed import register_task_definition
from jobctl.registry.loader import load_registry
from tests.support.aws import offline_aws
from tests.support.iam_eval import allows, trusts
from tests.support.moto_tagging import rules_in_tagging_api
from tests.support.registries import BASE

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account
JOBS = """\
environments:
  prod: {}
jobs:
  report:
    schedule: cron(0 3 * * ? *)
    command: [bin/report]
    retry: {retries: 1}
  sync:
    schedule: rate(5 minutes)
    command: [bin/sync]
  tokyo:
    schedule: cron(0 9 * * ? *)
    timezone: Asia/Tokyo
"""
MUTATING_PREFIXES = ("Describe", "Get", "List", "BatchGet")  # reads


class Calls:
    """Every API call made through the factory, as (service, operation)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def __call__(self, service: str, operation: str) -> None:
        self.seen.append((service, operation))

    def mutating(self) -> list[tuple[str, str]]:
        return [(s, op) for s, op in self.seen if not op.startswith(MUTATING_PREFIXES)]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    offline_aws(monkeypatch, REGION)
    # moto's tagging API lists rules as AWS's does: calls are counted as AWS would get them.
    with mock_aws(), rules_in_tagging_api():
        register_task_definition(boto3.client("ecs"))
        yield


@pytest.fixture
def registry_file(tmp_path: Path) -> Path:
    path = tmp_path / "jobs.yaml"
    path.write_text(BASE + JOBS)
    return path


def deploy(
    path: Path, *, prune: bool = False, destroy: bool = False
) -> tuple[list[tuple[str, str, str]], Calls]:
    """Plan and apply; returns (verb, kind, name) of what was done and every API call."""
    calls = Calls()
    service = DeployService(ClientFactory(hooks=[calls]), load_registry(path), "prod")
    plan = service.plan(prune=prune, destroy=destroy)
    result = service.apply(plan)
    assert result.ok, result.failed
    return sorted((a.verb, a.resource.kind, a.resource.name) for a in result.done), calls


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_create_from_empty_then_second_apply_makes_no_mutating_call(
    aws: None, registry_file: Path
) -> None:
    done, _ = deploy(registry_file)
    kinds = [kind for verb, kind, _ in done if verb == "create"]
    assert sorted(set(kinds)) == [
        ResourceKind.JOB_META,
        ResourceKind.JOB_ROLE,
        ResourceKind.RULE,
        ResourceKind.SCHEDULE,
        ResourceKind.SCHEDULE_GROUP,
        ResourceKind.STATE_MACHINE,
        ResourceKind.TABLE,
        ResourceKind.TOPIC,
        ResourceKind.TRIGGER_ROLE,
    ]
    assert (
        kinds.count(ResourceKind.STATE_MACHINE) == 3
        and kinds.count(ResourceKind.RULE) == 2
        and kinds.count(ResourceKind.SCHEDULE) == 1
    )

    again, calls = deploy(registry_file)
    assert again == []
    assert calls.mutating() == []
    # Constant: identity, task definition, 4 shared resources (8 reads: the trigger role is
    # glanced), 4 discovery lists, and the glances' batch calls (job roles, state machine
    # tags, rules and their tags, META items: 5). Per job: its state machine, and its schedule
    # if it has one (see test_a_no_op_plan_reads_at_most_two_calls_per_job).
    assert len(calls.seen) <= 19 + 2 * 3, sorted(calls.seen)


@pytest.mark.parametrize(
    "old, new, expected",
    [
        (
            "schedule: rate(5 minutes)",
            "schedule: rate(10 minutes)",
            {(ResourceKind.RULE, "demo-prod-sync"), (ResourceKind.JOB_META, "sync")},
        ),
        (
            "retry: {retries: 1}",
            "retry: {retries: 3}",
            {(ResourceKind.STATE_MACHINE, "demo-prod-report"), (ResourceKind.JOB_META, "report")},
        ),
        (
            "command: [bin/report]",
            "command: [bin/report, --full]",
            {(ResourceKind.STATE_MACHINE, "demo-prod-report")},
        ),
        (
            "command: [bin/sync]",
            "command: [bin/sync]\n    cpu: 1024\n    memory: 2048",
            {(ResourceKind.STATE_MACHINE, "demo-prod-sync")},
        ),
        (
            "timezone: Asia/Tokyo",
            "timezone: Europe/Paris",
            {(ResourceKind.SCHEDULE, "demo-prod-tokyo"), (ResourceKind.JOB_META, "tokyo")},
        ),
    ],
)
def test_a_change_touches_only_the_changed_resources(
    aws: None, registry_file: Path, old: str, new: str, expected: set[tuple[str, str]]
) -> None:
    deploy(registry_file)
    edit(registry_file, old, new)
    done, _ = deploy(registry_file)
    assert {(kind, name) for verb, kind, name in done} == expected
    assert {verb for verb, _, _ in done} == {"update"}
    assert deploy(registry_file)[0] == []


def test_disable_turns_the_trigger_off_and_keeps_the_state_machine(
    aws: None, registry_file: Path
) -> None:
    deploy(registry_file)
    edit(registry_file, "command: [bin/sync]", "command: [bin/sync]\n    enabled: false")
    done, _ = deploy(registry_file)
    assert {(k, n) for _, k, n in done} == {
        (ResourceKind.RULE, "demo-prod-sync"),
        (ResourceKind.JOB_META, "sync"),
    }
    assert boto3.client("events").describe_rule(Name="demo-prod-sync")["State"] == "DISABLED"


def test_rename_keeps_the_old_job_until_prune(aws: None, registry_file: Path) -> None:
    deploy(registry_file)
    edit(registry_file, "  sync:", "  pull:")
    done, _ = deploy(registry_file)
    # The trigger role names the environment's jobs by `demo-prod-*` (IAM): unchanged.
    assert {verb for verb, _, _ in done} == {"create"}
    machines = {
        m["name"] for m in boto3.client("stepfunctions").list_state_machines()["stateMachines"]
    }
    assert {"demo-prod-sync", "demo-prod-pull"} <= machines
    # Kept until prune means still running: the trigger role may start and be assumed by both.
    trigger = _trigger_role_documents()
    for job in ("sync", "pull"):
        machine = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:demo-prod-{job}"
        assert allows(trigger["policy"], "states:StartExecution", machine), job
        rule = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/demo-prod-{job}"
        source = {"aws:SourceArn": rule, "aws:SourceAccount": ACCOUNT}
        assert trusts(trigger["trust"], "events.amazonaws.com", ACCOUNT, **source), job
    assert deploy(registry_file)[0] == []

    done, _ = deploy(registry_file, prune=True)
    assert done == sorted(
        [
            ("delete", ResourceKind.JOB_META, "sync"),
            ("delete", ResourceKind.JOB_ROLE, "demo-prod-sync-sfn"),
            ("delete", ResourceKind.RULE, "demo-prod-sync"),
            ("delete", ResourceKind.STATE_MACHINE, "demo-prod-sync"),
        ]
    )
    machines = {
        m["name"] for m in boto3.client("stepfunctions").list_state_machines()["stateMachines"]
    }
    assert "demo-prod-sync" not in machines and "demo-prod-pull" in machines
    assert deploy(registry_file, prune=True)[0] == []


ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def _administrator_access() -> str:
    """AWS's AdministratorAccess, made in the account (the offline moto loads no AWS
    managed policies)."""
    created = boto3.client("iam").create_policy(
        PolicyName="AdministratorAccess", PolicyDocument=json.dumps(ALL)
    )
    return str(created["Policy"]["Arn"])


@pytest.mark.parametrize("role", ["demo-prod-report-sfn", "demo-prod-trigger"])
def test_drift_on_a_role_is_planned_and_removed(aws: None, registry_file: Path, role: str) -> None:
    """A role jobctl owns has its one inline policy and nothing else: an attached
    AdministratorAccess, another inline policy or a permissions boundary added by hand
    would survive every apply unseen."""
    deploy(registry_file)
    iam = boto3.client("iam")
    admin = _administrator_access()
    iam.attach_role_policy(RoleName=role, PolicyArn=admin)
    iam.put_role_policy(RoleName=role, PolicyName="extra", PolicyDocument=json.dumps(ALL))
    iam.put_role_permissions_boundary(RoleName=role, PermissionsBoundary=admin)

    plan = DeployService(ClientFactory(), load_registry(registry_file), "prod").plan()
    [action] = plan.actions
    assert (action.verb, action.resource.name) == ("update", role)
    assert {(c.path, json.dumps(c.old), json.dumps(c.new)) for c in action.changes} == {
        ("attached", json.dumps([admin]), "[]"),
        ("other_inline", '["extra"]', "[]"),
        ("boundary", json.dumps(admin), "null"),
    }

    done, _ = deploy(registry_file)
    assert done == [("update", action.resource.kind, role)]
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == ["jobctl"]
    assert "PermissionsBoundary" not in iam.get_role(RoleName=role)["Role"]
    assert deploy(registry_file)[0] == []


def test_a_drifted_role_is_still_deleted(aws: None, registry_file: Path) -> None:
    # IAM refuses DeleteRole while a policy is attached: prune and destroy detach it first.
    deploy(registry_file)
    admin = _administrator_access()
    boto3.client("iam").attach_role_policy(RoleName="demo-prod-report-sfn", PolicyArn=admin)
    deploy(registry_file, destroy=True)
    assert boto3.client("iam").list_roles(PathPrefix="/jobctl/")["Roles"] == []


def _trigger_role_documents() -> dict[str, Any]:
    """The deployed trigger role's trust and inline policy, as IAM holds them."""
    iam = boto3.client("iam")
    role = iam.get_role(RoleName="demo-prod-trigger")["Role"]
    policy = iam.get_role_policy(RoleName="demo-prod-trigger", PolicyName="jobctl")
    return {"trust": role["AssumeRolePolicyDocument"], "policy": policy["PolicyDocument"]}


def test_destroy_removes_everything_it_owns(aws: None, registry_file: Path) -> None:
    deploy(registry_file)
    done, _ = deploy(registry_file, destroy=True)
    assert {verb for verb, _, _ in done} == {"delete"}
    assert boto3.client("stepfunctions").list_state_machines()["stateMachines"] == []
    assert boto3.client("events").list_rules(NamePrefix="demo-")["Rules"] == []
    assert boto3.client("iam").list_roles(PathPrefix="/jobctl/")["Roles"] == []
    assert boto3.client("dynamodb").list_tables()["TableNames"] == []
    assert deploy(registry_file, destroy=True)[0] == []


def test_plan_json_and_cli_exit_codes(
    aws: None, registry_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", "-f", str(registry_file), "--env", "prod", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["summary"] == {"add": 16, "change": 0, "destroy": 0}  # 4 shared + 4 per job
    assert plan["environment"] == "prod" and plan["account"] == "123456789012"
    assert main(["apply", "-f", str(registry_file), "--env", "prod", "--yes"]) == 0
    assert "Apply complete: 16 added, 0 changed, 0 destroyed." in capsys.readouterr().out
    assert main(["plan", "-f", str(registry_file), "--env", "prod"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("No changes.")


def test_apply_without_yes_in_a_pipe_changes_nothing(
    aws: None, registry_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["apply", "-f", str(registry_file), "--env", "prod"]) == 1
    assert "refusing to apply without confirmation: pass --yes" in capsys.readouterr().err
    assert boto3.client("stepfunctions").list_state_machines()["stateMachines"] == []


def test_environment_is_required_and_account_pin_is_enforced(
    aws: None, registry_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", "-f", str(registry_file)]) == 2
    assert "choose one with --env" in capsys.readouterr().err
    edit(registry_file, "  prod: {}", '  prod: {account: "111111111111"}')
    assert main(["plan", "-f", str(registry_file), "--env", "prod"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        "jobctl: environment 'prod' deploys to account 111111111111, "
        "but these credentials are for account 123456789012"
    )


def test_logging_and_tracing_are_deployed_and_stable(aws: None, registry_file: Path) -> None:
    deploy(registry_file)
    edit(
        registry_file,
        "command: [bin/report]",
        "command: [bin/report]\n    logging: {level: ERROR}\n    tracing: true",
    )
    done, _ = deploy(registry_file)
    assert {(v, k, n) for v, k, n in done} == {
        ("create", ResourceKind.LOG_GROUP, "/aws/vendedlogs/states/jobctl/demo-prod"),
        ("update", ResourceKind.STATE_MACHINE, "demo-prod-report"),
        ("update", ResourceKind.JOB_ROLE, "demo-prod-report-sfn"),
    }
    described = boto3.client("stepfunctions").describe_state_machine(
        stateMachineArn=f"arn:aws:states:{REGION}:123456789012:stateMachine:demo-prod-report"
    )
    assert described["loggingConfiguration"]["level"] == "ERROR"
    assert described["tracingConfiguration"] == {"enabled": True}
    group = boto3.client("logs").describe_log_groups(logGroupNamePrefix="/aws/vendedlogs/")[
        "logGroups"
    ][0]
    assert group["retentionInDays"] == 30
    assert deploy(registry_file)[0] == []
    assert ("delete", ResourceKind.LOG_GROUP, "/aws/vendedlogs/states/jobctl/demo-prod") in deploy(
        registry_file, destroy=True
    )[0]


def test_changing_tags_updates_only_the_jobs_taggable_resources(
    aws: None, registry_file: Path
) -> None:
    deploy(registry_file)
    edit(registry_file, "command: [bin/sync]", "command: [bin/sync]\n    tags: {team: data}")
    done, _ = deploy(registry_file)
    assert {(k, n) for _, k, n in done} == {
        (ResourceKind.JOB_ROLE, "demo-prod-sync-sfn"),
        (ResourceKind.STATE_MACHINE, "demo-prod-sync"),
        (ResourceKind.RULE, "demo-prod-sync"),
    }
    events = boto3.client("events")
    arn = events.describe_rule(Name="demo-prod-sync")["Arn"]
    assert {"Key": "team", "Value": "data"} in events.list_tags_for_resource(ResourceARN=arn)[
        "Tags"
    ]
    edit(registry_file, "    tags: {team: data}", "")
    deploy(registry_file)
    assert "team" not in {t["Key"] for t in events.list_tags_for_resource(ResourceARN=arn)["Tags"]}
    assert deploy(registry_file)[0] == []


def test_indexes_added_by_a_newer_jobctl_are_built_on_the_existing_table(aws: None) -> None:
    context = AwsContext("123456789012", REGION, "aws")
    table = next(
        r
        for r in shared_resources("demo", "prod", context.placeholders())
        if r.kind is ResourceKind.TABLE
    )
    old_indexes = {name: table.spec["indexes"][name] for name in ("by_job", "by_status")}
    older = dataclasses.replace(table, spec={**table.spec, "indexes": old_indexes})
    gateway = TableGateway(ClientFactory(region=REGION), context, "demo-prod")
    gateway.create(older)
    boto3.client("dynamodb").put_item(
        TableName=table.name, Item={"pk": {"S": "JOB#a"}, "sk": {"S": "RUN#1"}}
    )
    deployed = gateway.read(table.name)
    assert deployed is not None and set(deployed.spec["indexes"]) == {"by_job", "by_status"}
    gateway.update(deployed, table)
    rebuilt = gateway.read(table.name)
    assert rebuilt is not None and rebuilt.spec["indexes"] == table.spec["indexes"]
    assert boto3.client("dynamodb").scan(TableName=table.name)["Count"] == 1, "history kept"
    # A changed index key is still refused: by plan, before any write, not by the gateway.
    changed = dataclasses.replace(
        table, spec={**table.spec, "indexes": {**table.spec["indexes"], "by_run": ["job"]}}
    )
    calls = Calls()
    gateways = build_gateways(ClientFactory(region=REGION, hooks=[calls]), context, "demo", "prod")
    with pytest.raises(ConflictError, match=r"index by_run key \[run_id\] -> \[job\]"):
        compute_plan([changed], gateways, "demo", "prod", context)
    assert calls.seen and calls.mutating() == []
    assert gateway.read(table.name) == rebuilt


@pytest.mark.parametrize("changed", ["key", "index key"])
def test_a_changed_table_key_or_index_is_refused_at_plan_time(
    aws: None, registry_file: Path, capsys: pytest.CaptureFixture[str], changed: str
) -> None:
    """A history table deployed with another key (or index key) than this jobctl's: the plan
    is a conflict that names the table, the change and what to do; nothing is written."""
    context = AwsContext("123456789012", REGION, "aws")
    table = next(
        r
        for r in shared_resources("demo", "prod", context.placeholders())
        if r.kind is ResourceKind.TABLE
    )
    index, parts = sorted(table.spec["indexes"].items())[0]
    if changed == "key":
        spec = {**table.spec, "key": [table.spec["key"][0], "other"]}
        change = f"key [{', '.join(spec['key'])}] -> [{', '.join(table.spec['key'])}]"
    else:
        spec = {**table.spec, "indexes": {**table.spec["indexes"], index: ["other"]}}
        change = f"index {index} key [other] -> [{', '.join(parts)}]"
    gateway = TableGateway(ClientFactory(region=REGION), context, "demo-prod")
    gateway.create(dataclasses.replace(table, spec=spec))
    deployed = gateway.read(table.name)

    calls = Calls()
    service = DeployService(ClientFactory(hooks=[calls]), load_registry(registry_file), "prod")
    with pytest.raises(ConflictError) as refused:
        service.plan()
    message = str(refused.value)
    assert message.startswith(f"{table.label} cannot change in place: {change}. ")
    assert "jobctl never replaces the history table" in message and "\n" not in message
    assert calls.seen and calls.mutating() == []

    capsys.readouterr()
    assert main(["apply", "-f", str(registry_file), "--env", "prod", "--yes"]) == 1
    assert capsys.readouterr().err.splitlines() == ["jobctl: conflict:", message]
    # Nothing of the plan was applied: not the table, nor any of the 15 resources beside it.
    assert gateway.read(table.name) == deployed
    assert boto3.client("stepfunctions").list_state_machines()["stateMachines"] == []
    assert boto3.client("iam").list_roles(PathPrefix="/jobctl/")["Roles"] == []


# --- the cheap plan (issue 17): reads per job, what it finds, what only --refresh finds --------

TOKYO_LIKE = "  {job}:\n    schedule: cron(0 9 * * ? *)\n    timezone: Asia/Tokyo\n"


def no_op_reads(path: Path, *, refresh: bool) -> int:
    """Every call of a fresh no-op plan (all reads: asserted), as `jobctl plan` makes it."""
    calls = Calls()
    plan = DeployService(ClientFactory(hooks=[calls]), load_registry(path), "prod").plan(
        prune=True, refresh=refresh
    )
    assert (plan.actions, plan.held_back) == ([], [])
    assert calls.mutating() == []
    return len(calls.seen)


def test_a_no_op_plan_reads_at_most_two_calls_per_job(aws: None, tmp_path: Path) -> None:
    """A second project with 9 more jobs than the first, each a time-zone schedule (the
    dearest kind: its state machine and its schedule are read one by one; roles, tags,
    rules and META items come in batches): its no-op plan makes at most 2 more reads per
    job. `--refresh` reads every resource in full."""
    small, wide = tmp_path / "small.yaml", tmp_path / "wide.yaml"
    small.write_text(BASE + JOBS)
    extra = "".join(TOKYO_LIKE.format(job=f"tz-{i}") for i in range(9))
    wide.write_text(BASE.replace("project: demo", "project: wide") + JOBS + extra)
    for path in (small, wide):
        deploy(path)
    cheap = no_op_reads(wide, refresh=False) - no_op_reads(small, refresh=False)
    assert cheap <= 2 * 9
    # In full: role (4), state machine (2), schedule (1) and META item (1) of each job.
    full = no_op_reads(wide, refresh=True) - no_op_reads(small, refresh=True)
    assert full >= 8 * 9


def _sfn_arn(name: str) -> str:
    return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}"


def _rule_tags(events: Any, name: str) -> dict[str, str]:
    arn = events.describe_rule(Name=name)["Arn"]
    return {t["Key"]: t["Value"] for t in events.list_tags_for_resource(ResourceARN=arn)["Tags"]}


def test_drift_made_by_hand_is_found_by_the_cheap_plan_and_fixed(
    aws: None, registry_file: Path
) -> None:
    """What the README says the cheap plan finds: state machines (definition, tags), a
    rule's schedule, state and tags, a rule whose hash tag is missing (an older jobctl's) or
    stale (then its targets too), schedules, META items (role drift: the test above)."""
    text = registry_file.read_text()
    registry_file.write_text(
        text + "  old:\n    schedule: rate(7 minutes)\n  stale:\n    schedule: rate(9 minutes)\n"
    )
    deploy(registry_file)
    sfn, events = boto3.client("stepfunctions"), boto3.client("events")
    scheduler, dynamodb = boto3.client("scheduler"), boto3.client("dynamodb")
    report = _sfn_arn("demo-prod-report")
    definition = json.loads(sfn.describe_state_machine(stateMachineArn=report)["definition"])
    sfn.update_state_machine(
        stateMachineArn=report, definition=json.dumps({**definition, "Comment": "by hand"})
    )
    sfn.untag_resource(resourceArn=_sfn_arn("demo-prod-tokyo"), tagKeys=["jobctl:job"])
    events.disable_rule(Name="demo-prod-sync")
    old_arn = events.describe_rule(Name="demo-prod-old")["Arn"]
    events.untag_resource(ResourceARN=old_arn, TagKeys=[SPEC_HASH_TAG])
    [target] = events.list_targets_by_rule(Rule="demo-prod-stale")["Targets"]
    events.put_targets(Rule="demo-prod-stale", Targets=[{**target, "Input": "{}"}])
    stale_arn = events.describe_rule(Name="demo-prod-stale")["Arn"]
    events.tag_resource(ResourceARN=stale_arn, Tags=[{"Key": SPEC_HASH_TAG, "Value": "0"}])
    schedule = scheduler.get_schedule(Name="demo-prod-tokyo", GroupName="demo-prod")
    scheduler.update_schedule(
        **{k: schedule[k] for k in ("Name", "GroupName", "FlexibleTimeWindow", "Target")},
        ScheduleExpression="cron(0 10 * * ? *)",
        ScheduleExpressionTimezone="Asia/Tokyo",
        State=schedule["State"],
        Description=schedule["Description"],
    )
    dynamodb.update_item(
        TableName="demo-prod-history",
        Key={"pk": {"S": "JOB#sync"}, "sk": {"S": "META"}},
        UpdateExpression="SET config = :c",
        ExpressionAttributeValues={":c": {"S": "{}"}},
    )

    plan = DeployService(ClientFactory(), load_registry(registry_file), "prod").plan()
    found = {(a.resource.kind, a.resource.name): {c.path for c in a.changes} for a in plan.actions}
    meta = found.pop((ResourceKind.JOB_META, "sync"))
    assert meta and all(path.startswith("config.") for path in meta)
    assert found == {
        (ResourceKind.STATE_MACHINE, "demo-prod-report"): {"definition.Comment"},
        (ResourceKind.STATE_MACHINE, "demo-prod-tokyo"): {"tags.jobctl:job"},
        (ResourceKind.RULE, "demo-prod-old"): {f"tags.{SPEC_HASH_TAG}"},
        (ResourceKind.RULE, "demo-prod-stale"): {"Targets[0].Input", f"tags.{SPEC_HASH_TAG}"},
        (ResourceKind.SCHEDULE, "demo-prod-tokyo"): {"ScheduleExpression"},
        (ResourceKind.RULE, "demo-prod-sync"): {"State"},
    }
    assert {a.verb for a in plan.actions} == {"update"}

    done, _ = deploy(registry_file)
    assert len(done) == len(plan.actions)
    assert _rule_tags(events, "demo-prod-old")[SPEC_HASH_TAG] != "0"
    assert deploy(registry_file)[0] == []
    assert no_op_reads(registry_file, refresh=True) > no_op_reads(registry_file, refresh=False)


def test_targets_changed_by_hand_are_found_only_by_refresh(
    aws: None, registry_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The cheap plan's documented limit: ListRules does not return targets, and a rule's
    hash tag (still the desired spec's) vouches for them. `--refresh` reads them."""
    deploy(registry_file)
    events = boto3.client("events")
    [target] = events.list_targets_by_rule(Rule="demo-prod-sync")["Targets"]
    events.put_targets(Rule="demo-prod-sync", Targets=[{**target, "Input": '{"by": "hand"}'}])
    args = ["-f", str(registry_file), "--env", "prod"]

    capsys.readouterr()
    assert main(["plan", *args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["actions"] == []
    assert main(["plan", *args, "--json", "--refresh"]) == 0
    [action] = json.loads(capsys.readouterr().out)["actions"]
    assert "demo-prod-sync" in json.dumps(action) and "Input" in json.dumps(action)

    assert main(["apply", *args, "--yes"]) == 0  # the cheap plan: nothing to do
    assert "No changes." in capsys.readouterr().out
    assert main(["apply", *args, "--yes", "--refresh"]) == 0
    assert "Apply complete: 0 added, 1 changed, 0 destroyed." in capsys.readouterr().out
    assert events.list_targets_by_rule(Rule="demo-prod-sync")["Targets"] == [target]
    assert no_op_reads(registry_file, refresh=True) > 0
