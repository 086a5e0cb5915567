"""What the generated IAM policies allow, evaluated as AWS evaluates requests.

moto enforces no IAM, so a policy that never matches the request its state machine makes
passes every functional test and is denied on every run in AWS. Each test here builds the
exact request AWS authorizes (action, resource ARN, request context, as the Service
Authorization Reference defines them for that action) and asks an IAM evaluator jobctl
does not write (`tests.support.iam_eval`: principalmapper) whether the policy allows it,
and that its neighbours (another job's task definition, another cluster, a state machine,
rule or schedule group outside the environment's `<project>-<env>-*`, another account or
region) are denied. What the patterns would reach inside that prefix (an environment whose
name extends this one's) is refused by `jobctl validate`, tested here too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib.aws.clients import AwsContext
from chalicelib.core.arns import fill_placeholders
from jobctl.compile.iam import (
    execution_policy,
    execution_trust_policy,
    trigger_policy,
    trigger_trust_policy,
)
from jobctl.deploy.desired import TaskDefinitionInfo, desired_resources
from jobctl.deploy.lambda_policies import function_policy
from jobctl.deploy.resources import ResourceKind
from jobctl.registry.diagnostics import RegistryError
from jobctl.registry.loader import load_registry, parse_registry
from jobctl.registry.models import ResolvedJob
from tests.support.iam_eval import allows, trusts
from tests.support.registries import BASE

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
REGION = "ap-northeast-1"
VALUES = {
    "Partition": "aws",
    "Region": REGION,
    "AccountId": ACCOUNT,
    "TaskRoleArn": f"arn:aws:iam::{ACCOUNT}:role/app-task",
    "TaskExecutionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/app-task-execution",
}
ECS = f"arn:aws:ecs:{REGION}:{ACCOUNT}"
CLUSTER = f"{ECS}:cluster/app"
CONTEXT = AwsContext(ACCOUNT, REGION, "aws")
TASK = TaskDefinitionInfo(VALUES["TaskRoleArn"], VALUES["TaskExecutionRoleArn"])


def _job(task_definition: str) -> ResolvedJob:
    text = BASE + (
        "jobs:\n"
        "  nightly:\n"
        "    schedule: cron(0 3 * * ? *)\n"
        f"    task_definition: '{task_definition}'\n"
    )
    return next(iter(parse_registry(text).jobs_for(None)))


def _policy(job: ResolvedJob) -> dict[str, Any]:
    return fill_placeholders(execution_policy(job), VALUES)  # type: ignore[no-any-return]


def _run_task(policy: dict[str, Any], task_definition_arn: str, cluster: str = CLUSTER) -> bool:
    # ecs:RunTask is authorized on the task definition it resolves to, always with its
    # revision (`task-definition/<family>:<revision>`, as DescribeTaskDefinition names it),
    # whatever form the request named it in, with `ecs:cluster` in the request context.
    return allows(policy, "ecs:RunTask", task_definition_arn, **{"ecs:cluster": cluster})


@pytest.mark.parametrize(
    "given, runs, denied",
    [
        # A family: RunTask uses its latest ACTIVE revision, whichever it is.
        (
            "app-batch",
            [f"{ECS}:task-definition/app-batch:1", f"{ECS}:task-definition/app-batch:42"],
            [f"{ECS}:task-definition/app-batch-x:1", f"{ECS}:task-definition/other:1"],
        ),
        (
            "app-batch:3",
            [f"{ECS}:task-definition/app-batch:3"],
            [f"{ECS}:task-definition/app-batch:4"],
        ),
        # A family ARN: any revision of that family, in that account and region only.
        (
            f"{ECS}:task-definition/app-batch",
            [f"{ECS}:task-definition/app-batch:7"],
            [
                f"{ECS}:task-definition/app-batch-x:7",
                f"arn:aws:ecs:{REGION}:210987654321:task-definition/app-batch:7",
            ],
        ),
        # A revision ARN: exactly that revision (this was `app-batch:1:*`, which never matches).
        (
            f"{ECS}:task-definition/app-batch:1",
            [f"{ECS}:task-definition/app-batch:1"],
            [f"{ECS}:task-definition/app-batch:10", f"{ECS}:task-definition/app-batch:2"],
        ),
    ],
    ids=["family", "family-revision", "family-arn", "revision-arn"],
)
def test_run_task_is_allowed_for_the_task_definition_the_state_machine_sends(
    given: str, runs: list[str], denied: list[str]
) -> None:
    policy = _policy(_job(given))
    for resource in runs:
        assert _run_task(policy, resource), f"{given}: RunTask on {resource} denied"
        assert not _run_task(policy, resource, f"{ECS}:cluster/other"), "another cluster"
    for resource in denied:
        assert not _run_task(policy, resource), f"{given}: RunTask on {resource} allowed"


def test_the_evaluator_denies_what_aws_denies() -> None:
    """Guards the checks above against an evaluator that allows everything: the policy the
    revision ARN used to get (`:1:*`) is denied for the request AWS makes."""
    broken = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "ecs:RunTask",
                "Resource": f"{ECS}:task-definition/app-batch:1:*",
                "Condition": {"ArnEquals": {"ecs:cluster": CLUSTER}},
            }
        ],
    }
    assert not _run_task(broken, f"{ECS}:task-definition/app-batch:1")


# --- Trust policies and starting state machines: only this environment's own -------------

REGISTRY = load_registry(ROOT / "jobs.yaml")
ENV = "production"
JOBS = REGISTRY.jobs_for(ENV)
RULE_JOB = next(job for job in JOBS if not job.uses_scheduler)
STATES = f"arn:aws:states:{REGION}:{ACCOUNT}"
OTHER_ACCOUNT = "210987654321"
# A job added to jobs.yaml after the roles and the Lambda policies were deployed: the
# `<project>-<env>-*` patterns reach it without any IAM change.
NEW_JOB = "added-later"
# Names outside `<project>-<env>-*`, which no policy of this environment may reach: an
# environment merely sharing the prefix (`x`), a hand-made state machine named around the
# prefix, the project without the environment.
OUTSIDE = [
    f"coin-{ENV}x-{RULE_JOB.name}",
    f"handmade-coin-{ENV}-{RULE_JOB.name}",
    f"coin-{RULE_JOB.name}",
]
# Names inside the pattern that are not this job's: an environment whose name extends this
# one's (which validate refuses, see below) and a state machine made by hand with the
# environment's prefix. Only a job's own role (trusted for its exact state machine) and the
# history recorder (exact ARN) tell them apart.
INSIDE = [f"coin-{ENV}-eu-{RULE_JOB.name}", f"coin-{ENV}-handmade"]


def _filled(policy: dict[str, Any]) -> dict[str, Any]:
    return fill_placeholders(policy, VALUES)  # type: ignore[no-any-return]


def test_a_job_role_trusts_step_functions_only_for_its_own_state_machine() -> None:
    job = RULE_JOB
    trust = _filled(execution_trust_policy(job))
    own = f"{STATES}:stateMachine:coin-{ENV}-{job.name}"
    assert trusts(trust, "states.amazonaws.com", ACCOUNT, **_source(own))
    other_job = next(j for j in JOBS if j.name != job.name)
    for machine in [f"coin-{ENV}-{other_job.name}", *INSIDE, *OUTSIDE]:
        source = _source(f"{STATES}:stateMachine:{machine}")
        assert not trusts(trust, "states.amazonaws.com", ACCOUNT, **source), machine
    elsewhere = _source(own.replace(ACCOUNT, OTHER_ACCOUNT), OTHER_ACCOUNT)
    assert not trusts(trust, "states.amazonaws.com", ACCOUNT, **elsewhere)
    assert not trusts(trust, "events.amazonaws.com", ACCOUNT, **_source(own))


def _source(arn: str, account: str = ACCOUNT) -> dict[str, str]:
    # What AWS puts in the request context when a service assumes a role on a resource's
    # behalf (IAM global condition keys aws:SourceArn, aws:SourceAccount).
    return {"aws:SourceArn": arn, "aws:SourceAccount": account}


def test_the_trigger_role_trusts_only_this_environments_rules_and_schedule_group() -> None:
    trust = _filled(trigger_trust_policy("coin", ENV))
    events = f"arn:aws:events:{REGION}:{ACCOUNT}:rule"
    rule_jobs = [job.name for job in JOBS if not job.uses_scheduler]
    for job in [*rule_jobs, NEW_JOB]:
        source = _source(f"{events}/coin-{ENV}-{job}")
        assert trusts(trust, "events.amazonaws.com", ACCOUNT, **source), job
    for name in OUTSIDE:
        assert not trusts(trust, "events.amazonaws.com", ACCOUNT, **_source(f"{events}/{name}"))
    own_rule = f"{events}/coin-{ENV}-{RULE_JOB.name}"
    for elsewhere in (
        _source(own_rule.replace(ACCOUNT, OTHER_ACCOUNT), OTHER_ACCOUNT),
        _source(own_rule, OTHER_ACCOUNT),
        _source(own_rule.replace(REGION, "us-east-1")),
    ):
        assert not trusts(trust, "events.amazonaws.com", ACCOUNT, **elsewhere), elsewhere
    groups = f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule-group"
    assert trusts(trust, "scheduler.amazonaws.com", ACCOUNT, **_source(f"{groups}/coin-{ENV}"))
    for group in [f"coin-{ENV}-eu", f"coin-{ENV}x", "default"]:
        source = _source(f"{groups}/{group}")
        assert not trusts(trust, "scheduler.amazonaws.com", ACCOUNT, **source), group
    other_region = _source(f"{groups}/coin-{ENV}".replace(REGION, "us-east-1"))
    assert not trusts(trust, "scheduler.amazonaws.com", ACCOUNT, **other_region)
    other_account = _source(f"{groups}/coin-{ENV}", OTHER_ACCOUNT)
    assert not trusts(trust, "scheduler.amazonaws.com", ACCOUNT, **other_account)
    # A rule is not a schedule group, nor the other way round.
    assert not trusts(trust, "scheduler.amazonaws.com", ACCOUNT, **_source(own_rule))


def test_the_trigger_role_starts_only_this_environments_state_machines() -> None:
    policy = _filled(trigger_policy("coin", ENV))
    for job in [*(job.name for job in JOBS), NEW_JOB]:
        machine = f"{STATES}:stateMachine:coin-{ENV}-{job}"
        assert allows(policy, "states:StartExecution", machine), job
    for name in OUTSIDE:
        assert not allows(policy, "states:StartExecution", f"{STATES}:stateMachine:{name}"), name
    own = f"{STATES}:stateMachine:coin-{ENV}-{RULE_JOB.name}"
    for elsewhere in (own.replace(ACCOUNT, OTHER_ACCOUNT), own.replace(REGION, "us-east-1")):
        assert not allows(policy, "states:StartExecution", elsewhere), elsewhere


@pytest.mark.parametrize("function", ["api_handler", "reconcile_history"])
def test_lambda_functions_reach_only_this_environments_state_machines(function: str) -> None:
    policy = function_policy("coin", ENV, function, account=ACCOUNT, region=REGION)
    action, resource = {
        "api_handler": ("states:StartExecution", "{states}:stateMachine:{machine}"),
        "reconcile_history": ("states:DescribeExecution", "{states}:execution:{machine}:run-1"),
    }[function]
    for job in [RULE_JOB.name, NEW_JOB]:
        machine = f"coin-{ENV}-{job}"
        assert allows(policy, action, resource.format(states=STATES, machine=machine)), job
    for name in OUTSIDE:
        assert not allows(policy, action, resource.format(states=STATES, machine=name)), name
    machine = f"coin-{ENV}-{RULE_JOB.name}"
    other_account = STATES.replace(ACCOUNT, OTHER_ACCOUNT)
    assert not allows(policy, action, resource.format(states=other_account, machine=machine))
    other_region = STATES.replace(REGION, "us-east-1")
    assert not allows(policy, action, resource.format(states=other_region, machine=machine))


def test_the_patterns_reach_an_extending_environment_so_validate_refuses_one() -> None:
    """`coin-production-*` matches `coin-production-eu-<job>` (the evaluator says so, for
    every policy scoped by the pattern): a registry with `production` and `production-eu`
    is refused at validate, so no deployed environment has such a neighbour."""
    machine = f"{STATES}:stateMachine:{INSIDE[0]}"
    assert allows(_filled(trigger_policy("coin", ENV)), "states:StartExecution", machine)
    rule = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{INSIDE[0]}"
    trust = _filled(trigger_trust_policy("coin", ENV))
    assert trusts(trust, "events.amazonaws.com", ACCOUNT, **_source(rule))

    text = BASE.replace("project: demo", "project: coin") + (
        "environments:\n"
        "  production: {}\n"
        "  production-eu: {}\n"
        "jobs:\n"
        f"  {RULE_JOB.name}:\n"
        "    schedule: cron(0 3 * * ? *)\n"
    )
    with pytest.raises(RegistryError) as refused:
        parse_registry(text)
    [problem] = [d.render() for d in refused.value.diagnostics]
    assert problem.startswith("jobs.yaml:11:3: environments.production-eu: ")
    assert "'coin-production-*'" in problem and "e.g. 'eu-production'" in problem
    # Renamed as suggested, the environments' patterns are disjoint and it validates.
    renamed = parse_registry(text.replace("production-eu:", "eu-production:"))
    assert renamed.targets == ("production", "eu-production")


def test_the_trigger_role_does_not_grow_with_the_environments_jobs() -> None:
    """The trust policy was capped by IAM's 2,048 characters (about 20 UTC jobs) while it
    listed each rule; by pattern it is the same document for 1 job or 500."""

    def trigger_role(jobs: int) -> dict[str, Any]:
        text = (
            BASE
            + "environments:\n  prod: {}\njobs:\n"
            + "".join(
                f"  job-number-{i:03d}:\n    schedule: cron({i % 60} 3 * * ? *)\n"
                for i in range(jobs)
            )
        )
        [role] = [
            r
            for r in desired_resources(parse_registry(text), "prod", CONTEXT, lambda _: TASK)
            if r.kind is ResourceKind.TRIGGER_ROLE
        ]
        return role.spec

    assert trigger_role(1) == trigger_role(500)
    assert len(json.dumps(trigger_role(500)["trust"], separators=(",", ":"))) < 2048


def _compiled_jobs() -> list[ResolvedJob]:
    variety = load_registry(ROOT / "tests" / "data" / "variety.yaml")
    jobs = [job for env in REGISTRY.targets for job in REGISTRY.jobs_for(env)]
    return jobs + [job for env in variety.targets for job in variety.jobs_for(env)]


def _resolved_task_definition(job: ResolvedJob) -> str:
    """The ARN RunTask is authorized on: the revision the job names, or (a family) the
    latest ACTIVE one, here revision 12."""
    name = job.task_definition.rpartition("task-definition/")[2]
    family, _, revision = name.partition(":")
    base = job.task_definition.rpartition("task-definition/")[0] or f"{ECS}:"
    return f"{base}task-definition/{family}:{revision or '12'}"


@pytest.mark.parametrize(
    "job", _compiled_jobs(), ids=lambda job: f"{job.project}-{job.env}-{job.name}"
)
def test_every_job_role_allows_the_requests_its_state_machine_makes(job: ResolvedJob) -> None:
    """The calls of the compiled state machine's states, as IAM sees them: RunTask (.sync)
    with its cluster, watching and stopping the task, the managed rule .sync needs, passing
    the task's roles to ECS, the job's own history items, the alert topic."""
    policy = _policy(job)
    cluster = f"{ECS}:cluster/{job.cluster}"
    task_definition = _resolved_task_definition(job)
    assert allows(policy, "ecs:RunTask", task_definition, **{"ecs:cluster": cluster})
    assert not allows(policy, "ecs:RunTask", task_definition, **{"ecs:cluster": f"{cluster}x"})
    task = f"{ECS}:task/{job.cluster}/0123456789abcdef"
    for action in ("ecs:DescribeTasks", "ecs:StopTask"):
        assert allows(policy, action, task, **{"ecs:cluster": cluster}), action
    rule = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/StepFunctionsGetEventsForECSTaskRule"
    for action in ("events:PutTargets", "events:PutRule", "events:DescribeRule"):
        assert allows(policy, action, rule), action
    for role in (VALUES["TaskRoleArn"], VALUES["TaskExecutionRoleArn"]):
        ecs_tasks = {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
        assert allows(policy, "iam:PassRole", role, **ecs_tasks)
        assert not allows(
            policy, "iam:PassRole", role, **{"iam:PassedToService": "ec2.amazonaws.com"}
        )
    prefix = f"{job.project}-{job.env}" if job.env else job.project
    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{prefix}-history"
    own, other = {"dynamodb:LeadingKeys": [f"JOB#{job.name}"]}, {"dynamodb:LeadingKeys": ["JOB#x"]}
    for action in ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"):
        assert allows(policy, action, table, **own) and not allows(policy, action, table, **other)
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:{prefix}-alerts"
    # Only a machine that publishes an alert may publish (`alerts: {events: []}`: never).
    publishes = bool(set(job.alerts.events) & {"failure", "recovery"})
    assert allows(policy, "sns:Publish", topic) is publishes
