"""Compiled output: golden files, AWS validators, structural invariants, determinism."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from parliament import analyze_policy_string
from statelint.linter import Linter

from chalicelib.core.arns import fill_placeholders
from jobctl.compile.asl import render_json
from jobctl.compile.compiler import CompiledJob, compile_registry
from jobctl.compile.iam import trigger_policy, trigger_trust_policy
from jobctl.registry.loader import load_registry

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
UPDATE = os.environ.get("JOBCTL_UPDATE_GOLDEN") == "1"
DEPLOY_VALUES = {
    "Partition": "aws",
    "Region": "ap-northeast-1",
    "AccountId": "123456789012",
    "TaskRoleArn": "arn:aws:iam::123456789012:role/app-task",
    "TaskExecutionRoleArn": "arn:aws:iam::123456789012:role/app-task-execution",
}


def _compiled() -> list[CompiledJob]:
    example = compile_registry(load_registry(ROOT / "jobs.yaml"))
    variety = compile_registry(load_registry(ROOT / "tests" / "data" / "variety.yaml"))
    return example + variety


COMPILED = _compiled()
IDS = [f"{item.job.project}-{item.file_name}" for item in COMPILED]


@pytest.mark.parametrize("item", COMPILED, ids=IDS)
def test_compiled_output_matches_golden_file(item: CompiledJob) -> None:
    path = GOLDEN / f"{item.job.project}-{item.file_name.removesuffix('.asl.json')}.json"
    text = render_json(item.to_document())
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path.name}: run with JOBCTL_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"{path.name} differs from compiler output"


def test_no_orphan_golden_files() -> None:
    expected = {f"{i.job.project}-{i.file_name.removesuffix('.asl.json')}.json" for i in COMPILED}
    assert {p.name for p in GOLDEN.glob("*.json")} == expected


@pytest.mark.parametrize("item", COMPILED, ids=IDS)
def test_state_machine_passes_statelint(item: CompiledJob) -> None:
    problems = Linter.validate(item.definition_text())
    assert problems == []


def test_statelint_rejects_a_broken_machine() -> None:
    """Guards the check above against a linter that accepts everything."""
    assert Linter.validate(json.dumps({"StartAt": "A", "States": {"A": {"Type": "Task"}}}))


def _findings(policy: dict[str, Any]) -> list[str]:
    analyzed = analyze_policy_string(json.dumps(fill_placeholders(policy, DEPLOY_VALUES)))
    return [f"{finding.issue}: {finding.detail}" for finding in analyzed.findings]


@pytest.mark.parametrize("item", COMPILED, ids=IDS)
def test_iam_policies_pass_parliament(item: CompiledJob) -> None:
    assert _findings(item.policy) == []


def test_shared_trigger_policy_passes_parliament() -> None:
    assert _findings(trigger_policy("coin", "production")) == []


@pytest.mark.parametrize(
    "policy, services",
    [
        (COMPILED[0].trust_policy, ["states.amazonaws.com"]),
        (
            trigger_trust_policy("coin", "production"),
            ["events.amazonaws.com", "scheduler.amazonaws.com"],
        ),
    ],
)
def test_trust_policies_are_scoped_to_the_service_and_account(policy, services) -> None:
    # parliament audits identity policies only (a trust policy has no Resource by design),
    # so the confused-deputy guard is asserted here instead (and evaluated request by
    # request in test_iam_evaluation.py).
    statements = policy["Statement"]
    assert [s["Principal"]["Service"] for s in statements] == services
    for statement in statements:
        assert statement["Action"] == "sts:AssumeRole"
        # The source: exactly (a job's state machine, the schedule group), or the rules of
        # the environment by `ArnLike` `rule/<project>-<env>-*`.
        (operator,) = set(statement["Condition"]) - {"StringEquals"}
        assert operator in {"ArnEquals", "ArnLike"}
        assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": "${AccountId}"}
        assert set(statement["Condition"][operator]) == {"aws:SourceArn"}


def test_parliament_flags_a_bad_policy() -> None:
    bad = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "ecs:RunTsk", "Resource": "*"}],
    }
    assert _findings(bad)


def _next_targets(state: dict[str, Any]) -> list[str]:
    targets = [state.get("Next"), state.get("Default")]
    targets += [c.get("Next") for c in state.get("Choices", []) + state.get("Catch", [])]
    return [t for t in targets if t]


@pytest.mark.parametrize("item", COMPILED, ids=IDS)
def test_state_machine_structure(item: CompiledJob) -> None:
    states = item.definition["States"]
    job = item.job
    reachable = {item.definition["StartAt"]}
    frontier = [item.definition["StartAt"]]
    while frontier:
        for target in _next_targets(states[frontier.pop()]):
            assert target in states
            if target not in reachable:
                reachable.add(target)
                frontier.append(target)
    assert reachable == set(states), "every state is reachable"
    for name, state in states.items():
        if state["Type"] == "Task":
            assert state["Catch"], f"{name} has a Catch path"
    # The first attempt retries the job's own failures natively; ECS API errors and capacity
    # go to Classify, whose counted retries (RunTaskAgain, never natively retried) keep each
    # policy's MaxAttempts over the whole run. No Parallel wrapper: it cost transitions.
    run, again = states["RunTask"], states["RunTaskAgain"]
    for attempt in (run, again):
        assert attempt["Type"] == "Task"
        assert attempt["TimeoutSeconds"] == job.timeout
        assert attempt["Resource"] == "arn:aws:states:::ecs:runTask.sync"
        assert attempt["Arguments"] == run["Arguments"]
    assert "Retry" not in again
    assert run["Catch"][0]["Next"] == "Classify"
    assert "ECS.AmazonECSException" in run["Catch"][0]["ErrorEquals"]
    assert {c["Next"] for c in again["Catch"]} == {"Classify"}
    task = run.get("Retry", [])
    if job.retry.retries:
        (retrier,) = task
        assert retrier["ErrorEquals"][0] == "States.TaskFailed"
        assert ("States.Timeout" in retrier["ErrorEquals"]) == job.retry.on_timeout
        assert retrier["MaxAttempts"] == job.retry.retries
    else:
        assert task == []
    rules = states["Classify"]["Choices"]
    assert sum("$capacity_used =" in r["Condition"] for r in rules) == job.retry.capacity.retries
    assert sum("$job_used =" in r["Condition"] for r in rules) == job.retry.retries
    refused = [
        c for c in states["Claim"]["Catch"] if c["ErrorEquals"] == ["States.QueryEvaluationError"]
    ]
    late = "RecordSkip" if job.starting_deadline is not None else "RecordInvalid"
    assert [c["Next"] for c in refused] == [late]
    assert states["ClaimAgain"]["Catch"][0]["ErrorEquals"] != ["States.QueryEvaluationError"]
    assert ("StopHolder" in states) == (job.concurrency == "replace")


@pytest.mark.parametrize("item", COMPILED, ids=IDS)
def test_every_variable_is_initialised_at_start(item: CompiledJob) -> None:
    """Step Functions rejects reads of variables that some path never assigned: the first
    state assigns every one, whichever way it ends, and reads none itself."""
    text = item.definition_text()
    start = item.definition["States"][item.definition["StartAt"]]
    defined = set(start["Assign"])
    for catcher in start["Catch"]:
        assert set(catcher["Assign"]) >= defined
    own = {key: value for key, value in start.items() if key != "Assign"}
    reads = set(re.findall(r"\$(\w+)", json.dumps(own))) & defined
    assert not reads, f"the first state reads variables it has not assigned yet: {reads}"
    local = set(re.findall(r"\$(\w+)\s*:=", text))
    builtin = {
        "states",
        "string",
        "exists",
        "substring",
        "millis",
        "toMillis",
        "fromMillis",
        "now",
        "floor",
        "parse",
        "merge",
        "sift",
        "append",
        "keys",
        "each",
        "lookup",
        "number",
        "contains",
        "count",
        "error",
        "not",
        "join",
        "filter",
        "length",
        "n",
        "m",
        "type",
        "split",
        "v",
        "k",
    }
    used = (
        set(re.findall(r"\$(\w+)", text)) - builtin - local - {"Partition", "Region", "AccountId"}
    )
    assert used <= defined, f"read but never initialised: {sorted(used - defined)}"


def test_declared_parameters_only_reach_the_container() -> None:
    replay = next(i for i in COMPILED if i.job.name == "replay")
    environment = replay.definition["States"]["RunTask"]["Arguments"]["Overrides"][
        "ContainerOverrides"
    ][0]["Environment"]
    assert '$sift($given, function($v, $k) { $k in ["FROM", "SPEED"] })' in environment
    assert '{"SPEED": "slow"}' in environment


def test_triggers_choose_rule_or_schedule_by_time_zone() -> None:
    by_name = {(i.job.name, i.job.env): i.trigger for i in COMPILED}
    tokyo = by_name[("daily-report", "production")]
    assert tokyo["kind"] == "schedule" and tokyo["ScheduleExpressionTimezone"] == "Asia/Tokyo"
    assert "<aws.scheduler.scheduled-time>" in tokyo["Target"]["Input"]
    assert tokyo["Target"]["RetryPolicy"]["MaximumEventAgeInSeconds"] == 600
    weekly = by_name[("weekly-cleanup", "production")]
    assert weekly["kind"] == "rule" and weekly["ScheduleExpression"] == "cron(0 2 ? * 1 *)"
    assert weekly["Targets"][0]["InputTransformer"]["InputPathsMap"] == {
        "id": "$.id",
        "time": "$.time",
    }
    assert by_name[("legacy-export", "production")]["State"] == "DISABLED"
    assert by_name[("ledger-sync", "staging")]["State"] == "DISABLED"
    assert by_name[("ledger-sync", "production")]["State"] == "ENABLED"


def test_compilation_is_deterministic() -> None:
    again = _compiled()
    assert [render_json(i.to_document()) for i in again] == [
        render_json(i.to_document()) for i in COMPILED
    ]


def test_placeholders_are_the_only_environment_specific_strings() -> None:
    for item in COMPILED:
        text = render_json(item.to_document())
        assert (
            "123456789012" not in text.replace("task-definition/worker:7", "")
            or item.job.project == "lab"
        )
        leftover = set(re.findall(r"\$\{(\w+)\}", text))
        assert leftover <= set(DEPLOY_VALUES)


@pytest.mark.parametrize("item", COMPILED, ids=IDS)
def test_only_the_first_state_reads_the_execution_input(item: CompiledJob) -> None:
    """After the first state, $states.input is the previous state's output."""
    for name, state in item.definition["States"].items():
        if name != item.definition["StartAt"]:
            assert "$states.input" not in json.dumps(state), name


