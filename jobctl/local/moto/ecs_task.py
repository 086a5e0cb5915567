"""moto's ECS and aws-sdk Step Functions integrations, fixed (defects 2, 3, 4, 5 and 8).

2. `ecs:runTask(.sync)` never reaches moto's ECS: the integration's `_normalise_parameters`
   and `_normalise_response` are stubs, so `run_task(Cluster=...)` fails with KeyError
   'Cluster' (States.Runtime). Fixed (`BotoShapes`) with moto's own shape converters
   (`_to_boto_request`, `_from_boto_response`) and botocore's ECS model.
3. Container exit codes are ignored: `.sync` succeeds when the container exits 1. On AWS the
   task fails with `States.TaskFailed` and a Cause holding the DescribeTasks JSON
   (`Containers[].ExitCode`, `StopCode: EssentialContainerExited`). Fixed: the sync resolver
   takes each task's fate from `EcsDouble` and fails the same way; a task stopped without
   an exit code (never started, stopped on timeout) has no `ExitCode`, where moto says 0.
4. Retries after a failed `.sync` attempt end in ~10 ms with `States.Timeout`: the task token
   is made once per state entry, and its callback endpoint, interrupted after attempt one,
   answers every later timeout wait at once. Fixed by a fresh token per attempt.
5. RunTask's `failures` (no capacity) crash on `Tasks[0]`, and ECS API errors surface as
   `States.Runtime`. AWS fails the task with `AmazonECS.Unknown` and names API errors
   `ECS.AmazonECSException` (the error code is only in the Cause). Fixed in the integration,
   which also lets `EcsDouble` inject both (capacity; throttling and other API errors).
   The request's `CapacityProviderStrategy`, which moto's list of RunTask fields lacks, is
   passed on instead of silently dropped (moto places FARGATE/FARGATE_SPOT ones on Fargate).
   A task that needs EC2 container instances (launch type EC2, an Auto Scaling group
   capacity provider) on a cluster with none makes moto raise a bare Exception (a 500, a
   traceback on the console, retried until the run times out); the integration answers
   ECS's InvalidParameterException "No Container Instances were found in your cluster."
   instead, so the run fails at once with ECS's words.
8. `aws-sdk:*` integrations do not normalise either, which only works for services whose API
   is already PascalCase (DynamoDB): `aws-sdk:sfn:stopExecution` (concurrency: replace)
   fails with KeyError 'ExecutionArn'. Fixed with the same converters as 2 (`BotoShapes`).

Installed by swapping `EcsTask` and `AwsSdkTask` in for moto's classes in its service
factory, the one place moto looks them up (it builds a state's service object whenever it
parses a definition, once per execution). Invariants: the three classes define only
overrides of moto's methods, with moto's signatures (the canary checks both); each task's
fate comes from `ecs_double`; a `.sync` attempt that ends while its task still runs
(timeout, abort) stops the task, as AWS does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, NamedTuple

import botocore.session
from botocore.exceptions import ClientError
from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import (
    CustomErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.error_name import ErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
    StatesErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.credentials import (
    StateCredentials,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_callback,
    state_task_service_factory,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
    ResourceRuntimePart,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
    StateTaskService,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
    StateTaskServiceAwsSdk,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_ecs import (
    StateTaskServiceEcs,
)
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

from jobctl.local.moto.ecs_double import API_ERRORS, StartedTask, TaskExit, ecs_double
from jobctl.local.moto.hook import Override, Patch

_SESSION = botocore.session.get_session()
_STOPPED_BY_SFN = "Task stopped by Step Functions"
# Where a .sync attempt leaves its task for the attempt's end: on the execution's
# Environment, which is per execution (and per Map/Parallel branch), like the attempt.
_TASK_KEY = "_jobctl_task"


class _Submitted(NamedTuple):
    client: Any
    cluster_arn: str
    task_arn: str


class BotoShapes(StateTaskService):
    """Defects 2 and 8: convert Step Functions' PascalCase to boto's shapes and back."""

    def _normalise_parameters(
        self,
        parameters: dict[str, Any],
        boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        shape = _operation(self, boto_service_name, service_action_name).input_shape
        if shape is not None:
            self._to_boto_request(parameters, shape)

    def _normalise_response(
        self,
        response: Any,
        boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        shape = _operation(self, boto_service_name, service_action_name).output_shape
        if shape is not None:
            self._from_boto_response(response, shape)


class AwsSdkTask(BotoShapes, StateTaskServiceAwsSdk):
    """Defect 8: `aws-sdk:*` with boto's shapes."""


