"""Scaled time for moto's interpreter (defect 6).

6. Retry intervals, Wait states and task timeouts run in real time. `set_time_speed(factor)`
   scales them (tests), without touching the compiled definitions. (A Wait state waits as
   long as a retry: jobctl's only Wait is the counted retry loop's interval.)

Installed by copying `TimeoutAtSpeed`'s method onto moto's `Timeout` (the base of every
TimeoutSeconds kind, which moto never looks up by name) and by giving moto's retrier a
clock whose `sleep` is scaled. Invariant: the speeds are read at each wait, so changing
them affects the next wait, not one in progress; 1.0 is real time.
"""

from __future__ import annotations

import time

from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import Timeout
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import (
    WaitFunction,
)
from moto.stepfunctions.parser.asl.eval.environment import Environment

from jobctl.local.moto.hook import Override, Patch, methods_onto


class _Speeds:
    retry = 1.0
    timeout = 1.0


def set_time_speed(factor: float, *, timeouts: float | None = None) -> None:
    """Scale Retry intervals and task TimeoutSeconds (0.001: 30 s take 30 ms); 1.0 is real.

    `timeouts` scales TimeoutSeconds separately (default: `factor`): `jobctl local` speeds
    up retry waits but leaves real processes their real timeouts.
    """
    _Speeds.retry = factor
    _Speeds.timeout = factor if timeouts is None else timeouts


class TimeoutAtSpeed(Timeout):
    def _eval_body(self, env: Environment) -> None:
        # Both of moto's timers (the state's and the .sync wait) read this value.
        env.stack.append(self._eval_seconds(env=env) * _Speeds.timeout)


class WaitAtSpeed(WaitFunction):
    def _wait_interval(self, env: Environment, wait_seconds: int) -> None:
        # moto waits on the execution's event (set when it stops): keep that, scaled.
        deadline = time.monotonic() + wait_seconds * _Speeds.retry
        while env.is_running():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            env.program_state_event.wait(left)


class ScaledClock:
    """What moto's retrier sees as its `time` module: only `sleep` is scaled.

    (In these bodies `time` is the module: a function does not see its class's names.)
    """

    @staticmethod
    def sleep(seconds: float) -> None:
        time.sleep(seconds * _Speeds.retry)

    @staticmethod
    def time() -> float:
        return time.time()

    @staticmethod
    def monotonic() -> float:
        return time.monotonic()


PATCHES = (
    *methods_onto(Timeout, TimeoutAtSpeed),
    *methods_onto(WaitFunction, WaitAtSpeed),
    Patch(retrier_decl, "time", ScaledClock),
)
OVERRIDES = (Override(TimeoutAtSpeed, Timeout), Override(WaitAtSpeed, WaitFunction))
