"""moto 5.2.5 as a faithful Step Functions + ECS runtime: every fix jobctl needs, one hook.

jobctl's state machines are proven by executing them on moto's Step Functions interpreter
(tests) and run on it locally (`jobctl local`). moto 5.2.5 gets these wrong; `install()`
fixes each, and tests/functional/test_moto_runtime.py fails loudly if moto changes under us
(a defect fixed upstream, or a method a fix overrides renamed or given a new signature).
Each defect is described in full beside its fix:

1. JSONata is not evaluated (`jsonata_eval`).
2. `ecs:runTask(.sync)` never reaches moto's ECS: no PascalCase/boto conversion (`ecs_task`).
3. Container exit codes are ignored: `.sync` succeeds when a container exits 1 (`ecs_task`).
4. Retries after a failed `.sync` attempt end at once with `States.Timeout` (`ecs_task`).
5. RunTask failures crash and ECS API errors surface as `States.Runtime` (`ecs_task`).
6. Retry intervals and task timeouts run in real time: `set_time_speed` (`timing`).
7. awsvpc RunTask crashes without VPC DNS hostnames (`eni`).
8. `aws-sdk:*` integrations do not convert shapes either (`ecs_task`).
9. Backends are not thread-safe: dispatch is serialised (`dispatch`).
10. A Parallel branch failing with a `States.*` error kills the interpreter (`branches`).
11. A string variable holding `"` or `\\` breaks every expression reading variables
    (`jsonata_eval`).
12. A JSONata expression that throws fails the state with the uncatchable `States.Runtime`,
    not `States.QueryEvaluationError` (`query_errors`).
13. `$states.context.Execution.StartTime` is not in AWS's format (`context_time`).
14. The tagging API lists no EventBridge rule: a cheap plan reads every rule (`tagging`).
Not a defect: `start_execution` without a name gives every execution the same ARN; jobctl
always names executions.

`with install() as ecs:` applies the fixes for the block and, on exit, restores every
attribute they patched to the very object it was. A bare `install()` keeps them (the
long-lived `jobctl local` process, fixtures). Installs nest: the first applies the fixes,
the last one released undoes them, and every one hands out the same `ecs_double`.

Invariants: the fix modules import moto's internals, so they are imported only after the
version check (`fixes()`); importing this package loads no moto (the agent imports it for
`StartedTask`). Undo only when no execution is running: one in flight keeps the service
objects it was built with but would see the other patches go.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from jobctl.local.moto.ecs_double import (
    DEFAULT_REASON,
    EcsDouble,
    StartedTask,
    TaskExit,
    ecs_double,
)
from jobctl.local.moto.hook import Override, Patch, Patches

__all__ = [
    "DEFAULT_REASON",
    "MOTO_VERSION",
    "EcsDouble",
    "Fixes",
    "Installation",
    "StartedTask",
    "TaskExit",
    "ecs_double",
    "fixes",
    "install",
    "installed",
    "original",
    "set_time_speed",
]

MOTO_VERSION = "5.2.5"

_lock = threading.Lock()
_patches = Patches()
_installs = 0


@dataclass(frozen=True)
class Fixes:
    """Every fix: the patches `install` applies, the overrides the canary checks."""

    patches: tuple[Patch, ...]
    overrides: tuple[Override, ...]


def fixes() -> Fixes:
    """Raises RuntimeError on another moto version (before importing moto's internals)."""
    import moto

    if moto.__version__ != MOTO_VERSION:
        raise RuntimeError(
            f"jobctl's moto fixes were checked on moto {MOTO_VERSION}, found {moto.__version__}: "
            "re-check each defect listed in jobctl/local/moto/"
        )
    from jobctl.local.moto import (
        branches,
        context_time,
        dispatch,
        ecs_task,
        eni,
        jsonata_eval,
        query_errors,
        tagging,
        timing,
    )

    return Fixes(
        patches=(
            *jsonata_eval.PATCHES,
            *ecs_task.PATCHES,
            *eni.PATCHES,
            *timing.PATCHES,
            *dispatch.PATCHES,
            *branches.PATCHES,
            *query_errors.PATCHES,
            *context_time.PATCHES,
            *tagging.PATCHES,
        ),
        overrides=(*ecs_task.OVERRIDES, *timing.OVERRIDES, *dispatch.OVERRIDES),
    )


class Installation:
    """One `install()`: the ECS double, and (as a context manager) the undo of this install."""

    def __init__(self) -> None:
        self.ecs: EcsDouble = ecs_double
        self._released = False

    def __enter__(self) -> EcsDouble:
        return self.ecs

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()

    def release(self) -> None:
        """Release this install (idempotent); releasing the last one undoes every fix."""
        global _installs
        with _lock:
            if self._released:
                return
            self._released = True
            _installs -= 1
            if _installs == 0:
                _patches.undo()


def install() -> Installation:
    """Apply every fix unless already applied. Raises RuntimeError on another moto version."""
    global _installs
    with _lock:
        if _installs == 0:
            try:
                _patches.apply(fixes().patches)
            except BaseException:
                _patches.undo()  # never half-installed
                raise
        _installs += 1
    return Installation()


def installed() -> bool:
    with _lock:
        return _patches.applied


def original(owner: Any, name: str) -> Any:
    """moto's own `owner.name`, whether or not the fixes are installed (hook.MISSING if none)."""
    with _lock:
        return _patches.original(owner, name)


def set_time_speed(factor: float, *, timeouts: float | None = None) -> None:
    """Scale Retry intervals and task TimeoutSeconds (0.001: 30 s take 30 ms); 1.0 is real.

    `timeouts` scales TimeoutSeconds separately (default: `factor`): `jobctl local` speeds
    up retry waits but leaves real processes their real timeouts. Takes effect while the
    fixes are installed.
    """
    from jobctl.local.moto import timing  # imports moto: call after install()

    timing.set_time_speed(factor, timeouts=timeouts)
