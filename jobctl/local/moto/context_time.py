"""`$states.context.Execution.StartTime` as AWS writes it (defect 13).

AWS: the Context object's `Execution.StartTime` is an ISO 8601 string in UTC with
milliseconds and `Z`, e.g. "2019-03-26T20:14:13.192Z" ("Accessing execution data from the
Context object in Step Functions",
https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html).
moto 5.2.5 puts the execution's start datetime there (`+00:00`, microseconds once written
out). Fixed by formatting it as AWS does when the evaluation environment is built.
"""

from __future__ import annotations

import datetime
from typing import Any

from moto.stepfunctions.parser.backend import execution_worker

from jobctl.local.moto.hook import Patch

_original = execution_worker.ExecutionWorker._get_evaluation_environment


def aws_time(value: Any) -> Any:
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if not isinstance(value, datetime.datetime):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    utc = value.astimezone(datetime.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def get_evaluation_environment(self: Any) -> Any:
    env = _original(self)
    execution = env.states.context_object.context_object_data["Execution"]
    execution["StartTime"] = aws_time(execution["StartTime"])
    return env


PATCHES = (
    Patch(
        execution_worker.ExecutionWorker, "_get_evaluation_environment", get_evaluation_environment
    ),
)
