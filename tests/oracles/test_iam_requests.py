"""Oracle 1: IAM, request by request, for every state machine the test registries compile.

moto enforces no IAM. Here every Task state of every deployed machine (tests.support.
oracle_registries: the example, variety, e2e and base registries, each environment) is
walked by tests.support.asl_requests, each request it makes is turned into the IAM
requests AWS evaluates (tests.support.iam_requests: action, resource ARN, condition keys,
and the `.sync` polling and managed-rule calls), and the execution role's policy is
evaluated with principalmapper's local policy simulation (tests.support.iam_eval), an
evaluator jobctl does not write. Every request is allowed; the same request on a neighbour
(another job's items, another environment's table, topic or state machine, another task
definition or cluster, another role) is denied; every statement of the policy is needed by
some request (dropping it denies one: the planted violation that shows the check can fail).
The trigger role is checked the same way against each rule's and schedule's target.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from jobctl.deploy.resources import ResourceKind
from tests.support.asl_requests import task_states
from tests.support.iam_eval import allows, trusts
from tests.support.iam_requests import IamRequest, authorizations
from tests.support.oracle_registries import (
    TASK_EXECUTION_ROLE,
    TASK_ROLE,
    Deployment,
    deployment_ids,
    deployments,
    resolved_machine_arn,
    task_requests,
)

DEPLOYMENTS = {deployment.id: deployment for deployment in deployments()}


def _requests(deployment: Deployment, job: str) -> list[IamRequest]:
    found: dict[str, IamRequest] = {}
    for request in task_requests(deployment.id, job):
        for iam in authorizations(request, deployment.context, [TASK_ROLE, TASK_EXECUTION_ROLE]):
            found.setdefault(iam.describe(), iam)
    return list(found.values())


# What Step Functions itself asks with the execution role, outside any Task state: log
# delivery when the machine logs, trace segments when it traces (AWS documents both as
# the role's: "IAM policies for logging to CloudWatch Logs", "X-Ray ... IAM policies";
# neither supports resource-level permissions).
LOG_DELIVERY = (
    "logs:CreateLogDelivery", "logs:DeleteLogDelivery", "logs:DescribeLogGroups",
    "logs:DescribeResourcePolicies", "logs:GetLogDelivery", "logs:ListLogDeliveries",
    "logs:PutResourcePolicy", "logs:UpdateLogDelivery",
)  # fmt: skip
TRACING = (
    "xray:GetSamplingRules", "xray:GetSamplingTargets", "xray:PutTelemetryRecords",
    "xray:PutTraceSegments",
)  # fmt: skip


def _service_requests(deployment: Deployment, job: str) -> list[IamRequest]:
    spec = deployment.for_job(ResourceKind.STATE_MACHINE, job).spec
    logging = spec.get("logging") or {}
    actions = [*(LOG_DELIVERY if logging.get("level", "OFF") != "OFF" else ())]
    actions += [*(TRACING if spec.get("tracing") else ())]
    return [IamRequest(action, "*") for action in actions]


def _policy(deployment: Deployment, job: str) -> dict[str, Any]:
    return deployment.for_job(ResourceKind.JOB_ROLE, job).spec["policy"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("deployment_id", deployment_ids())
def test_the_walk_reaches_every_task_state(deployment_id: str) -> None:
    deployment = DEPLOYMENTS[deployment_id]
    for job in deployment.jobs():
        definition = deployment.for_job(ResourceKind.STATE_MACHINE, job.name).spec["definition"]
        reached = {request.state for request in task_requests(deployment_id, job.name)}
        assert set(task_states(definition)) == reached, job.name


@pytest.mark.parametrize("deployment_id", deployment_ids())
def test_the_execution_role_allows_every_request(deployment_id: str) -> None:
    deployment = DEPLOYMENTS[deployment_id]
    denied = [
        f"{job.name}: {request.describe()}"
        for job in deployment.jobs()
        for request in _requests(deployment, job.name)
        if not allows(
            _policy(deployment, job.name), request.action, request.resource, **request.context
        )
    ]
    assert denied == []


def _neighbours(request: IamRequest, other_job: str) -> list[IamRequest]:
    """The same request aimed at what is not the job's: each must be denied."""
    action, resource, context = request.action, request.resource, request.context
    found: list[IamRequest] = []
    if action.startswith("dynamodb:"):
        found.append(replace(request, context={"dynamodb:LeadingKeys": [f"JOB#{other_job}"]}))
        found.append(replace(request, context={"dynamodb:LeadingKeys": ["DEPLOY"]}))
        # (GetItem/PutItem/UpdateItem always carry their key, so `dynamodb:LeadingKeys` is
        # never absent: `ForAllValues:` would pass an absent key, which no granted action makes.)
        found.append(replace(request, resource=resource.replace("-history", "x-history")))
        found.append(replace(request, resource=resource.replace("table/", "table/other-")))
    elif action == "sns:Publish":
        found.append(replace(request, resource=resource + "x"))
    elif action == "states:StopExecution":
        machine, _, name = resource.rpartition(":")
        found.append(replace(request, resource=f"{machine}x:{name}"))
        found.append(
            replace(request, resource=resource.replace(":execution:", ":execution:other-"))
        )
    elif action == "ecs:RunTask":
        family = resource.rsplit("/", 1)[0]
        found.append(replace(request, resource=f"{family}/other-family:1"))
        found.append(replace(request, context={"ecs:cluster": context["ecs:cluster"] + "x"}))
        found.append(replace(request, context={}))
    elif action in ("ecs:DescribeTasks", "ecs:StopTask"):
        found.append(replace(request, context={"ecs:cluster": context["ecs:cluster"] + "x"}))
        found.append(replace(request, resource=resource.replace("task/", "task/otherx")))
    elif action == "iam:PassRole":
        found.append(replace(request, context={"iam:PassedToService": "ec2.amazonaws.com"}))
        found.append(replace(request, resource=resource + "-admin"))
    elif action.startswith("events:"):
        found.append(replace(request, resource=resource.replace("rule/", "rule/Other")))
    return found


