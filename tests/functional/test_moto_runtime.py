"""Self-check: the moto defects jobctl/local/moto/ fixes are still there, every method the
fixes override still exists in moto with the signature they were written against, and the
fixes are in place while installed and gone, exactly, once uninstalled. If moto changes (an
upgrade, or a defect fixed upstream), this fails loudly instead of letting the suite pass or
fail for the wrong reason."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import moto

from jobctl.local.moto import MOTO_VERSION, ecs_double, fixes, install, installed, original
from jobctl.local.moto.hook import MISSING

PRISTINE = r"""
import inspect, json
import moto.stepfunctions.parser.asl.jsonata.jsonata as jsonata_module
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service as base, state_task_service_ecs as ecs, state_task_service_aws_sdk as sdk,
)
from moto.ec2.models.elastic_network_interfaces import NetworkInterface
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_parallel import branches_decl
from moto.stepfunctions.parser.asl.component.common.string import string_expression
from moto.stepfunctions.parser.backend import execution_worker
from moto.events.models import EventsBackend
stub = base.StateTaskService._normalise_parameters
def branch_error_refused():
    try:
        branches_decl.CustomErrorName(error_name="States.TaskFailed")
    except ValueError:
        return True
    return False
print(json.dumps({
    "jsonata_evaluator_missing": jsonata_module._eval_jsonata is None,
    "ecs_parameters_not_normalised": ecs.StateTaskServiceEcs._normalise_parameters is stub,
    "ecs_response_not_normalised": ecs.StateTaskServiceEcs._normalise_response is base.StateTaskService._normalise_response,
    "ecs_sync_ignores_exit_codes": "exitCode" not in inspect.getsource(ecs.StateTaskServiceEcs._build_sync_resolver),
    "aws_sdk_parameters_not_normalised": sdk.StateTaskServiceAwsSdk._normalise_parameters is stub,
    "eni_dns_name_only_with_dns_hostnames": not hasattr(NetworkInterface, "private_dns_name"),
    "retries_sleep_in_real_time": retrier_decl.time.__name__ == "time",
    "parallel_branch_states_error_refused": branch_error_refused(),
    "string_variables_bound_unescaped": jsonata_module.encode_jsonata_variable_declarations(
        {"$v": 'a"b'}) == '$v:="a"b";',
    "run_task_drops_capacity_provider_strategy": "CapacityProviderStrategy"
    not in ecs._SUPPORTED_API_PARAM_BINDINGS["runtask"],
    "jsonata_errors_not_query_evaluation_errors": "FailureEventException"
    not in inspect.getsource(string_expression.StringJSONata._eval_body),
    "context_start_time_is_the_raw_start_date": "StartTime=self._evaluation_details.execution_details.start_time"
    in inspect.getsource(execution_worker.ExecutionWorker._get_evaluation_environment),
    "tagging_api_lists_no_rules": "rules" not in inspect.getsource(EventsBackend.iter_tagged_resources),
}))
"""


def test_moto_is_the_version_the_fixes_were_checked_on() -> None:
    assert moto.__version__ == MOTO_VERSION


def test_every_defect_is_still_present_in_pristine_moto() -> None:
    found = json.loads(
        subprocess.run(
            [sys.executable, "-c", PRISTINE], check=True, capture_output=True, text=True
        ).stdout
    )
    assert found == {name: True for name in found}, (
        f"moto changed: a defect listed in jobctl/local/moto/ is gone; re-check its fix: {found}"
    )
    assert len(found) == 13


def test_install_replaces_each_defective_piece() -> None:
    import moto.stepfunctions.parser.asl.jsonata.jsonata as jsonata_module
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service as base,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk as sdk,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_ecs as ecs,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_factory as factory,
    )

    with install() as double, install() as again:  # nested installs share the one double
        assert double is again is ecs_double
        assert installed()
        assert jsonata_module._eval_jsonata is not None
        assert jsonata_module._eval_jsonata("$parse('{\"a\": 2}').a + 1") == 3
        # What moto builds for an `ecs:` or `aws-sdk:` state is jobctl's subclass.
        ecs_service = factory.state_task_service_for("ecs")
        sdk_service = factory.state_task_service_for("aws-sdk")
        assert isinstance(ecs_service, ecs.StateTaskServiceEcs)
        assert isinstance(sdk_service, sdk.StateTaskServiceAwsSdk)
        assert (
            type(ecs_service)._normalise_parameters
            is not base.StateTaskService._normalise_parameters
        )
        assert type(sdk_service)._normalise_parameters is type(ecs_service)._normalise_parameters


def _shape(function: Callable[..., Any]) -> list[tuple[str, Any, bool]]:
    return [
        (p.name, p.kind, p.default is not inspect.Parameter.empty)
        for p in inspect.signature(function).parameters.values()
    ]


def test_every_override_has_the_signature_of_the_moto_method_it_replaces() -> None:
    checked = []
    for override in fixes().overrides:
        moto_class = override.moto_class.__name__
        for name, method in override.methods().items():
            replaced = original(override.moto_class, name)
            assert replaced is not MISSING, (
                f"moto's {moto_class} has no {name} any more: {override.fix.__name__}.{name} "
                "overrides nothing (renamed upstream?); a fix class defines only overrides"
            )
            assert replaced is not method, f"{moto_class}.{name}: compared with itself"
            # Same parameter names and kinds; a parameter moto's callers may omit must stay
            # optional (an override may add a default moto lacks: it is only more lenient).
            ours, theirs = _shape(method), _shape(replaced)
            assert [p[:2] for p in ours] == [p[:2] for p in theirs], (
                f"moto changed the signature of {moto_class}.{name}: "
                f"{inspect.signature(replaced)}, the fix has {inspect.signature(method)}"
            )
            assert all(o[2] for o, t in zip(ours, theirs, strict=True) if t[2]), (
                f"{override.fix.__name__}.{name} makes a parameter moto treats as optional required"
            )
            checked.append(f"{moto_class}.{name}")
    assert sorted(checked) == [
        "BaseResponse._dispatch",
        "StateTaskServiceAwsSdk._normalise_parameters",
        "StateTaskServiceAwsSdk._normalise_response",
        "StateTaskServiceEcs._build_sync_resolver",
        "StateTaskServiceEcs._eval_integration_pattern",
        "StateTaskServiceEcs._eval_service_task",
        "StateTaskServiceEcs._from_error",
        "StateTaskServiceEcs._get_supported_parameters",
        "StateTaskServiceEcs._normalise_parameters",
        "StateTaskServiceEcs._normalise_response",
        "Timeout._eval_body",
        "WaitFunction._wait_interval",
    ]


# In a fresh interpreter: this one may hold a bare install() from another test module, and
# the fixes are undone only when the last install is released.
UNDO = r"""
import json
from jobctl.local.moto import fixes, install, installed
from jobctl.local.moto.hook import MISSING