class EcsTask(BotoShapes, StateTaskServiceEcs):
    """Defects 2-5: RunTask(.sync) as AWS runs it, each task's fate decided by `ecs_double`."""

    def _get_supported_parameters(self) -> set[str] | None:
        # moto's list of RunTask fields predates CapacityProviderStrategy, which Step
        # Functions passes on (AWS CDK's EcsRunTask emits it) and moto silently dropped.
        supported = super()._get_supported_parameters()
        return None if supported is None else supported | {"CapacityProviderStrategy"}

    def _eval_service_task(
        self,
        env: Environment,
        resource_runtime_part: ResourceRuntimePart,
        normalised_parameters: dict[str, Any],
        state_credentials: StateCredentials,
    ) -> None:
        response = _run_task(resource_runtime_part, normalised_parameters, state_credentials)
        if response.get("failures") or not response.get("tasks"):
            self._normalise_response(response=response, service_action_name="run_task")
            raise _failure(self, env, "AmazonECS.Unknown", json.dumps(response, default=str))
        task_arn, cluster_arn = response["tasks"][0]["taskArn"], response["tasks"][0]["clusterArn"]
        self._normalise_response(response=response, service_action_name="run_task")  # in place
        ecs_double._started(
            StartedTask(
                task_arn=task_arn,
                cluster_arn=cluster_arn,
                group=normalised_parameters.get("group"),
                overrides=_pascal_overrides(normalised_parameters.get("overrides", {})),
            )
        )
        env.stack.append(response)

    def _from_error(self, env: Environment, ex: Exception) -> FailureEvent:
        if isinstance(ex, ClientError):
            return _failure(self, env, "ECS.AmazonECSException", _cause(ex)).failure_event
        return super()._from_error(env=env, ex=ex)

    def _build_sync_resolver(
        self,
        env: Environment,
        resource_runtime_part: ResourceRuntimePart,
        normalised_parameters: dict[str, Any],
        state_credentials: StateCredentials,
    ) -> Callable[[], Any] | None:
        client = boto_client_for(
            service="ecs", region=resource_runtime_part.region, state_credentials=state_credentials
        )
        submitted = env.stack.pop()["Tasks"][0]
        task = _Submitted(client, submitted["ClusterArn"], submitted["TaskArn"])
        vars(env)[_TASK_KEY] = task

        def resolve() -> dict[str, Any] | None:
            outcome = ecs_double._exit_of(task.task_arn)
            return None if outcome is None else _stopped(self, env, task, outcome)

        return resolve

    def _eval_integration_pattern(
        self,
        env: Environment,
        resource_runtime_part: ResourceRuntimePart,
        normalised_parameters: dict[str, Any],
        state_credentials: StateCredentials,
    ) -> None:
        # Defect 4: every attempt gets its own task token and callback endpoint.
        token = env.states.context_object.update_task_token()
        env.callback_pool_manager.add(token)
        try:
            super()._eval_integration_pattern(
                env=env,
                resource_runtime_part=resource_runtime_part,
                normalised_parameters=normalised_parameters,
                state_credentials=state_credentials,
            )
        finally:
            # Like AWS on timeout or abort (best-effort StopTask): a task whose attempt
            # ended without the task exiting is stopped.
            task: _Submitted | None = vars(env).get(_TASK_KEY)
            if task is not None and ecs_double._exit_of(task.task_arn) is None:
                ecs_double.finish(task.task_arn, None, _STOPPED_BY_SFN)
                task.client.stop_task(
                    cluster=task.cluster_arn, task=task.task_arn, reason=_STOPPED_BY_SFN
                )


def _operation(service: StateTaskService, boto_service_name: str | None, action: str | None) -> Any:
    """botocore's model of the operation a state calls (RunTask, StopExecution, ...)."""
    model = _SESSION.get_service_model(service._get_boto_service_name(boto_service_name))
    snake = service._get_boto_service_action(action)
    return model.operation_model("".join(part.title() for part in snake.split("_")))


def _run_task(
    runtime: ResourceRuntimePart, parameters: dict[str, Any], credentials: StateCredentials
) -> dict[str, Any]:
    """RunTask's boto-shaped response, or the fault `ecs_double` injects instead."""
    client = boto_client_for(region=runtime.region, service="ecs", state_credentials=credentials)
    fault = ecs_double._take_fault(parameters)
    if fault in API_ERRORS:
        code, message = API_ERRORS[fault]
        raise ClientError(
            {
                "Error": {"Code": code, "Message": message},
                "ResponseMetadata": {"HTTPStatusCode": 400, "RequestId": "jobctl-double"},
            },
            "RunTask",
        )
    if fault == "capacity":
        failure = {"arn": parameters.get("taskDefinition", ""), "reason": "RESOURCE:MEMORY"}
        return {"tasks": [], "failures": [failure]}
    if not _on_fargate(parameters) and not client.list_container_instances(
        cluster=parameters.get("cluster", "default")
    ).get("containerInstanceArns"):
        # EC2 (a launch type, or a capacity provider of an Auto Scaling group) needs
        # container instances. moto raises a bare Exception for it (a 500 with a traceback
        # on the console, retried until the run's timeout); ECS answers this error.
        raise ClientError(
            {
                "Error": {
                    "Code": "InvalidParameterException",
                    "Message": "No Container Instances were found in your cluster.",
                },
                "ResponseMetadata": {"HTTPStatusCode": 400, "RequestId": "jobctl-double"},
            },
            "RunTask",
        )
    response: dict[str, Any] = client.run_task(**parameters)
    response.pop("ResponseMetadata", None)
    return response


