"""The ECS double: what ECS does with each task the fixed integration starts behind moto.

moto's ECS never runs a container, so a task's fate is decided here: by a test (`finish`,
`script`), or by the local agent when the task's process exits. The fixed RunTask
integration (`ecs_task`) reports every start and asks for every exit, records every RunTask
request as moto receives it (`requests`), and takes the faults `fail_run_task` injects (no
capacity, throttling, and the API errors no retry can fix).

Invariants: one double per process (`ecs_double`), shared by every install of the fixes;
it is thread-safe (moto's interpreter runs executions and .sync waits in threads); no moto
import here, so the agent can use `StartedTask` without loading moto.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

DEFAULT_REASON = "Essential container in task exited"
# What `fail_run_task` can make RunTask do: place nothing (capacity), or raise an API error
# (code, message), as ECS answers them.
API_ERRORS = {
    "throttle": ("ThrottlingException", "Rate exceeded"),
    "cluster_not_found": ("ClusterNotFoundException", "Cluster not found."),
    "access_denied": (
        "AccessDeniedException",
        "User: arn:aws:sts::123456789012:assumed-role/jobctl-job/x is not authorized to "
        "perform: ecs:RunTask on resource: arn:aws:ecs:us-east-1:123456789012:"
        "task-definition/app-batch:1 because no identity-based policy allows the "
        "ecs:RunTask action",
    ),
    "invalid_parameter": (
        "InvalidParameterException",
        "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
    ),
}
FAULTS = ("capacity", *API_ERRORS)


@dataclass(frozen=True)
class TaskExit:
    """How a task ended: its essential container's exit code and ECS's stop reason."""

    exit_code: int | None
    reason: str = DEFAULT_REASON
    stop_code: str = "EssentialContainerExited"


@dataclass
class StartedTask:
    """A task RunTask started; `overrides` are PascalCase, as the state machine wrote them."""

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
    capacity, be throttled or fail with an API error no retry fixes (`API_ERRORS`); every
    request is kept in `requests`. Thread-safe: the interpreter runs executions in threads.
    """

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self.started: list[StartedTask] = []
        # Every RunTask request, boto-shaped (camelCase), as it goes to moto or to a fault.
        self.requests: list[dict[str, Any]] = []
        self._exits: dict[str, TaskExit] = {}
        self._scripts: dict[str, deque[TaskExit]] = {}
        self._faults: deque[str] = deque()
        self._listeners: list[Callable[[StartedTask], None]] = []

    def reset(self) -> None:
        with self._lock:
            self.started.clear()
            self.requests.clear()
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
        """The next `times` RunTask calls fail: a kind of `FAULTS`."""
        if kind not in FAULTS:
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

    # --- called by the fixed integration (ecs_task) ------------------------------------

    def _take_fault(self, request: dict[str, Any]) -> str | None:
        with self._lock:
            self.requests.append(copy.deepcopy(request))
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
