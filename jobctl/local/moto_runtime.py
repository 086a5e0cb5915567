"""moto 5.2.5 as a faithful Step Functions + ECS runtime: every fix jobctl needs, in one place.

jobctl's state machines are proven by executing them on moto's Step Functions interpreter
(tests) and run on it locally (`jobctl local`). moto 5.2.5 gets these wrong; `install()`
fixes each, and tests/functional/test_moto_runtime.py fails loudly if moto changes under us:

1. JSONata is not evaluated: the evaluator hook
   (`moto.stepfunctions.parser.asl.jsonata.jsonata._eval_jsonata`) is None. Fixed by wiring
   jsonata-python (a port of the jsonata-java engine LocalStack uses) plus `$parse`, the
   function Step Functions provides instead of `$eval`.
2. `ecs:runTask(.sync)` never reaches moto's ECS: the integration's `_normalise_parameters`
   and `_normalise_response` are stubs, so `run_task(Cluster=...)` fails with KeyError
   'Cluster' (States.Runtime). Fixed with moto's own shape converters (`_to_boto_request`,
   `_from_boto_response`) and botocore's ECS model.
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
   `ECS.AmazonECSException`. Fixed in the integration, which also lets `EcsDouble` inject
   both (capacity, throttling).
6. Retry intervals and task timeouts run in real time. `set_time_speed(factor)` scales both
   (tests), without touching the compiled definitions.
8. `aws-sdk:*` integrations do not normalise either, which only works for services whose API
   is already PascalCase (DynamoDB): `aws-sdk:sfn:stopExecution` (concurrency: replace)
   fails with KeyError 'ExecutionArn'. Fixed with the same converters as 2.
7. RunTask with awsvpc networking crashes (`'NetworkInterface' object has no attribute
   'private_dns_name'`) unless the VPC has DNS hostnames enabled. Fixed with a None default.
9. Backends are not thread-safe, yet requests are handled concurrently (the server's request
   threads, the interpreter's execution threads, apply's workers): DynamoDB's
   TransactWriteItems deep-copies a table while another request writes to it and fails
   with `RuntimeError: dictionary changed size during iteration` (a claim step failing
   with a 500). Fixed by serialising request dispatch (`BaseResponse._dispatch`) with one
   re-entrant lock. Consequence: an SQS long poll would hold it, so poll with
   `WaitTimeSeconds=0`.
Not a defect: `start_execution` without a name gives every execution the same ARN; jobctl
always names executions.
"""

from __future__ import annotations

import json
import threading
import time
import types
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MOTO_VERSION = "5.2.5"
DEFAULT_REASON = "Essential container in task exited"


@dataclass(frozen=True)
class TaskExit:
    """How a task ended: its essential container's exit code and ECS's stop reason."""

    exit_code: int | None
    reason: str = DEFAULT_REASON
    stop_code: str = "EssentialContainerExited"


@dataclass
class StartedTask:
    task_arn: str
    cluster_arn: str
    group: str | None
    overrides: dict[str, Any]
    started_at: float = field(default_factory=time.time)

    @property
    def job(self) -> str | None:
        return self.group.removeprefix("jobctl:") if self.group else None

    def environment(self, container: str | None = None) -> dict[str, str]:
        """The environment overrides the state machine passed to the container."""
        for override in self.overrides.get("ContainerOverrides", []):
            if container is None or override.get("Name") == container:
                return {e["Name"]: e["Value"] for e in override.get("Environment", [])}
        return {}

    def command(self, container: str | None = None) -> list[str] | None:
        for override in self.overrides.get("ContainerOverrides", []):
            if container is None or override.get("Name") == container:
                command = override.get("Command")
                return list(command) if command else None
        return None