def test_the_machines_input_limits_are_the_apis() -> None:
    """The state machine repeats the API's bounds (chalicelib/ops/models.py): same numbers."""
    from chalicelib.ops.models import ManualRunRequest
    from jobctl.compile.asl import INPUT_LIMITS, MAX_PARAMETERS

    fields = ManualRunRequest.model_fields
    reason = [m.max_length for m in fields["reason"].metadata if hasattr(m, "max_length")]
    parameters = [m.max_length for m in fields["parameters"].metadata if hasattr(m, "max_length")]
    assert (reason, parameters) == ([INPUT_LIMITS["reason"]], [MAX_PARAMETERS])


def test_inlining_the_variables_leaves_string_literals_and_other_names_as_written() -> None:
    """The first Claim's expressions have the variables replaced by their definitions; a
    string literal (a `_quote`d value from jobs.yaml) and a longer name stay as written."""
    from jobctl.compile.asl import _inline

    definitions = {"run_id": "$states.context.Execution.Name", "x": "1"}
    given = {
        "a": "{% $run_id & '$run_id' & \"$x\" & $run_idx %}",
        "b": ["{% $x + 1 %}", "$x"],
        "c": "$run_id",
    }
    assert _inline(given, definitions) == {
        "a": "{% ($states.context.Execution.Name) & '$run_id' & \"$x\" & $run_idx %}",
        "b": ["{% (1) + 1 %}", "$x"],
        "c": "$run_id",
    }
