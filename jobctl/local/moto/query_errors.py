"""A JSONata expression that throws is `States.QueryEvaluationError` (defect 12).

AWS: a JSONata expression that throws (`$error(...)` included) fails the state with
`States.QueryEvaluationError`, a built-in error name a Retry or Catch matches, recorded as
an EvaluationFailed event ("EvaluationFailedEventDetails: details about an evaluation
failure ... for example, when a JSONata expression throws an error",
https://docs.aws.amazon.com/step-functions/latest/apireference/API_EvaluationFailedEventDetails.html;
the error table of aws/agent-toolkit-for-aws, skills/.../aws-step-functions/references/
error-handling.md: "States.QueryEvaluationError | JSONata expression evaluation failed").
moto 5.2.5 lets the evaluator's exception escape `StringJSONata._eval_body`, and the
interpreter reports it as the uncatchable `States.Runtime`. Fixed by turning the evaluator's
JException into the FailureEventException moto itself raises for a JSONata result it
refuses (moto.stepfunctions.parser.asl.jsonata.validations). The optimized DynamoDB
integration (`arn:aws:states:::dynamodb:*`) then renames any failure of its state, that one
included, to the retryable `DynamoDB.AmazonDynamoDBException`; a failure of the state's
own evaluation now keeps its name there too, as in every other integration.
"""

from __future__ import annotations

from typing import Any

import jsonata
from moto.stepfunctions.parser.api import EvaluationFailedEventDetails, HistoryEventType
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
from moto.stepfunctions.parser.asl.component.common.string import string_expression
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_dynamodb,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

from jobctl.local.moto.hook import Patch

_original = string_expression.StringJSONata._eval_body


def eval_body(self: Any, env: Any) -> None:
    try:
        _original(self, env)
    except jsonata.JException as error:
        name = StatesErrorName(typ=StatesErrorNameType.StatesQueryEvaluationError)
        details = EvaluationFailedEventDetails(error=name.error_name, cause=str(error))
        event: Any = EventDetails  # a TypedDict of every event kind; one key is enough
        env.event_manager.add_event(
            context=env.event_history_context,
            event_type=HistoryEventType.EvaluationFailed,
            event_details=event(evaluationFailedEventDetails=details),
        )
        raise FailureEventException(
            failure_event=FailureEvent(
                env=env,
                error_name=name,
                event_type=HistoryEventType.EvaluationFailed,
                event_details=event(evaluationFailedEventDetails=details),
            )
        ) from error


_DynamoDB = state_task_service_dynamodb.StateTaskServiceDynamoDB
_original_from_error = _DynamoDB._from_error


def from_error(self: Any, env: Any, ex: Exception) -> FailureEvent:
    if isinstance(ex, FailureEventException):
        return ex.failure_event
    failure: FailureEvent = _original_from_error(self, env, ex)
    return failure


PATCHES = (
    Patch(string_expression.StringJSONata, "_eval_body", eval_body),
    Patch(_DynamoDB, "_from_error", from_error),
)