class EcsDouble:
    """Decides what ECS does with each task behind moto.

    A task runs until `finish` is called for it (tests, or the local agent when its
    process exits), unless its job has scripted exits (`script`), in which case it stops
    at once with the next one. `fail_run_task` makes the next RunTask calls report no
    capacity or be throttled. Thread-safe: the interpreter runs executions in threads.
    """

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self.started: list[StartedTask] = []
        self._exits: dict[str, TaskExit] = {}
        self._scripts: dict[str, deque[TaskExit]] = {}
        self._faults: deque[str] = deque()
        self._listeners: list[Callable[[StartedTask], None]] = []

    def reset(self) -> None:
        with self._lock:
            self.started.clear()
            self._exits.clear()
            self._scripts.clear()
            self._faults.clear()
            self._listeners.clear()

    def on_start(self, listener: Callable[[StartedTask], None]) -> None:
        with self._lock:
            self._listeners.append(listener)

    def script(self, job: str, *exits: int | TaskExit) -> None:
        """The next tasks of `job` stop at once with these exits, in order."""
        with self._lock:
            queue = self._scripts.setdefault(job, deque())
            queue.extend(e if isinstance(e, TaskExit) else TaskExit(e) for e in exits)

    def fail_run_task(self, kind: str, times: int = 1) -> None:
        """The next `times` RunTask calls fail: kind 'capacity' or 'throttle'."""
        if kind not in ("capacity", "throttle"):
            raise ValueError(kind)
        with self._lock:
            self._faults.extend([kind] * times)

    def finish(self, task_arn: str, exit_code: int | None, reason: str = DEFAULT_REASON) -> None:
        with self._lock:
            self._exits[task_arn] = TaskExit(exit_code, reason)
            self._lock.notify_all()

    def wait_started(self, count: int, timeout: float = 10.0) -> list[StartedTask]:
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.started) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(self.started)} of {count} tasks started")
                self._lock.wait(remaining)
            return list(self.started)

    def running(self) -> list[StartedTask]:
        with self._lock:
            return [task for task in self.started if task.task_arn not in self._exits]

    # --- called by the patched integration ---------------------------------------------

    def _take_fault(self) -> str | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def _started(self, task: StartedTask) -> None:
        with self._lock:
            self.started.append(task)
            script = self._scripts.get(task.job or "")
            if script:
                self._exits[task.task_arn] = script.popleft()
            listeners = list(self._listeners)
            self._lock.notify_all()
        for listener in listeners:
            listener(task)

    def _exit_of(self, task_arn: str) -> TaskExit | None:
        with self._lock:
            return self._exits.get(task_arn)


ecs_double = EcsDouble()
_installed = False
_time_speed = 1.0
_timeout_speed = 1.0


def set_time_speed(factor: float, *, timeouts: float | None = None) -> None:
    """Scale Retry intervals and task TimeoutSeconds (0.001: 30 s take 30 ms); 1.0 is real.

    `timeouts` scales TimeoutSeconds separately (default: `factor`): `jobctl local` speeds
    up retry waits but leaves real processes their real timeouts.
    """
    global _time_speed, _timeout_speed
    _time_speed = factor
    _timeout_speed = factor if timeouts is None else timeouts


def install() -> None:
    """Apply every fix (idempotent). Raises RuntimeError on another moto version."""
    global _installed
    if _installed:
        return
    import moto

    if moto.__version__ != MOTO_VERSION:
        raise RuntimeError(
            f"jobctl's moto fixes were checked on moto {MOTO_VERSION}, found {moto.__version__}: "
            "re-check each defect listed in jobctl/local/moto_runtime.py"
        )
    _install_jsonata()
    _install_ecs()
    _install_eni_default()
    _install_time_speed()
    _install_serialised_dispatch()
    _installed = True


# --- 1. JSONata ----------------------------------------------------------------------------


def _install_jsonata() -> None:
    import jsonata
    import moto.stepfunctions.parser.asl.jsonata.jsonata as moto_jsonata

    def evaluate(expression: str) -> Any:
        compiled = jsonata.Jsonata(expression)
        compiled.register_lambda("parse", lambda text: json.loads(text))
        return compiled.evaluate(None)

    moto_jsonata._eval_jsonata = evaluate


# --- 2-5. ECS ------------------------------------------------------------------------------