FARGATE_PROVIDERS = ("FARGATE", "FARGATE_SPOT")


def _on_fargate(parameters: dict[str, Any]) -> bool:
    """Whether RunTask places the task on Fargate: launch type FARGATE, or a capacity
    provider strategy whose providers are Fargate's own (FARGATE, FARGATE_SPOT)."""
    strategy = parameters.get("capacityProviderStrategy") or []
    if strategy:
        return all(item.get("capacityProvider") in FARGATE_PROVIDERS for item in strategy)
    # Neither: the cluster's default strategy decides, as moto does (jobctl always sends one).
    return parameters.get("launchType") in ("FARGATE", None)


def _cause(error: ClientError) -> str:
    """The Cause Step Functions gives an ECS API error: the message and the AWS SDK's summary.

    As seen on AWS: "Cluster not found. (Service: AmazonECS; Status Code: 400; Error Code:
    ClusterNotFoundException; Request ID: ...; Proxy: null)". The error code is the one
    place that tells the kinds of `ECS.AmazonECSException` apart.
    """
    details = error.response.get("Error", {})
    meta = error.response.get("ResponseMetadata", {})
    return (
        f"{details.get('Message', str(error))} (Service: AmazonECS; Status Code: "
        f"{meta.get('HTTPStatusCode', 400)}; Error Code: {details.get('Code', 'Unknown')}; "
        f"Request ID: {meta.get('RequestId', '')}; Proxy: null)"
    )


def _stopped(
    service: EcsTask, env: Environment, task: _Submitted, outcome: TaskExit
) -> dict[str, Any]:
    """Stop the task and describe it as AWS does; raise States.TaskFailed unless it exited 0."""
    client, cluster_arn, task_arn = task
    client.stop_task(cluster=cluster_arn, task=task_arn, reason=outcome.reason)
    described = client.describe_tasks(cluster=cluster_arn, tasks=[task_arn])
    described.pop("ResponseMetadata", None)
    service._normalise_response(response=described, service_action_name="describe_tasks")
    stopped: dict[str, Any] = described["Tasks"][0]
    stopped.update(
        LastStatus="STOPPED",
        DesiredStatus="STOPPED",
        StopCode=outcome.stop_code,
        StoppedReason=outcome.reason,
    )
    for container in stopped.get("Containers", []) or [{}]:
        container["LastStatus"] = "STOPPED"
        if outcome.exit_code is not None:
            container["ExitCode"] = outcome.exit_code
        else:  # never started or killed before exiting: AWS reports no exit code
            container.pop("ExitCode", None)
    if not stopped.get("Containers"):
        stopped["Containers"] = [{"ExitCode": outcome.exit_code, "LastStatus": "STOPPED"}]
    if outcome.exit_code == 0:
        return dict(stopped)
    cause = json.dumps(stopped, default=str, sort_keys=True)
    raise _failure(service, env, "States.TaskFailed", cause)


def _failure(
    service: StateTaskService, env: Environment, error: str, cause: str
) -> FailureEventException:
    """The FailureEventException AWS's integration raises for `error` (a TaskFailed event)."""
    error_name: ErrorName = (
        StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed)
        if error == "States.TaskFailed"
        else CustomErrorName(error)
    )
    details: Any = EventDetails  # a TypedDict of every event kind; one key is enough
    return FailureEventException(
        FailureEvent(
            env=env,
            error_name=error_name,
            event_type=HistoryEventType.TaskFailed,
            event_details=details(
                taskFailedEventDetails=TaskFailedEventDetails(
                    error=error,
                    cause=cause,
                    resource=service._get_sfn_resource(),
                    resourceType=service._get_sfn_resource_type(),
                )
            ),
        )
    )


def _pascal_overrides(overrides: dict[str, Any]) -> dict[str, Any]:
    """boto-shaped overrides back to the PascalCase the state machine wrote."""
    containers = [
        {
            "Name": container.get("name"),
            "Command": container.get("command"),
            "Environment": [
                {"Name": e["name"], "Value": e["value"]} for e in container.get("environment", [])
            ],
        }
        for container in overrides.get("containerOverrides", [])
    ]
    return {
        "ContainerOverrides": containers,
        "Cpu": overrides.get("cpu"),
        "Memory": overrides.get("memory"),
    }


PATCHES = (
    Patch(state_task_service_factory, "StateTaskServiceEcs", EcsTask),
    Patch(state_task_service_factory, "StateTaskServiceAwsSdk", AwsSdkTask),
    # .sync polls DescribeTasks every 0.5 s; the double decides at once, so poll faster.
    Patch(state_task_service_callback, "_DELAY_SECONDS_SYNC_CONDITION_CHECK", 0.05),
)
OVERRIDES = (
    Override(EcsTask, StateTaskServiceEcs),
    Override(AwsSdkTask, StateTaskServiceAwsSdk),
)
