"""The Lambda functions' IAM policies (.chalice/): current, least privilege, one per function."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from parliament import analyze_policy_string

import app as lambda_app
from jobctl.deploy.lambda_policies import FUNCTIONS, function_policy, policy_files
from jobctl.registry.loader import load_registry, parse_registry

ROOT = Path(__file__).resolve().parents[2]
CHALICE = ROOT / ".chalice"


REGISTRY = load_registry(ROOT / "jobs.yaml")


def expected_files() -> dict[str, str]:
    return policy_files(REGISTRY)


def test_committed_policies_are_current() -> None:
    committed = {path.name: path.read_text() for path in CHALICE.glob("policy-*.json")}
    assert committed == expected_files(), (
        "run `python -m jobctl.deploy.lambda_policies` and commit .chalice/"
    )


def test_a_new_job_needs_no_new_policy() -> None:
    """The policies name the environment's state machines by `<project>-<env>-*`: a job added
    to jobs.yaml can be run from the API once applied, without regenerating the policies or
    redeploying the Lambda functions."""
    text = (ROOT / "jobs.yaml").read_text()
    added = text.replace(
        "\njobs:\n",
        "\njobs:\n  added-later:\n    schedule: rate(1 hour)\n    command: [bin/x]\n",
        1,
    )
    assert added != text
    assert policy_files(parse_registry(added)) == expected_files()


def test_every_function_of_the_app_has_its_own_policy_in_every_stage() -> None:
    functions = {"api_handler"} | {source.name for source in lambda_app.app.event_sources}
    assert functions == set(FUNCTIONS)
    config = json.loads((CHALICE / "config.json").read_text())
    assert config["autogen_policy"] is False
    for stage, settings in config["stages"].items():
        assigned = {
            name: entry["iam_policy_file"] for name, entry in settings["lambda_functions"].items()
        }
        assert assigned == {name: f"policy-{stage}-{name}.json" for name in FUNCTIONS}


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_policies_pass_parliament_and_name_no_wildcard_action(function: str) -> None:
    policy = function_policy("coin", "production", function)
    findings = [
        finding
        for finding in analyze_policy_string(json.dumps(policy)).findings
        if not _known_false_positive(finding)
    ]
    assert findings == [], [str(finding) for finding in findings]
    for statement in policy["Statement"]:
        assert all("*" not in action for action in statement["Action"])
        # This environment's resources, or the function's own log group (named by Chalice).
        mine = ("coin-production", "/aws/lambda/jobctl-production-")
        assert all(any(m in resource for m in mine) for resource in statement["Resource"])


def test_only_the_api_may_start_runs_and_only_the_watchdog_publishes() -> None:
    def actions(function: str) -> set[str]:
        policy = function_policy("coin", "production", function)
        return {action for statement in policy["Statement"] for action in statement["Action"]}

    starters = {name for name in FUNCTIONS if "states:StartExecution" in actions(name)}
    publishers = {name for name in FUNCTIONS if "sns:Publish" in actions(name)}
    assert (starters, publishers) == ({"api_handler"}, {"watch_missed_runs"})


def _known_false_positive(finding: object) -> bool:
    """parliament 1.6.4's IAM data lists only Express executions for DescribeExecution;
    IAM accepts `execution:<state machine>:<id>` (Standard) too. Nothing else is excused."""
    detail = getattr(finding, "detail", None)
    return getattr(finding, "issue", "") == "RESOURCE_MISMATCH" and detail == [
        {"action": "states:DescribeExecution", "required_format": "arn:*:states:*:*:express:*:*:*"}
    ]


def test_the_excused_finding_is_only_that_one() -> None:
    policy = function_policy("coin", "production", "reconcile_history")
    policy["Statement"].append(
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:sqs:*:*:q"]}
    )
    findings = analyze_policy_string(json.dumps(policy)).findings
    assert [f.issue for f in findings if not _known_false_positive(f)] == ["RESOURCE_MISMATCH"]