def _install_ecs() -> None:
    import botocore.session
    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import (
        CustomErrorName,
    )
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
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_callback as callback_module,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
        StateTaskServiceAwsSdk,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_ecs import (
        StateTaskServiceEcs,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
    from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

    session = botocore.session.get_session()
    details: Any = EventDetails  # a TypedDict of every event kind; one key is enough
    # .sync polls DescribeTasks every 0.5 s; the double decides at once, so poll faster.
    setattr(callback_module, "_DELAY_SECONDS_SYNC_CONDITION_CHECK", 0.05)  # noqa: B010 (patching a Final)

    def operation(self: Any, service: str | None, action: str | None) -> Any:
        model = session.get_service_model(self._get_boto_service_name(service))
        snake = self._get_boto_service_action(action)
        return model.operation_model("".join(part.title() for part in snake.split("_")))

    def normalise_parameters(
        self: Any,
        parameters: dict[str, Any],
        boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        shape = operation(self, boto_service_name, service_action_name).input_shape
        if shape is not None:
            self._to_boto_request(parameters, shape)

    def normalise_response(
        self: Any,
        response: Any,
        boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        shape = operation(self, boto_service_name, service_action_name).output_shape
        if shape is not None:
            self._from_boto_response(response, shape)

    def failure(self: Any, env: Any, error: str, cause: str) -> Any:
        error_name = (
            StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed)
            if error == "States.TaskFailed"
            else CustomErrorName(error)
        )
        return FailureEventException(
            FailureEvent(
                env=env,
                error_name=error_name,
                event_type=HistoryEventType.TaskFailed,
                event_details=details(
                    taskFailedEventDetails=TaskFailedEventDetails(
                        error=error,
                        cause=cause,
                        resource=self._get_sfn_resource(),
                        resourceType=self._get_sfn_resource_type(),
                    )
                ),
            )
        )

    def eval_service_task(
        self: Any,
        env: Any,
        resource_runtime_part: Any,
        normalised_parameters: dict[str, Any],
        state_credentials: Any,
    ) -> None:
        client = boto_client_for(
            region=resource_runtime_part.region, service="ecs", state_credentials=state_credentials
        )
        fault = ecs_double._take_fault()
        if fault == "throttle":
            raise ClientError(
                {
                    "Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"},
                    "ResponseMetadata": {"HTTPStatusCode": 400, "RequestId": "jobctl-double"},
                },
                "RunTask",
            )
        if fault == "capacity":
            response: dict[str, Any] = {
                "tasks": [],
                "failures": [
                    {
                        "arn": normalised_parameters.get("taskDefinition", ""),
                        "reason": "RESOURCE:MEMORY",
                    }
                ],
            }
        else:
            response = client.run_task(**normalised_parameters)
            response.pop("ResponseMetadata", None)
        if response.get("failures") or not response.get("tasks"):
            self._normalise_response(response=response, service_action_name="run_task")
            raise failure(self, env, "AmazonECS.Unknown", json.dumps(response, default=str))
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

    def from_error(self: Any, env: Any, ex: Exception) -> Any:
        if isinstance(ex, ClientError):
            message = ex.response.get("Error", {}).get("Message", str(ex))
            return failure(self, env, "ECS.AmazonECSException", message).failure_event
        return original_from_error(self, env, ex)

    def build_sync_resolver(
        self: Any,
        env: Any,
        resource_runtime_part: Any,
        normalised_parameters: dict[str, Any],
        state_credentials: Any,
    ) -> Callable[[], Any]:
        client = boto_client_for(
            service="ecs", region=resource_runtime_part.region, state_credentials=state_credentials
        )
        submitted = env.stack.pop()
        task_arn = submitted["Tasks"][0]["TaskArn"]
        cluster_arn = submitted["Tasks"][0]["ClusterArn"]
        env._jobctl_task = (client, cluster_arn, task_arn)

        def resolve() -> dict[str, Any] | None:
            outcome = ecs_double._exit_of(task_arn)
            if outcome is None:
                return None
            return stopped(self, env, client, cluster_arn, task_arn, outcome)

        return resolve

    def stopped(
        self: Any, env: Any, client: Any, cluster_arn: str, task_arn: str, outcome: TaskExit
    ) -> dict[str, Any]:
        client.stop_task(cluster=cluster_arn, task=task_arn, reason=outcome.reason)
        described = client.describe_tasks(cluster=cluster_arn, tasks=[task_arn])
        described.pop("ResponseMetadata", None)
        self._normalise_response(response=described, service_action_name="describe_tasks")
        task = described["Tasks"][0]
        task.update(
            LastStatus="STOPPED",
            DesiredStatus="STOPPED",
            StopCode=outcome.stop_code,
            StoppedReason=outcome.reason,
        )
        for container in task.get("Containers", []) or [{}]:
            container["LastStatus"] = "STOPPED"
            if outcome.exit_code is not None:
                container["ExitCode"] = outcome.exit_code
            else:  # never started or killed before exiting: AWS reports no exit code
                container.pop("ExitCode", None)
        if not task.get("Containers"):
            task["Containers"] = [{"ExitCode": outcome.exit_code, "LastStatus": "STOPPED"}]
        if outcome.exit_code == 0:
            return dict(task)
        raise failure(self, env, "States.TaskFailed", json.dumps(task, default=str, sort_keys=True))

    def eval_integration_pattern(self: Any, env: Any, *args: Any, **kwargs: Any) -> None:
        # Defect 4: every attempt gets its own task token and callback endpoint.
        token = env.states.context_object.update_task_token()
        env.callback_pool_manager.add(token)
        try:
            original_integration_pattern(self, env, *args, **kwargs)
        finally:
            # Like AWS on timeout or abort (best-effort StopTask): a task whose attempt
            # ended without the task exiting is stopped.
            task = getattr(env, "_jobctl_task", None)
            if task is not None and ecs_double._exit_of(task[2]) is None:
                ecs_double.finish(task[2], None, "Task stopped by Step Functions")
                task[0].stop_task(
                    cluster=task[1], task=task[2], reason="Task stopped by Step Functions"
                )

    original_from_error = StateTaskServiceEcs._from_error
    original_integration_pattern = StateTaskServiceEcs._eval_integration_pattern
    patches = {
        "_normalise_parameters": normalise_parameters,
        "_normalise_response": normalise_response,
        "_eval_service_task": eval_service_task,
        "_from_error": from_error,
        "_build_sync_resolver": build_sync_resolver,
        "_eval_integration_pattern": eval_integration_pattern,
    }
    for name, function in patches.items():
        setattr(StateTaskServiceEcs, name, function)
    for name in ("_normalise_parameters", "_normalise_response"):
        setattr(StateTaskServiceAwsSdk, name, patches[name])


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


# --- 7. ENI without DNS name ---------------------------------------------------------------


def _install_eni_default() -> None:
    from moto.ec2.models.elastic_network_interfaces import NetworkInterface

    if not hasattr(NetworkInterface, "private_dns_name"):
        setattr(NetworkInterface, "private_dns_name", None)  # noqa: B010 (moto types it str)


# --- 6. time speed ------------------------------------------------------------------------


def _install_time_speed() -> None:
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import Timeout

    def eval_timeout(self: Any, env: Any) -> None:
        # Both of moto's timers (the state's and the .sync wait) read this value.
        env.stack.append(self._eval_seconds(env=env) * _timeout_speed)

    setattr(Timeout, "_eval_body", eval_timeout)  # noqa: B010 (patching a method)

    real = time

    def sleep(seconds: float) -> None:
        real.sleep(seconds * _time_speed)

    clock = types.SimpleNamespace(sleep=sleep, time=real.time, monotonic=real.monotonic)
    setattr(retrier_decl, "time", clock)  # noqa: B010 (replacing a module reference)


# --- 9. one request at a time ---------------------------------------------------------------

_dispatch_lock = threading.RLock()


def _install_serialised_dispatch() -> None:
    from moto.core.responses import BaseResponse

    original = BaseResponse._dispatch

    def dispatch(self: Any, *args: Any, **kwargs: Any) -> Any:
        # Re-entrant: a handler may call another service in-process on the same thread.
        with _dispatch_lock:
            return original(self, *args, **kwargs)

    setattr(BaseResponse, "_dispatch", dispatch)  # noqa: B010 (patching a method)
