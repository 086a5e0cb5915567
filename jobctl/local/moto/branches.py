"""moto's Parallel state, fixed (defect 10): a branch failing with a `States.*` error.

When a branch of a Parallel state fails, AWS fails the Parallel state with the branch's
error, so the Parallel's Retry and Catch match `States.TaskFailed` or `States.Timeout` as
they would on the Task itself. moto re-raises every branch error as a `CustomErrorName`,
whose constructor refuses names starting with `States.`: the interpreter dies with
ValueError. Fixed by building the branch error as a `StatesErrorName` when it is one.
Invariant: other error names are built exactly as moto builds them.
"""

from __future__ import annotations

from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import (
    CustomErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.error_name import ErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
    StatesErrorName,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_parallel import branches_decl

from jobctl.local.moto.hook import Patch


def branch_error_name(error_name: str) -> ErrorName:
    """The error a failed branch raises on its Parallel state (moto: `CustomErrorName`)."""
    if error_name.startswith("States."):
        return StatesErrorName.from_name(error_name)
    return CustomErrorName(error_name=error_name)


PATCHES = (Patch(branches_decl, "CustomErrorName", branch_error_name),)
