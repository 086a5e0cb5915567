"""Literals stay literal: every string jobs.yaml gives the RunTask request reaches ECS as written.

Step Functions evaluates any string field shaped `{% ... %}` as JSONata, and deploy fills
`${Name}` placeholders; neither may touch a value the user wrote. Each example compiles a job
whose every literal field holds an arbitrary string, deploys it as deploy does
(`fill_placeholders`), runs it on moto and compares the RunTask request moto received
(`ecs_double.requests`, boto-shaped) with the job. Control characters are left out: the
registry refuses them (AWS does too). So are characters outside the BMP, for a moto defect:
its definition parser decodes a JSON surrogate-pair escape (`\\ud83c\\udf89`, what
`json.dumps` writes for one such character) into two lone surrogates; AWS decodes JSON.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.core.arns import fill_placeholders
from jobctl.compile.compiler import compile_job
from jobctl.local.moto import ecs_double
from jobctl.registry.loader import parse_registry
from jobctl.registry.models import CapacityProvider, Network, Parameter, ResolvedJob
from tests.e2e.conftest import ACCOUNT, REGION, Platform

HOSTILE = [
    "{% $states.context.Execution.Input %}",
    "{% if x %}",
    "{%%}",
    "{% 'a' & \"b\" %}",
    "$states.input",
    "'\"\\",
    "\\u0024{Region}",
    "${Region}",
    "echo ${HOME}",
    "  two  spaces  ",
    "é\u2028\u00a0\ufeffx",
    "%}",
]
PLAIN = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), max_codepoint=0xFFFF), min_size=1, max_size=20
)
TEXT = st.one_of(
    st.sampled_from(HOSTILE),
    PLAIN,
    st.builds(lambda inner: "{% " + inner + " %}", PLAIN),
)
_names = itertools.count()


def _expected_environment(job: ResolvedJob, given: dict[str, str]) -> dict[str, str]:
    values = {name: p.default for name, p in job.parameters.items() if p.default is not None}
    return {**job.environment, **values, **given}


def _job(base: ResolvedJob, texts: list[str], with_parameters: bool) -> ResolvedJob:
    cluster, subnet, group, platform_version, provider, arg, env, default = texts
    update: dict[str, Any] = {
        "cluster": cluster,
        "network": Network(subnets=[subnet, "subnet-1"], security_groups=[group]),
        "platform_version": platform_version,
        "capacity_provider_strategy": (CapacityProvider(capacity_provider=provider),),
        "command": ("bin/run", arg),
        "environment": {"STATIC": env},
        "parameters": {"DAY": Parameter(default=default), "FREE": Parameter()}
        if with_parameters
        else {},
    }
    return base.model_copy(update=update)


def _run(platform: Platform, job: ResolvedJob, given: dict[str, str]) -> dict[str, Any]:
    """Deploy `job` under a fresh state machine name, run it, return the RunTask request."""
    compiled = compile_job(job)
    definition = fill_placeholders(
        compiled.definition, {"Partition": "aws", "Region": REGION, "AccountId": ACCOUNT}
    )
    number = next(_names)
    arn = platform.sfn.create_state_machine(
        name=f"e2e-literal-{number}",
        definition=json.dumps(definition),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/literal",
    )["stateMachineArn"]
    before = len(ecs_double.requests)
    execution = platform.sfn.start_execution(
        stateMachineArn=arn,
        name=f"literal-{number}",
        input=json.dumps({"trigger": "manual", "parameters": given}),
    )["executionArn"]
    platform.executions.append(execution)
    platform.wait(execution)
    requests = ecs_double.requests[before:]
    assert requests, "RunTask was never called: " + str(platform.events(execution)[-1])
    return requests[0]


def test_every_literal_reaches_run_task_unchanged(platform: Platform) -> None:
    base = parse_registry(platform.registry_text).job(None, "ok")
    assert base is not None

    @settings(
        max_examples=12,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(texts=st.lists(TEXT, min_size=8, max_size=8), with_parameters=st.booleans(), free=TEXT)
    def check(texts: list[str], with_parameters: bool, free: str) -> None:
        job = _job(base, texts, with_parameters)
        given = {"FREE": free} if with_parameters else {}
        request = _run(platform, job, given)
        (container,) = request["overrides"]["containerOverrides"]
        assert request["cluster"] == job.cluster
        assert request["platformVersion"] == job.platform_version
        assert request["capacityProviderStrategy"] == [
            {"capacityProvider": texts[4], "weight": 1, "base": 0}
        ]
        assert request["networkConfiguration"]["awsvpcConfiguration"] == {
            "subnets": [texts[1], "subnet-1"],
            "securityGroups": [texts[2]],
            "assignPublicIp": "DISABLED",
        }
        assert container["command"] == ["bin/run", texts[5]]
        environment = {e["name"]: e["value"] for e in container["environment"]}
        assert environment == _expected_environment(job, given)

    check()