@pytest.mark.parametrize("deployment_id", deployment_ids())
def test_the_execution_role_denies_the_same_requests_on_neighbours(deployment_id: str) -> None:
    deployment = DEPLOYMENTS[deployment_id]
    jobs = [job.name for job in deployment.jobs()]
    allowed = []
    for job in jobs:
        other = next((name for name in jobs if name != job), f"{job}-other")
        for request in _requests(deployment, job):
            for neighbour in _neighbours(request, other):
                if allows(
                    _policy(deployment, job),
                    neighbour.action,
                    neighbour.resource,
                    **neighbour.context,
                ):
                    allowed.append(f"{job}: {neighbour.describe()}")
    assert allowed == []


@pytest.mark.parametrize("deployment_id", deployment_ids())
def test_every_statement_is_needed_by_some_request(deployment_id: str) -> None:
    """Least privilege, and the planted violation: without any one statement, some request
    the machine makes is denied, so the allow check above can fail."""
    deployment = DEPLOYMENTS[deployment_id]
    for job in deployment.jobs():
        policy = _policy(deployment, job.name)
        requests = _requests(deployment, job.name) + _service_requests(deployment, job.name)
        for index, statement in enumerate(policy["Statement"]):
            fewer = {
                **policy,
                "Statement": policy["Statement"][:index] + policy["Statement"][index + 1 :],
            }
            denied = [r for r in requests if not allows(fewer, r.action, r.resource, **r.context)]
            assert denied, (
                f"{job.name}: statement {statement.get('Sid', index)} grants nothing used"
            )


def test_an_unmapped_integration_fails_the_oracle() -> None:
    from tests.support.asl_requests import TaskRequest
    from tests.support.iam_requests import Unmapped

    deployment = deployments()[0]
    request = TaskRequest("New", "arn:aws:states:::lambda:invoke", {"FunctionName": "f"})
    with pytest.raises(Unmapped):
        authorizations(request, deployment.context, [])


@pytest.mark.parametrize("deployment_id", deployment_ids())
def test_the_trigger_role_starts_exactly_its_jobs(deployment_id: str) -> None:
    deployment = DEPLOYMENTS[deployment_id]
    (role,) = deployment.of_kind(ResourceKind.TRIGGER_ROLE)
    policy, trust = role.spec["policy"], role.spec["trust"]
    c = deployment.context
    for trigger in deployment.of_kind(ResourceKind.RULE) + deployment.of_kind(
        ResourceKind.SCHEDULE
    ):
        machine = resolved_machine_arn(
            deployment, deployment.for_job(ResourceKind.STATE_MACHINE, trigger.job or "").name
        )
        if trigger.kind == ResourceKind.RULE:
            (target,) = trigger.spec["Targets"]
            service, source = (
                "events.amazonaws.com",
                (f"arn:aws:events:{c.region}:{c.account}:rule/{trigger.name}"),
            )
        else:
            target = trigger.spec["Target"]
            group = trigger.spec["GroupName"]
            # Scheduler assumes the role for the schedule's group (its documented SourceArn).
            service, source = (
                "scheduler.amazonaws.com",
                (f"arn:aws:scheduler:{c.region}:{c.account}:schedule-group/{group}"),
            )
        assert target["Arn"] in (machine, "arn:aws:scheduler:::aws-sdk:sfn:startExecution")
        assert target["RoleArn"].endswith(f"/{role.name}")
        assert allows(policy, "states:StartExecution", machine)
        context = {"aws:SourceAccount": c.account, "aws:SourceArn": source}
        assert trusts(trust, service, c.account, **context), trigger.name
        # neighbours: another environment's machine, another account, another rule/group
        other_env = machine.replace(
            f":stateMachine:{deployment.registry.project}", ":stateMachine:someone-else"
        )
        assert not allows(policy, "states:StartExecution", other_env)
        assert not allows(
            policy, "states:StartExecution", machine.replace(c.account, "999999999999")
        )
        assert not trusts(
            trust, service, c.account, **{**context, "aws:SourceAccount": "999999999999"}
        )
        # a rule outside `<project>-<env>-*` (the documented pattern), another schedule group
        outside = (
            source.replace(f"rule/{trigger.name}", f"rule/someone-else-{trigger.job}")
            if trigger.kind == ResourceKind.RULE
            else source + "x"
        )
        assert not trusts(trust, service, c.account, **{**context, "aws:SourceArn": outside})