plan = fixes().patches
label = [f"{getattr(p.owner, '__name__', p.owner)}.{p.name}" for p in plan]
def now(p):
    return vars(p.owner).get(p.name, MISSING)
def not_(check):
    return [name for name, p in zip(label, plan) if not check(p)]
before = {id(p): now(p) for p in plan}
report = {"patched": sorted(label), "installed_before": installed()}
report["already_fixed"] = not_(lambda p: before[id(p)] is not p.value)
with install() as ecs:
    report["not_applied"] = not_(lambda p: now(p) is p.value)
    with install() as inner:
        report["same_double"] = inner is ecs
    report["undone_by_inner_exit"] = not_(lambda p: now(p) is p.value)
report["not_restored"] = not_(lambda p: now(p) is before[id(p)])
report["installed_after"] = installed()
with install():
    report["not_reapplied"] = not_(lambda p: now(p) is p.value)
report["not_restored_again"] = not_(lambda p: now(p) is before[id(p)])
print(json.dumps(report))
"""


SERVICE = "moto.stepfunctions.parser.asl.component.state.exec.state_task.service"


def test_leaving_the_last_install_restores_every_original_attribute() -> None:
    report = json.loads(
        subprocess.run(
            [sys.executable, "-c", UNDO], check=True, capture_output=True, text=True
        ).stdout
    )
    assert report == {
        "patched": [
            "BaseResponse._dispatch",
            "EventsBackend.iter_tagged_resources",
            "ExecutionWorker._get_evaluation_environment",
            "NetworkInterface.private_dns_name",
            "StateTaskServiceDynamoDB._from_error",
            "StringJSONata._eval_body",
            "Timeout._eval_body",
            "WaitFunction._wait_interval",
            "moto.stepfunctions.parser.asl.component.common.retry.retrier_decl.time",
            "moto.stepfunctions.parser.asl.component.state.exec.state_parallel.branches_decl"
            ".CustomErrorName",
            f"{SERVICE}.state_task_service_callback._DELAY_SECONDS_SYNC_CONDITION_CHECK",
            f"{SERVICE}.state_task_service_factory.StateTaskServiceAwsSdk",
            f"{SERVICE}.state_task_service_factory.StateTaskServiceEcs",
            "moto.stepfunctions.parser.asl.eval.states.encode_jsonata_variable_declarations",
            "moto.stepfunctions.parser.asl.eval.variable_store"
            ".encode_jsonata_variable_declarations",
            "moto.stepfunctions.parser.asl.jsonata.jsonata._eval_jsonata",
        ],
        "installed_before": False,
        "already_fixed": [],
        "not_applied": [],
        "same_double": True,
        "undone_by_inner_exit": [],
        "not_restored": [],
        "installed_after": False,
        "not_reapplied": [],
        "not_restored_again": [],
    }


THROWS = {
    "QueryLanguage": "JSONata",
    "StartAt": "Throw",
    "States": {
        "Throw": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sns:publish",
            "Arguments": {
                "TopicArn": "arn:aws:sns:us-east-1:123456789012:lab",
                "Message": "{% $error('refused: ' & $states.input.why) %}",
            },
            "Catch": [
                {
                    "ErrorEquals": ["States.QueryEvaluationError"],
                    "Assign": {"why": "{% $states.input.why %}"},
                    "Output": {
                        "error": "{% $states.errorOutput.Error %}",
                        "cause": "{% $states.errorOutput.Cause %}",
                        "why": "{% $why %}",
                        "started": "{% $states.context.Execution.StartTime %}",
                    },
                    "Next": "Again",
                }
            ],
            "End": True,
        },
        # The optimized DynamoDB integration keeps the name too (it renames its own errors).
        "Again": {
            "Type": "Task",
            "Resource": "arn:aws:states:::dynamodb:putItem",
            "Arguments": {"TableName": "lab", "Item": {"pk": {"S": "{% $error('again') %}"}}},
            "Catch": [
                {
                    "ErrorEquals": ["States.QueryEvaluationError"],
                    "Output": "{% $merge([$states.input, {'again': $states.errorOutput}]) %}",
                    "Next": "Caught",
                }
            ],
            "End": True,
        },
        "Caught": {"Type": "Succeed"},
    },
}


def test_a_throwing_expression_is_a_catchable_query_error_and_start_time_is_aws_formatted() -> None:
    """Defects 12 and 13 fixed, on moto's interpreter: `$error` in Arguments is caught as
    `States.QueryEvaluationError` (the Catch's Assign reads the state input), and
    `Execution.StartTime` reads like AWS's `2019-03-26T20:14:13.192Z`."""
    import re
    import time

    import boto3
    from moto import mock_aws

    with install(), mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        boto3.client("sns", region_name="us-east-1").create_topic(Name="lab")
        arn = sfn.create_state_machine(
            name="throws", definition=json.dumps(THROWS), roleArn="arn:aws:iam::123456789012:role/x"
        )["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=arn, name="e1", input='{"why": "late"}')
        for _ in range(200):
            described = sfn.describe_execution(executionArn=execution["executionArn"])
            if described["status"] != "RUNNING":
                break
            time.sleep(0.05)
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    assert output["error"] == "States.QueryEvaluationError"
    assert "refused: late" in output["cause"]
    assert output["why"] == "late"
    assert output["again"] == {"Error": "States.QueryEvaluationError", "Cause": "again"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", output["started"]), output


def test_the_tagging_api_lists_eventbridge_rules_with_their_tags() -> None:
    """Defect 14 fixed: `tag:GetResources` lists a rule (AWS's `events:rule`) with its tags,
    so a cheap plan on `jobctl local` reads rule tags in one call, as on AWS."""
    import boto3
    from moto import mock_aws

    with install(), mock_aws():
        events = boto3.client("events", region_name="us-east-1")
        arn = events.put_rule(
            Name="lab-report",
            ScheduleExpression="rate(5 minutes)",
            Tags=[{"Key": "jobctl:spec-hash", "Value": "abc"}],
        )["RuleArn"]
        tagging = boto3.client("resourcegroupstaggingapi", region_name="us-east-1")
        found = tagging.get_resources(ResourceTypeFilters=["events:rule"])
    assert [(r["ResourceARN"], r["Tags"]) for r in found["ResourceTagMappingList"]] == [
        (arn, [{"Key": "jobctl:spec-hash", "Value": "abc"}])
    ]
