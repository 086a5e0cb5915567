"""One resolved job -> its Step Functions state machine (Amazon States Language, JSONata).

Owns the run protocol every job follows (Step Functions bills each state entered):

    Claim -> RunTask -> Finish                              a success: 3 transitions
      |         | error (after native retries)   | refused (a recovery, a lost lock)
      |         v                                 v
      |      [Classify -> Wait -> RunTaskAgain]  RecordSuccess -> Release -> [Recovered? -> NotifyRecovery]
      |         v
      |      FinishFailed -> Alert -> Failed           a failure: 5 + retries
      | refused: bad input, or a late start (QueryEvaluationError)
      +--> [RecordSkip (late)] -> RecordInvalid -> Alert -> Failed
      | conflict (TransactionCanceled)
      +--> Diagnose -> Blocked? -> RecordSkip | [StopHolder] -> ClaimAgain

- Claim, the first state, admits the run and claims it. Its run record's status
  (`admission`) throws for input the API would have refused (`input_error`: StartExecution
  is open to anyone with the permission, and what they pass as `triggered_by` is only a
  claim) and for a scheduled run started later than its starting_deadline; the Catch on
  `States.QueryEvaluationError` decides again from the input which it was. Otherwise one
  DynamoDB transaction: the job is not paused (META item), this scheduled minute was not
  claimed before (DEDUPE item: EventBridge delivers at least once), the concurrency lock is
  free or its lease expired (forbid/replace), and the RUNNING run record is written. It
  assigns every variable later states read, on success and in each Catch.
- Finish records the success and releases the lock in one transaction, conditioned on the
  job's last outcome not being a failure, so "recovered?" costs nothing without news;
  FinishFailed does the same for a failure. Refused, the step-by-step path writes what it
  may and announces the recovery.
- A manual run or re-run of a `forbid` job may carry the operator's `concurrency: allow`
  (recorded as the run's `concurrency_override`): its Claim, Finish and Release leave the
  lock alone (neither taken, waited for nor freed: the holder keeps it), through the same
  states and transitions; pause, dedupe and the run record are as for every run.
- Retries are split by failure class: the job itself failing (States.TaskFailed) retries
  natively with the job's policy; States.Timeout only with `retry.on_timeout`. An ECS API
  error goes to `Classify`: a configuration error (CONFIGURATION_ERRORS, by the error code
  in the Cause) fails the run at once as Job.ConfigurationError; capacity and throttling
  retry through counted Wait states with the capacity policy.
- JSONata is required for time arithmetic (late starts, lock leases, TTLs), which JSONPath
  cannot express. Environment-scoped ARNs appear as `${Partition}`, `${Region}` and
  `${AccountId}` placeholders, filled at deploy time.
Invariants: pure and deterministic (same job -> byte-identical JSON); every Task has a
Catch path that ends in a recorded state; no state reads the wall clock except via $millis(),
$now() and the execution's start time;
a string from jobs.yaml is never evaluated: it is emitted through `_literal` (a field) or
`_quote`/`_json` (inside an expression) and reaches AWS as written, whatever it contains.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from chalicelib.alerts.message import SCHEMA as ALERT_SCHEMA
from chalicelib.alerts.message import FailureContext, RecoveryContext, RunContext
from chalicelib.core import history as schema
from chalicelib.core.history import (
    CAUSE_LIMIT,
    DEDUPE_PREFIX,
    FAILED_STATUSES,
    META,
    PK,
    RUN_PREFIX,
    SCHEDULED_MINUTE_CHARS,
    SEPARATOR,
    SK,
    TTL,
    RunStatus,
)
from chalicelib.core.names import shared_names
from chalicelib.core.runtime import lease_seconds
from chalicelib.ops.parameters import MAX_VALUE
from jobctl.registry.models import ResolvedJob

Json = dict[str, Any]

CAPACITY_ERRORS = ["ECS.AmazonECSException", "AmazonECS.Unknown", "ECS.ThrottlingException"]
DYNAMODB_TRANSIENT = [
    "DynamoDb.ProvisionedThroughputExceededException",
    "DynamoDb.ThrottlingException",
    "DynamoDb.InternalServerErrorException",
    "DynamoDb.RequestLimitExceededException",
    "DynamoDB.ProvisionedThroughputExceededException",
    "DynamoDB.ThrottlingException",
    "DynamoDB.InternalServerErrorException",
    "DynamoDB.RequestLimitExceededException",
    "DynamoDB.AmazonDynamoDBException",
]
# ECS API errors that no retry fixes, by the error code Step Functions puts in the Cause of
# ECS.AmazonECSException ("... (Service: AmazonECS; Status Code: 400; Error Code:
# ClusterNotFoundException; ...)"), as a JSONata regex. Throttling (ThrottlingException) and
# server errors stay retryable. IAM denials are also matched by their message.
CONFIGURATION_ERRORS = (
    "(AccessDenied|ClusterNotFound|InvalidParameter|PlatformUnknown"
    "|PlatformTaskDefinitionIncompatibility|UnsupportedFeature)Exception"
    "|ClientException|is not authorized to perform"
)
CONFIGURATION_ERROR = "Job.ConfigurationError"
INVALID_INPUT = "Job.InvalidInput"
# Bounds on what a starter passes in the execution input, the API's own (chalicelib/ops:
# Reason's max_length, MAX_VALUE, ManualRunRequest's parameter count); an IAM ARN is at
# most 2,048 characters, an execution name 80.
INPUT_LIMITS = {"reason": 500, "triggered_by": 2048, "rerun_of": 80, "scheduled_time": 64}
MAX_PARAMETERS = 50
TRIGGERS = ["schedule", "manual", "rerun", "slack"]
# What a `scheduled_time` must look like (EventBridge's `time`, Scheduler's scheduled time):
# an ISO 8601 UTC time, so the late check can compare it as text (`late`). A JSONata regex,
# kept to what ECMAScript (AWS) and Python (moto) read alike.
SCHEDULED_TIME = (
    "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]"
    "(:[0-5][0-9](\\.[0-9]+)?)?Z$"
)
# An operator's explicit `concurrency: allow` (the API's `concurrency` field): a manual run or
# re-run of a `forbid` job that runs beside the lock's holder, taking no lock. Honoured for
# these triggers only: a scheduled delivery carrying it is refused as invalid input.
OVERRIDE_TRIGGERS = ["manual", "rerun"]
CONCURRENCY_OVERRIDE = "allow"
CONDITION_FAILED = ["DynamoDB.ConditionalCheckFailedException"]
# What Step Functions fails a state with when a JSONata expression throws (`$error`).
QUERY_ERROR = "States.QueryEvaluationError"
TRANSACTION_CANCELED = ["DynamoDb.TransactionCanceledException"]
# Dedupe markers and skipped runs expire; run records follow the history retention.
DEDUPE_TTL_SECONDS = 7 * 86400
CLAIM_ATTEMPTS = 3

ARN_PREFIX = "arn:${Partition}"
# One run per job and scheduled minute (EventBridge delivers at least once); manual runs are
# keyed by their own execution name (`schema.dedupe_sk`, in JSONata). Only variables are read
# here: after the first state, $states.input is the previous state's output, not the
# execution input.
DEDUPE_KEY = (
    f"$scheduled_time != '' ? '{DEDUPE_PREFIX}' & "
    f"$substring($scheduled_time, 0, {SCHEDULED_MINUTE_CHARS}) : '{DEDUPE_PREFIX}' & $run_id"
)


# A JSONata string literal ('...' or "...", with JSON's backslash escapes), or one run of
# whitespace outside them.
_STRING_OR_SPACE = re.compile(r"""('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")|\s+""", re.DOTALL)


def _expr(text: str) -> str:
    """A JSONata expression field. Whitespace is folded so definitions stay one-line-diffable.

    Only whitespace between tokens is folded: string literals inside the expression (a
    `_quote`d value from jobs.yaml) keep every character.
    """
    folded = _STRING_OR_SPACE.sub(lambda m: m.group(1) or " ", text).strip()
    return "{% " + folded + " %}"


def _json(value: Any) -> str:
    """`value` (strings, lists, objects of them) as a JSONata literal (JSON's escapes).

    `${` is written `\\u0024{`, so deploy's `${Region}`-style placeholders
    (chalicelib.core.arns.fill_placeholders) never match inside a value. Non-ASCII stays
    as is: JSON escapes would split characters outside the BMP into surrogate pairs, which
    a JSONata evaluator need not rejoin.
    """
    return json.dumps(value, ensure_ascii=False).replace("${", "\\u0024{")


def _quote(value: str) -> str:
    """`value` as a JSONata string literal."""
    return _json(value)


def _literal(value: str) -> str:
    """A string field whose value comes from jobs.yaml: it reaches AWS exactly as written.

    Step Functions evaluates any string field that starts with `{%` and ends with `%}` as
    JSONata (AWS: "Transforming data with JSONata in Step Functions"); such a value, or one
    that merely contains either marker, is emitted as an expression that is one string
    literal, so it evaluates to itself. So is a value holding `${`, which deploy would
    otherwise take for one of its placeholders. Every other value is emitted as is
    (readable). Every literal the builder takes from the registry goes through here.
    """
    if "{%" in value or "%}" in value or "${" in value:
        return _expr(_quote(value))
    return value


def _json_input(name: str) -> str:
    """The execution input's field `name` as a string ('' when absent)."""
    return f"($exists($states.input.{name}) ? $string($states.input.{name}) : '')"


def _jsonata(value: Any) -> str:
    """A field value (`{% expr %}` strings, literals, objects and lists of them) as one JSONata
    expression building the same value, to choose between whole values in an expression."""
    if isinstance(value, str) and value.startswith("{%") and value.endswith("%}"):
        return f"({value[2:-2].strip()})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_quote(k)}: {_jsonata(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_jsonata(item) for item in value) + "]"
    return _json(value)


# A JSONata string literal, or a variable reference `$name` outside one.
_STRING_OR_VARIABLE = re.compile(
    r"""('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")|\$([A-Za-z_]\w*)""", re.DOTALL
)


def _inline(value: Any, definitions: dict[str, str]) -> Any:
    """`value` (a field, or objects and lists of them) with every reference to a variable in
    `definitions` replaced by its defining expression, in parentheses.

    For the first state, which assigns the variables: its own expressions are evaluated
    before its Assign, so they must compute what the variables will hold. Definitions read
    only `$states`, never a variable, so one pass is enough. String literals (a `_quote`d
    value from jobs.yaml) are left as written, whatever they contain.
    """
    if isinstance(value, str) and value.startswith("{%") and value.endswith("%}"):

        def replace(match: re.Match[str]) -> str:
            name = match.group(2)
            if name is None or name not in definitions:
                return match.group(0)
            return f"({definitions[name]})"

        return _expr(_STRING_OR_VARIABLE.sub(replace, value[2:-2]))
    if isinstance(value, dict):
        return {key: _inline(item, definitions) for key, item in value.items()}
    if isinstance(value, list):
        return [_inline(item, definitions) for item in value]
    return value


def _wait_name(seconds: int) -> str:
    return f"Wait{seconds}s"


def _s(text: str) -> Json:
    return {"S": text}


def _sx(expression: str) -> Json:
    return {"S": _expr(expression)}


def _nx(expression: str) -> Json:
    return {"N": _expr(f"$string({expression})")}


class _Builder:
    def __init__(self, job: ResolvedJob) -> None:
        self.job = job
        self.table = shared_names(job.project, job.env).history_table
        self.topic = (
            f"{ARN_PREFIX}:sns:${{Region}}:${{AccountId}}:"
            f"{shared_names(job.project, job.env).alert_topic}"
        )
        self.locking = job.concurrency != "allow"
        # Only a forbid job's run may be started beside the holder (`concurrency: allow`).
        self.overridable = job.concurrency == "forbid"
        self.job_pk = schema.job_pk(job.name)

    # --- keys (the formats of chalicelib.core.history, as JSONata where they vary) --------

    def key(self, sort_key: Json) -> Json:
        return {PK: _s(self.job_pk), SK: sort_key}

    def run_key(self) -> Json:
        return self.key(_sx(f"'{RUN_PREFIX}' & $run_id"))

    def dynamodb_retry(self) -> Json:
        return {
            "ErrorEquals": DYNAMODB_TRANSIENT,
            "IntervalSeconds": 1,
            "MaxAttempts": 5,
            "BackoffRate": 2.0,
            "JitterStrategy": "FULL",
        }

    # --- states --------------------------------------------------------------------------

    def build(self) -> Json:
        job = self.job
        recovery = "recovery" in job.alerts.events
        failure = "failure" in job.alerts.events
        alert_or_fail = "Alert" if failure else "Failed"
        states: Json = {
            "Claim": self.claim(first=True),
            "ClaimAgain": self.claim(first=False),
            "Diagnose": self.diagnose(),
            "Blocked?": self.blocked(),
            "RecordSkip": self.record_skip(),
            "Skipped": {"Type": "Succeed", "Comment": "not run: see the run record's reason"},
            "RecordInvalid": self.record_invalid(alert_or_fail),
            "RunTask": self.run_task(first=True),
            "Classify": self.classify(),
            **self.waits(),
            "RunTaskAgain": self.run_task(first=False),
            "Finish": self.finish(),
            "RecordSuccess": self.record_success(),
            "Release": self.release(RunStatus.SUCCEEDED, "Recovered?" if recovery else None),
            "Succeeded": {"Type": "Succeed"},
            "FinishFailed": self.finish_failed(alert_or_fail),
            "RecordFailure": self.record_failure(),
            "ReleaseFailed": self.release("$status", alert_or_fail),
            "Failed": {
                "Type": "Fail",
                "Error": _expr(
                    f"$status = '{RunStatus.TIMED_OUT}' ? 'Job.TimedOut' : 'Job.Failed'"
                ),
                "Cause": _expr("$string($failure.Error) & ': ' & $string($failure.Cause)"),
            },
        }
        if job.concurrency == "replace":
            states["StopHolder"] = self.stop_holder()
        if recovery:
            states["Recovered?"] = self.recovered()
            states["NotifyRecovery"] = self.publish("recovery", None)
        if failure:
            states["Alert"] = self.publish("failure", "Failed")
        env = f"/{job.env}" if job.env else ""
        return {
            "Comment": (
                f"jobctl {job.project}{env}/{job.name}: generated by `jobctl build` from "
                "jobs.yaml; do not edit"
            ),
            "QueryLanguage": "JSONata",
            "StartAt": "Claim",
            "States": states,
        }

    def alert_or_fail(self) -> str:
        """Where a failure before the task started goes (no run record could be written)."""
        return "Alert" if "failure" in self.job.alerts.events else "Failed"

    def admission(self) -> str:
        """The first Claim's run-record status: RUNNING, or a throw that refuses the run.

        Input the API would have refused (`input_error`) and, with a starting_deadline, a
        scheduled run that starts late throw (`$error`): Step Functions fails the state with
        `States.QueryEvaluationError` before any request is made, and the Claim's Catch
        (`refusal_variables`) decides from the input again which it was. Both checks read
        the input and the execution's start time only, so the Catch reaches the same verdict.
        """
        checks = "$refused != '' ? $error($refused) :"
        late = self.late()
        if late:
            checks += f" {late} ? $error('the run started later than its starting_deadline') :"
        return f"( $refused := {self.input_error()}; {checks} '{RunStatus.RUNNING}' )"

    def late(self) -> str:
        """A JSONata condition: a scheduled run started later than its starting_deadline
        ('' for a job without one), for input `input_error` accepts.

        The scheduled time is compared as text with the latest on-time one, computed from
        the execution's start time: two ISO 8601 UTC times (SCHEDULED_TIME) order as their
        text does, to the second. The starter's text is never parsed, so no input can make
        the check throw (a `$toMillis` of "2026-02-30T08:00:00Z" would, in the Catch too).
        """
        if self.job.starting_deadline is None:
            return ""
        deadline_ms = self.job.starting_deadline * 1000
        scheduled = _json_input("scheduled_time")
        return (
            f"({scheduled} != '' and {scheduled}"
            f" < $fromMillis($toMillis($states.context.Execution.StartTime) - {deadline_ms}))"
        )

    def refusal_variables(self) -> Json:
        """What the first Claim's Catch of a refusal (`admission`) assigns besides the
        variables: a late start is skipped (`late`), anything else fails the run, with the
        input check's message (`Job.InvalidInput`) or, for an expression that threw
        unexpectedly, Step Functions' own error."""
        error = self.input_error()
        late = self.late()
        verdict = f"{error} = '' and {late}"
        return {
            "skip_reason": _expr(f"{verdict} ? 'late' : 'invalid'") if late else "invalid",
            "status": (
                _expr(f"{verdict} ? '{RunStatus.SKIPPED}' : '{RunStatus.FAILED}'")
                if late
                else RunStatus.FAILED
            ),
            "failure": _expr(
                f"( $refused := {error}; $refused != ''"
                f" ? {{'Error': '{INVALID_INPUT}', 'Cause': $refused}} : $states.errorOutput )"
            ),
            "attempts": 0,
            "detail": _expr("{'exit_code': null, 'stopped_reason': '', 'task_arn': ''}"),
        }

    def run_variables(self) -> Json:
        """Variables every later state uses, assigned by the first Claim whatever its outcome."""
        return {name: _expr(value) for name, value in self.definitions().items()}

    def definitions(self) -> dict[str, str]:
        """Each variable's defining JSONata expression; each reads only `$states` (the
        execution input, which is the first state's input, and the context object)."""
        return {
            "run_id": "$states.context.Execution.Name",
            "execution": "$states.context.Execution.Id",
            # Strings whatever the starter passed, so the claim can record any input;
            # `input_error` then fails a run whose input the API would have refused.
            "trigger": (
                "$exists($states.input.trigger) ? $string($states.input.trigger) : 'schedule'"
            ),
            "scheduled_time": (
                "$exists($states.input.scheduled_time) ? $string($states.input.scheduled_time) : ''"
            ),
            # What the starter says (the API: the caller API Gateway verified); Step
            # Functions does not tell a state machine who called StartExecution.
            "triggered_by": (
                "$exists($states.input.triggered_by) ? $string($states.input.triggered_by) : ''"
            ),
            "parameters": "$exists($states.input.parameters) ? $states.input.parameters : {}",
            "reason": "$exists($states.input.reason) ? $string($states.input.reason) : ''",
            "rerun_of": "$exists($states.input.rerun_of) ? $string($states.input.rerun_of) : ''",
            # 'allow': this run takes no lock and runs beside the holder (`input_error`
            # refuses the field on other triggers and other policies).
            "concurrency_override": (
                "($exists($states.input.concurrency)"
                f" and $states.input.concurrency = '{CONCURRENCY_OVERRIDE}'"
                " and $exists($states.input.trigger)"
                f" and $states.input.trigger in {_json(OVERRIDE_TRIGGERS)})"
                f" ? '{CONCURRENCY_OVERRIDE}' : ''"
                if self.overridable
                else "''"
            ),
            # The same instant in every state and in the run record (AWS's format:
            # "2019-03-26T20:14:13.192Z"), also what the late check measures from.
            "started_at": "$states.context.Execution.StartTime",
            "claim_attempts": "0",
            "victim": "'none'",
            "skip_reason": "'conflict'",
            "meta": "{}",
            "duplicate": "false",
            "status": f"'{RunStatus.RUNNING}'",
            "failure": "{}",
            "detail": "{}",
            "attempts": "1",
            "task_arn": "''",
            "previous_status": "''",
            # The retry loop after an ECS API error (`classify`): attempts made before the
            # current RunTask state was entered, retries used per class.
            "tried": "0",
            "capacity_used": "0",
            "job_used": "0",
        }

    def input_error(self) -> str:
        """'' if the execution input is one the API could have sent, else why not.

        Anyone allowed `states:StartExecution` can pass any input, so the machine repeats
        the API's checks that JSONata expresses with the same semantics: `trigger` is one
        of TRIGGERS; `reason`, `triggered_by`, `rerun_of`, `scheduled_time` are strings
        within INPUT_LIMITS; `parameters` is an object of at most MAX_PARAMETERS entries
        whose declared ones are strings of at most MAX_VALUE characters ($length counts
        characters, as Python's len does) in their `enum`; a `scheduled_time` is an
        ISO 8601 UTC time (SCHEDULED_TIME, so the late check can compare it); required
        parameters without a default are given; `concurrency` (`concurrency_check`) is
        'allow', on a manual run or re-run, of a job whose policy is not `replace`.
        Undeclared names are not refused here but dropped (`overrides`): they never reach
        the container.
        Patterns are checked by the API and CLI only: JSONata's regular expressions are
        ECMAScript's on AWS and Python's on moto, neither the API's engine, so a check here
        would refuse values the API accepted, or prove nothing offline.
        """
        parameters = self.job.parameters
        enums = {name: list(p.enum) for name, p in sorted(parameters.items()) if p.enum}
        required = sorted(
            name for name, p in parameters.items() if p.required and p.default is None
        )
        fields = " ".join(
            f"($exists($in.{name}) and ($type($in.{name}) != 'string'"
            f" or $length($in.{name}) > {limit}))"
            f" ? '{name} must be a string of at most {limit} characters' :"
            for name, limit in INPUT_LIMITS.items()
        )
        return (
            "( $in := $states.input;"
            f" $names := {_json(sorted(parameters))}; $enums := {_json(enums)};"
            " $p := $exists($in.parameters) ? $in.parameters : {};"
            f" ($exists($in.trigger) and $not($in.trigger in {_json(TRIGGERS)}))"
            f" ? 'trigger must be one of: {', '.join(TRIGGERS)}' :"
            f" {self.concurrency_check()}"
            f" {fields}"
            " ($exists($in.scheduled_time) and $in.scheduled_time != ''"
            f" and $not($contains($in.scheduled_time, /{SCHEDULED_TIME}/)))"
            " ? 'scheduled_time must be an ISO 8601 UTC time, like 2026-12-01T03:00:00Z' :"
            " $type($p) != 'object' ? 'parameters must be an object' :"
            f" $count($keys($p)) > {MAX_PARAMETERS}"
            f" ? 'at most {MAX_PARAMETERS} parameters' :"
            " ( $bad := $filter([$each($p, function($v, $k) {"
            " $not($k in $names) ? '' :"
            " $type($v) != 'string' ? 'parameter ' & $k & ' must be a string' :"
            f" $length($v) > {MAX_VALUE}"
            f" ? 'parameter ' & $k & ' is longer than {MAX_VALUE} characters' :"
            " ($exists($lookup($enums, $k)) and $not($v in $lookup($enums, $k)))"
            " ? 'parameter ' & $k & ' must be one of: ' & $join($lookup($enums, $k), ', ')"
            " : '' })], function($m) { $m != '' });"
            f" $missing := [$filter({_json(required)}, function($n) {{ $not($n in $keys($p)) }})];"
            " $count($bad) > 0 ? $bad[0] :"
            " $count($missing) > 0 ? 'parameter ' & $missing[0] & ' is required' : '' ) )"
        )

    def concurrency_check(self) -> str:
        """The part of `input_error` on `concurrency`: JSONata `cond ? message :` clauses."""
        if self.job.concurrency == "replace":
            return (
                "$exists($in.concurrency) ? 'concurrency cannot be overridden for a job whose"
                " policy is replace: its run would stop the running one' :"
            )
        return (
            "($exists($in.concurrency) and ($type($in.concurrency) != 'string'"
            f" or $in.concurrency != '{CONCURRENCY_OVERRIDE}'))"
            f" ? 'concurrency must be {CONCURRENCY_OVERRIDE}' :"
            " ($exists($in.concurrency) and $not($exists($in.trigger)"
            f" and $in.trigger in {_json(OVERRIDE_TRIGGERS)}))"
            f" ? 'concurrency is only for triggers {', '.join(OVERRIDE_TRIGGERS)}' :"
        )

    def overridden(self, locked: Json, unlocked: Json) -> Json | str:
        """`locked`, or for a run with the concurrency override `unlocked` (forbid jobs)."""
        if not self.overridable:
            return locked
        return _expr(
            f"$concurrency_override = '{CONCURRENCY_OVERRIDE}'"
            f" ? {_jsonata(unlocked)} : {_jsonata(locked)}"
        )

    def record_invalid(self, next_state: str) -> Json:
        """A run whose input the API would have refused: recorded FAILED, no claim, no task.

        One transaction: the run record (FAILED, `Job.InvalidInput`, 0 attempts) and the
        job's last outcome on META (so the next success is announced as a recovery).
        """
        item = self.run_item(f"'{RunStatus.FAILED}'")
        item.update(
            {
                "ended_at": _sx("$now()"),
                "exit_code": {"NULL": True},
                "attempts": {"N": "0"},
                "error": _sx("$string($failure.Error)"),
                "cause": _sx(f"$substring($string($failure.Cause), 0, {CAUSE_LIMIT})"),
                "stopped_reason": _s(""),
                "task_arn": _s(""),
            }
        )
        items = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": item,
                    "ConditionExpression": f"attribute_not_exists({PK})",
                }
            },
            {"Update": self.meta_outcome(f"'{RunStatus.FAILED}'", lock=False, recovery=False)},
        ]
        return {
            "Type": "Task",
            "Comment": "input the API refuses fails the run before its task",
            "Resource": "arn:aws:states:::aws-sdk:dynamodb:transactWriteItems",
            "Arguments": {"TransactItems": items},
            "Retry": [self.dynamodb_retry()],
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": next_state}],
            "Next": next_state,
        }

    def claim(self, *, first: bool) -> Json:
        """The claim transaction; `first` is the execution's first state, `ClaimAgain` the
        claim after a lost race or a stopped holder (reading the variables the first one
        assigned).

        The first Claim assigns every variable (on success and in each Catch), and its own
        expressions read the input directly (`_inline`): a state's Assign is evaluated after
        its Arguments. It also refuses bad input and late starts (`admission`).
        """
        job = self.job
        meta_condition = "attribute_not_exists(paused) OR paused = :false"
        values: Json = {":false": {"BOOL": False}}
        meta_update = "SET job_name = :job"
        values[":job"] = _s(job.name)
        # The override's claim: the pause check alone on META, neither taking nor waiting
        # for the lock (dedupe and the run record as for every run).
        unlocked: Json = {
            "TableName": self.table,
            "Key": self.key(_s(META)),
            "UpdateExpression": meta_update,
            "ConditionExpression": meta_condition,
            "ExpressionAttributeValues": dict(values),
        }
        if self.locking:
            lease_ms = (self._lease_seconds()) * 1000
            meta_condition = (
                f"({meta_condition}) AND (attribute_not_exists(lock_holder) "
                "OR lock_until < :now OR lock_holder = :victim)"
            )
            meta_update += ", lock_holder = :me, lock_until = :until"
            values.update(
                {
                    ":now": _nx("$millis()"),
                    ":until": _nx(f"$millis() + {lease_ms}"),
                    ":me": _sx("$states.context.Execution.Id"),
                    ":victim": _sx("$victim"),
                }
            )
        dedupe = DEDUPE_KEY
        locked: Json = {
            "TableName": self.table,
            "Key": self.key(_s(META)),
            "UpdateExpression": meta_update,
            "ConditionExpression": meta_condition,
            "ExpressionAttributeValues": values,
        }
        items = [
            {"Update": self.overridden(locked, unlocked)},
            {
                "Put": {
                    "TableName": self.table,
                    "Item": {
                        **self.key(_sx(dedupe)),
                        "run_id": _sx("$states.context.Execution.Name"),
                        TTL: _nx(f"$floor($millis() / 1000) + {DEDUPE_TTL_SECONDS}"),
                    },
                    "ConditionExpression": f"attribute_not_exists({PK})",
                }
            },
            {
                "Put": {
                    "TableName": self.table,
                    "Item": self.run_item(self.admission() if first else f"'{RunStatus.RUNNING}'"),
                }
            },
        ]
        canceled: Json = {"ErrorEquals": TRANSACTION_CANCELED, "Next": "Diagnose"}
        failed: Json = {
            "ErrorEquals": ["States.ALL"],
            "Assign": self.failure_variables(RunStatus.FAILED),
            "Next": self.alert_or_fail(),
        }
        state: Json = {
            "Type": "Task",
            "Comment": "not paused + not a duplicate delivery + lock free, in one transaction",
            "Resource": "arn:aws:states:::aws-sdk:dynamodb:transactWriteItems",
            "Arguments": {"TransactItems": items},
            "Retry": [self.dynamodb_retry()],
            "Catch": [canceled, failed],
            "Next": "RunTask",
        }
        if not first:
            return state
        variables = self.run_variables()
        refused: Json = {
            "ErrorEquals": [QUERY_ERROR],
            "Comment": "input the API refuses, or a late start (`admission`)",
            "Assign": {**variables, **self.refusal_variables()},
            "Next": "RecordSkip" if self.late() else "RecordInvalid",
        }
        canceled["Assign"] = variables
        failed["Assign"] = {**variables, **failed["Assign"]}
        state["Comment"] = (
            "admit the run (input, starting deadline) and claim it: not paused + not a "
            "duplicate delivery + lock free, in one transaction; defines every variable"
        )
        state["Assign"] = variables
        state["Catch"] = [refused, canceled, failed]
        inlined: Json = _inline(state, self.definitions())
        return inlined

    def run_item(self, status: str) -> Json:
        return {
            **self.run_key(),
            "run_id": _sx("$run_id"),
            "job": _s(self.job.name),
            "status": _sx(status),
            "trigger": _sx("$trigger"),
            "triggered_by": _sx("$triggered_by"),
            "scheduled_time": _sx("$scheduled_time"),
            "started_at": _sx("$started_at"),
            "execution_arn": _sx("$execution"),
            "parameters": _sx("$string($parameters)"),
            "reason": _sx("$reason"),
            "rerun_of": _sx("$rerun_of"),
            "concurrency_override": _sx("$concurrency_override"),
            # schema.job_time and schema.status_time, in JSONata
            "job_time": _sx(f"$started_at & '{SEPARATOR}' & $run_id"),
            TTL: _nx(f"$floor($millis() / 1000) + {self.job.history_retention}"),
            "status_time": _sx(f"$started_at & '{SEPARATOR}{self.job.name}{SEPARATOR}' & $run_id"),
        }

    def diagnose(self) -> Json:
        keys = [self.key(_s(META)), self.key(_sx(DEDUPE_KEY))]
        return {
            "Type": "Task",
            "Comment": "the claim was refused: find out why (reads only)",
            "Resource": "arn:aws:states:::aws-sdk:dynamodb:transactGetItems",
            "Arguments": {
                "TransactItems": [{"Get": {"TableName": self.table, "Key": key}} for key in keys]
            },
            "Assign": {
                "meta": _expr(
                    "$exists($states.result.Responses[0].Item) ? $states.result.Responses[0].Item : {}"
                ),
                "duplicate": _expr("$exists($states.result.Responses[1].Item)"),
                "claim_attempts": _expr("$claim_attempts + 1"),
            },
            "Retry": [self.dynamodb_retry()],
            "Catch": [
                {
                    "ErrorEquals": ["States.ALL"],
                    "Assign": self.failure_variables(RunStatus.FAILED),
                    "Next": self.alert_or_fail(),
                }
            ],
            "Next": "Blocked?",
        }

    def blocked(self) -> Json:
        choices: list[Json] = [
            {
                "Condition": _expr("$exists($meta.paused.BOOL) and $meta.paused.BOOL"),
                "Assign": {"skip_reason": "paused"},
                "Next": "RecordSkip",
            },
            {
                "Condition": _expr("$duplicate"),
                "Assign": {"skip_reason": "duplicate"},
                "Next": "RecordSkip",
            },
        ]
        held = (
            "$exists($meta.lock_holder.S) and $meta.lock_holder.S != $execution "
            "and $number($meta.lock_until.N) >= $millis()"
        )
        if self.job.concurrency == "forbid":
            choices.append(
                {
                    # A run with the override took no lock: the holder did not refuse it.
                    "Condition": _expr(f"{held} and $concurrency_override = ''"),
                    "Assign": {"skip_reason": "concurrent"},
                    "Next": "RecordSkip",
                }
            )
        elif self.job.concurrency == "replace":
            choices.append(
                {
                    "Condition": _expr(f"{held} and $claim_attempts < {CLAIM_ATTEMPTS}"),
                    "Assign": {"victim": _expr("$meta.lock_holder.S")},
                    "Next": "StopHolder",
                }
            )
        choices.append(
            {
                "Condition": _expr(f"$claim_attempts < {CLAIM_ATTEMPTS}"),
                "Comment": "a concurrent transaction won a race: claim again",
                "Next": "ClaimAgain",
            }
        )
        return {
            "Type": "Choice",
            "Choices": choices,
            "Default": "RecordSkip",
        }

    def stop_holder(self) -> Json:
        return {
            "Type": "Task",
            "Comment": "concurrency: replace stops the running execution, then claims again",
            "Resource": "arn:aws:states:::aws-sdk:sfn:stopExecution",
            "Arguments": {
                "ExecutionArn": _expr("$victim"),
                "Error": "Job.Replaced",
                "Cause": _expr("'replaced by ' & $run_id"),
            },
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "ClaimAgain"}],
            "Next": "ClaimAgain",
        }

    def record_skip(self) -> Json:
        """The SKIPPED run record. With a starting_deadline, the first Claim's refusals come
        here too: a refusal that is not a late start throws, and goes on to RecordInvalid."""
        reason = "$skip_reason"
        catchers: list[Json] = [{"ErrorEquals": ["States.ALL"], "Next": "Skipped"}]
        if self.late():
            reason = "$skip_reason = 'invalid' ? $error('refused, not skipped') : $skip_reason"
            catchers.insert(0, {"ErrorEquals": [QUERY_ERROR], "Next": "RecordInvalid"})
        item = self.run_item(f"'{RunStatus.SKIPPED}'")
        item.update(
            {
                "skip_reason": _sx(reason),
                "ended_at": _sx("$now()"),
                TTL: _nx(f"$floor($millis() / 1000) + {DEDUPE_TTL_SECONDS}"),
            }
        )
        return {
            "Type": "Task",
            "Resource": "arn:aws:states:::dynamodb:putItem",
            "Arguments": {"TableName": self.table, "Item": item},
            "Retry": [self.dynamodb_retry()],
            "Catch": catchers,
            "End": True,
        }

    def run_task(self, *, first: bool) -> Json:
        job = self.job
        arguments: Json = {
            "Cluster": _literal(job.cluster),
            "TaskDefinition": _literal(job.task_definition),
            # The task group names the job; StartedBy is Step Functions' own for .sync.
            "Group": f"jobctl:{job.name}",
            "PropagateTags": "TASK_DEFINITION",
            "Overrides": self.overrides(),
        }
        if job.capacity_provider_strategy:
            arguments["CapacityProviderStrategy"] = [
                {
                    "CapacityProvider": _literal(p.capacity_provider),
                    "Weight": p.weight,
                    "Base": p.base,
                }
                for p in job.capacity_provider_strategy
            ]
        elif job.launch_type:
            arguments["LaunchType"] = job.launch_type
        if job.platform_version:
            arguments["PlatformVersion"] = _literal(job.platform_version)
        if job.network:
            arguments["NetworkConfiguration"] = {
                "AwsvpcConfiguration": {
                    "Subnets": [_literal(s) for s in job.network.subnets],
                    "SecurityGroups": [_literal(g) for g in job.network.security_groups],
                    "AssignPublicIp": "ENABLED" if job.network.assign_public_ip else "DISABLED",
                }
            }
        retriers: list[Json] = []
        retry = job.retry
        if first and retry.retries:
            # The job's own failures use the native Retry (one transition per attempt).
            # Capacity errors go to `Classify`: Step Functions names every ECS API error
            # ECS.AmazonECSException, so a Retry (which matches names only) cannot tell a
            # throttle from a missing cluster.
            task_retrier: Json = {
                "ErrorEquals": self.job_errors(),
                "IntervalSeconds": retry.interval,
                "MaxAttempts": retry.retries,
                "BackoffRate": retry.backoff_rate,
            }
            if retry.max_interval:
                task_retrier["MaxDelaySeconds"] = retry.max_interval
            retriers.append(task_retrier)
        if first:
            catchers: list[Json] = [
                {
                    "ErrorEquals": CAPACITY_ERRORS,
                    "Assign": self.classify_variables(RunStatus.FAILED),
                    "Next": "Classify",
                },
                {
                    "ErrorEquals": ["States.Timeout"],
                    "Assign": self.failure_variables(RunStatus.TIMED_OUT),
                    "Next": "FinishFailed",
                },
                {
                    "ErrorEquals": ["States.ALL"],
                    "Assign": self.failure_variables(RunStatus.FAILED),
                    "Next": "FinishFailed",
                },
            ]
        else:
            # After a capacity error every retry is counted by hand (`classify`): a state
            # entered again starts its Retry counts afresh, which would exceed the policy.
            catchers = [
                {
                    "ErrorEquals": ["States.Timeout"],
                    "Assign": self.classify_variables(RunStatus.TIMED_OUT),
                    "Next": "Classify",
                },
                {
                    "ErrorEquals": ["States.ALL"],
                    "Assign": self.classify_variables(RunStatus.FAILED),
                    "Next": "Classify",
                },
            ]
        state: Json = {
            "Type": "Task",
            "Comment": (
                "run the ECS task and wait for it to stop"
                if first
                else "the attempt after a capacity error or a counted retry"
            ),
            "Resource": "arn:aws:states:::ecs:runTask.sync",
            "Arguments": arguments,
            "TimeoutSeconds": job.timeout,
            "Assign": {
                "task_arn": _expr("$states.result.TaskArn"),
                "attempts": _expr(self._attempts()),
            },
            "Output": {},
            "Catch": catchers,
            "Next": "Finish",
        }
        if retriers:
            state["Retry"] = retriers
        return state

    def job_errors(self) -> list[str]:
        """The errors the job's retry policy covers: it failed, or (`on_timeout`) timed out."""
        return ["States.TaskFailed"] + (["States.Timeout"] if self.job.retry.on_timeout else [])

    def classify_variables(self, status: str) -> Json:
        """A failed attempt going to `classify`: its facts, and the retries it used."""
        retries = (
            "($exists($states.context.State.RetryCount) ? $states.context.State.RetryCount : 0)"
        )
        return {
            **self.failure_variables(status),
            "tried": _expr(f"$tried + {retries} + 1"),
            # Only the first RunTask retries natively, and only the job's own failures.
            "job_used": _expr(f"$job_used + {retries}"),
        }

    def retry_delays(self) -> tuple[list[int], list[int]]:
        """The counted retries' intervals (capacity, job), by retry index, in whole seconds.

        Static Wait states, one per distinct interval: a Wait's `Seconds` as a JSONata
        expression is valid on AWS but not to statelint. Jitter is not applied here (the
        capacity policy's FULL jitter draws from 0 up to these values on the native path).
        """
        retry = self.job.retry
        capacity = retry.capacity

        def delays(count: int, interval: int, rate: float, cap: int | None) -> list[int]:
            found = [int(interval * rate**index) for index in range(count)]
            return [min(d, cap) if cap else d for d in found]

        return (
            delays(
                capacity.retries, capacity.interval, capacity.backoff_rate, capacity.max_interval
            ),
            delays(retry.retries, retry.interval, retry.backoff_rate, retry.max_interval),
        )

    def classify(self) -> Json:
        """Decide what a failed attempt means; the retries here are counted, not native.

        Reached after an ECS API error or capacity shortage on the first attempt, and after
        any failure of a later one. An ECS API error whose Cause names a configuration
        error (CONFIGURATION_ERRORS) fails the run at once as Job.ConfigurationError;
        capacity errors are retried with the capacity policy, the job's failures with its
        own, each within its MaxAttempts over the whole run.
        """
        capacity_delays, job_delays = self.retry_delays()
        rules: list[Json] = [
            {
                "Condition": _expr(
                    "$failure.Error = 'ECS.AmazonECSException' and "
                    f"$contains($string($failure.Cause), /{CONFIGURATION_ERRORS}/)"
                ),
                "Comment": "retrying cannot fix it: see the Cause (ECS's error code)",
                "Assign": {
                    "status": RunStatus.FAILED,
                    "failure": _expr(
                        f"{{'Error': '{CONFIGURATION_ERROR}', 'Cause': $failure.Cause}}"
                    ),
                },
                "Next": "FinishFailed",
            }
        ]
        for index, delay in enumerate(capacity_delays):
            rules.append(
                {
                    "Condition": _expr(
                        f"$failure.Error in {_json(CAPACITY_ERRORS)} and $capacity_used = {index}"
                    ),
                    "Assign": {"capacity_used": index + 1},
                    "Next": _wait_name(delay),
                }
            )
        for index, delay in enumerate(job_delays):
            rules.append(
                {
                    "Condition": _expr(
                        f"$failure.Error in {_json(self.job_errors())} and $job_used = {index}"
                    ),
                    "Assign": {"job_used": index + 1},
                    "Next": _wait_name(delay),
                }
            )
        return {
            "Type": "Choice",
            "Comment": "a failed attempt: fail now, or retry by which policy?",
            "Choices": rules,
            "Default": "FinishFailed",
        }

    def waits(self) -> Json:
        capacity_delays, job_delays = self.retry_delays()
        return {
            _wait_name(delay): {
                "Type": "Wait",
                "Comment": "a counted retry's interval",
                "Seconds": delay,
                "Next": "RunTaskAgain",
            }
            for delay in sorted(set(capacity_delays + job_delays))
        }

    def _attempts(self) -> str:
        return (
            "$tried + ($exists($states.context.State.RetryCount)"
            " ? $states.context.State.RetryCount + 1 : 1)"
        )

    def overrides(self) -> Json:
        job = self.job
        static = [{"Name": name, "Value": value} for name, value in sorted(job.environment.items())]
        # Values from jobs.yaml inside an expression are `_quote`d string literals; outside
        # one, `_literal` fields.
        declared = sorted(job.parameters)
        defaults = {
            name: parameter.default
            for name, parameter in sorted(job.parameters.items())
            if parameter.default is not None
        }
        container: Json = {"Name": _literal(job.container)}
        if job.command:
            container["Command"] = [_literal(argument) for argument in job.command]
        if declared:
            # Only declared parameters reach the container, whatever the input carries.
            container["Environment"] = _expr(
                "( $given := $parameters;"
                f" $values := $merge([{_json(defaults)}, $sift($given, function($v, $k)"
                f" {{ $k in {_json(declared)} }})]);"
                f" $append({_json(static)}, $each($values, function($v, $k)"
                f" {{ {{ 'Name': $k, 'Value': $string($v) }} }})) )"
            )
        elif static:
            container["Environment"] = [
                {"Name": e["Name"], "Value": _literal(e["Value"])} for e in static
            ]
        overrides: Json = {"ContainerOverrides": [container]}
        if job.cpu is not None:
            overrides["Cpu"] = str(job.cpu)
        if job.memory is not None:
            overrides["Memory"] = str(job.memory)
        return overrides

    def failure_variables(self, status: str) -> Json:
        # Exit code and stop reason come from the DescribeTasks JSON that ECS puts in Cause;
        # $parse only runs on text that looks like a whole JSON object, so it cannot throw
        # on the plain-text causes of other errors.
        container = _quote(self.job.container)
        detail = (
            f"( $cause := $string($states.errorOutput.Cause);"
            f" $task := ($states.errorOutput.Error = 'States.TaskFailed'"
            f" and $substring($cause, 0, 1) = '{{' and $substring($cause, -1) = '}}')"
            f" ? $parse($cause) : {{}};"
            f" $c := $task.Containers[Name = {container}][0];"
            f" {{ 'exit_code': $exists($c.ExitCode) ? $c.ExitCode : null,"
            f" 'stopped_reason': $exists($task.StoppedReason) ? $task.StoppedReason : '',"
            f" 'task_arn': $exists($task.TaskArn) ? $task.TaskArn : '' }} )"
        )
        return {
            "status": status,
            "failure": _expr("$states.errorOutput"),
            "attempts": _expr(self._attempts()),
            "detail": _expr(detail),
        }

    def run_update(self, values: dict[str, Json | str]) -> Json:
        """Move the RUNNING record to its end state; a terminal record is never overwritten.

        A value is a DynamoDB attribute value, or a JSONata expression producing one.
        """
        update = "SET " + ", ".join(f"#{name} = :{name}" for name in values)
        return {
            "TableName": self.table,
            "Key": self.run_key(),
            "UpdateExpression": update,
            "ConditionExpression": "#status = :running",
            "ExpressionAttributeNames": {f"#{name}": name for name in values},
            "ExpressionAttributeValues": {
                ":running": _s(RunStatus.RUNNING),
                **{f":{name}": value for name, value in values.items()},
            },
        }

    def update_run(self, values: dict[str, Json | str], next_state: str) -> Json:
        """`run_update` on its own: the fallback when the finishing transaction was refused."""
        return {
            "Type": "Task",
            "Resource": "arn:aws:states:::dynamodb:updateItem",
            "Arguments": self.run_update(values),
            "Retry": [self.dynamodb_retry()],
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": next_state}],
            "Next": next_state,
        }

    def success_values(self) -> dict[str, Json | str]:
        return {
            "status": _s(RunStatus.SUCCEEDED),
            "ended_at": _sx("$now()"),
            "exit_code": {"N": "0"},
            "attempts": _nx("$attempts"),
            "task_arn": _sx("$string($task_arn)"),
        }

    def failure_values(self) -> dict[str, Json | str]:
        return {
            "status": _sx("$status"),
            "ended_at": _sx("$now()"),
            "exit_code": _expr(
                "$type($detail.exit_code) = 'number' "
                "? {'N': $string($detail.exit_code)} : {'NULL': true}"
            ),
            "attempts": _nx("$attempts"),
            "error": _sx("$string($failure.Error)"),
            "cause": _sx(f"$substring($string($failure.Cause), 0, {CAUSE_LIMIT})"),
            "stopped_reason": _sx("$detail.stopped_reason"),
            "task_arn": _sx("$detail.task_arn"),
        }

    def record_success(self) -> Json:
        return self.update_run(self.success_values(), "Release")

    def record_failure(self) -> Json:
        return self.update_run(self.failure_values(), "ReleaseFailed")

    def meta_outcome(self, status: str, *, lock: bool, recovery: bool) -> Json:
        """The META update recording the job's last outcome; with `lock`, freeing the lock.

        `status` is a JSONata expression. With `recovery`, the update also requires that
        the last outcome was not a failure: refused, the run is news (a recovery).
        """
        update = "SET last_status = :status, last_run = :run, last_ended_at = :ended"
        values: Json = {
            ":status": _sx(status),
            ":run": _sx("$run_id"),
            ":ended": _sx("$now()"),
        }
        conditions = []
        if lock:
            update += " REMOVE lock_holder, lock_until"
            conditions.append("lock_holder = :me")
            values[":me"] = _sx("$execution")
        if recovery:
            failed = [f":failed{i}" for i in range(len(FAILED_STATUSES))]
            conditions.append(
                f"(attribute_not_exists(last_status) OR NOT (last_status IN ({', '.join(failed)})))"
            )
            values.update({name: _s(s) for name, s in zip(failed, FAILED_STATUSES, strict=True)})
        arguments: Json = {
            "TableName": self.table,
            "Key": self.key(_s(META)),
            "UpdateExpression": update,
            "ExpressionAttributeValues": values,
        }
        if conditions:
            arguments["ConditionExpression"] = " AND ".join(conditions)
        return arguments

    def finish(self) -> Json:
        """Record the success and release the lock in one transaction; the run's last state.

        With recovery alerts, the transaction also requires that the job's last outcome was
        not a failure, so the recovery check costs nothing when there is no news. Refused
        (a recovery, a lock lost to an expired lease, a record already ended), the run
        takes the step-by-step path, which writes what it may and announces a recovery.
        """
        recovery = "recovery" in self.job.alerts.events
        items = [
            {"Update": self.run_update(self.success_values())},
            {
                "Update": self.overridden(
                    self.meta_outcome(
                        f"'{RunStatus.SUCCEEDED}'", lock=self.locking, recovery=recovery
                    ),
                    self.meta_outcome(f"'{RunStatus.SUCCEEDED}'", lock=False, recovery=recovery),
                )
            },
        ]
        return {
            "Type": "Task",
            "Comment": "record the success and release the lock, in one transaction",
            "Resource": "arn:aws:states:::aws-sdk:dynamodb:transactWriteItems",
            "Arguments": {"TransactItems": items},
            "Retry": [self.dynamodb_retry()],
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "RecordSuccess"}],
            "End": True,
        }

    def finish_failed(self, next_state: str) -> Json:
        """Record the failure and release the lock in one transaction, then alert."""
        items = [
            {"Update": self.run_update(self.failure_values())},
            {
                "Update": self.overridden(
                    self.meta_outcome("$status", lock=self.locking, recovery=False),
                    self.meta_outcome("$status", lock=False, recovery=False),
                )
            },
        ]
        return {
            "Type": "Task",
            "Comment": "record the failure and release the lock, in one transaction",
            "Resource": "arn:aws:states:::aws-sdk:dynamodb:transactWriteItems",
            "Arguments": {"TransactItems": items},
            "Retry": [self.dynamodb_retry()],
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "RecordFailure"}],
            "Next": next_state,
        }

    def release(self, status: str, next_state: str | None) -> Json:
        """Record the job's last outcome on META and free the lock; returns the previous one.

        The fallback of the finishing transactions; `next_state` None ends the run here.
        """
        expression = status if status.startswith("$") else f"'{status}'"
        arguments = self.meta_outcome(expression, lock=self.locking, recovery=False)
        arguments["ReturnValues"] = "UPDATED_OLD"
        unlocked = self.meta_outcome(expression, lock=False, recovery=False)
        unlocked["ReturnValues"] = "UPDATED_OLD"
        state: Json = {
            "Type": "Task",
            "Resource": "arn:aws:states:::dynamodb:updateItem",
            # A run with the concurrency override holds no lock: it frees none.
            "Arguments": self.overridden(arguments, unlocked),
            "Assign": {
                "previous_status": _expr(
                    "$exists($states.result.Attributes.last_status.S) "
                    "? $states.result.Attributes.last_status.S : ''"
                )
            },
            "Retry": [self.dynamodb_retry()],
            "Catch": [
                {
                    "ErrorEquals": ["States.ALL"],
                    "Assign": {"previous_status": ""},
                    "Next": next_state or "Succeeded",
                }
            ],
        }
        if next_state is None:
            state["End"] = True
        else:
            state["Next"] = next_state
        return state

    def recovered(self) -> Json:
        return {
            "Type": "Choice",
            "Choices": [
                {
                    "Condition": _expr(
                        "$previous_status in ["
                        + ", ".join(f"'{status}'" for status in FAILED_STATUSES)
                        + "]"
                    ),
                    "Next": "NotifyRecovery",
                }
            ],
            "Default": "Succeeded",
        }

    def publish(self, event: str, next_state: str | None) -> Json:
        """Publish the alert: an AWS Chatbot custom notification carrying `jobctl.alert/1`.

        The contract is the model in chalicelib/alerts/message.py (alert-schema.json is
        generated from it, CONTRACT.md explains it): Chatbot relays the message to Slack as
        is, jobctl's notifier renders it as Block Kit. The additionalContext keys and their
        order come from the model (`alert_context`). Every additionalContext value is a
        string (Chatbot takes a string map) and always present: JSONata drops a key whose
        value is undefined, so reads that may find nothing go through `_text`. The log link
        is not here: the container's log settings are known at deploy time, not at compile
        time, so the notifier derives it from the job's META config and `task_arn`.
        """
        job = self.job
        env = job.env or ""
        failure = event == "failure"
        expressions = {
            "schema": f"'{ALERT_SCHEMA}'",
            "event": f"'{event}'",
            "project": f"'{job.project}'",
            "environment": f"'{env}'",
            "job": f"'{job.name}'",
            "run_id": "$run_id",
            "execution_arn": "$execution",
            "status": "$status" if failure else "'SUCCEEDED'",
            "trigger": "$trigger",
            "triggered_by": "$triggered_by",
            "scheduled_time": "$scheduled_time",
            "started_at": "$started_at",
            "ended_at": "$alert_ended",
            "attempts": "$string($attempts)",
            "exit_code": "$alert_exit" if failure else "'0'",
            "stopped_reason": "$alert_stopped" if failure else "''",
            "error": "$alert_error" if failure else "''",
            "task_arn": "$alert_task",
            "console_url": "$alert_console",
            "slack_route": f"'{job.alerts.slack or 'default'}'",
            "rerun_command": self._rerun_command(),
        }
        context = alert_context(FailureContext if failure else RecoveryContext, expressions)
        where = f"{job.project}/{env}" if env else job.project
        title = (
            f"'{where} {job.name}: ' & $status" if failure else f"'{where} {job.name} recovered'"
        )
        thread = f"{job.project}-{env}-{job.name}" if env else f"{job.project}-{job.name}"
        steps = (
            f"['Execution: ' & $alert_console, 'Re-run: `' & {self._rerun_command()} & '`']"
            if failure
            else "['Execution: ' & $alert_console]"
        )
        message = (
            "{ 'version': '1.0', 'source': 'custom', 'id': $run_id,"
            " 'content': { 'textType': 'client-markdown', 'title': " + title + ","
            " 'description': " + self._description(event) + ", 'nextSteps': " + steps + " },"
            " 'metadata': { 'threadId': '" + thread + "',"
            " 'summary': " + title + ", 'eventType': 'jobctl." + event + "',"
            " 'relatedResources': $alert_task != '' ? [$execution, $alert_task] : [$execution],"
            " 'additionalContext': { "
            + ", ".join(f"'{key}': {value}" for key, value in context.items())
            + " } } }"
        )
        # Locals (`$alert_*`) are computed once; the region is the 4th field of the execution
        # ARN (the console link format of chalicelib/history/links.py).
        task = "$detail.task_arn" if failure else "$task_arn"
        program = (
            "( $alert_region := $split($execution, ':')[3];"
            " $alert_console := 'https://' & $alert_region"
            " & '.console.aws.amazon.com/states/home?region=' & $alert_region"
            " & '#/v2/executions/details/' & $execution;"
            " $alert_ended := $now();"
            " $alert_exit := $type($detail.exit_code) = 'number'"
            " ? $string($detail.exit_code) : '';"
            f" $alert_stopped := {self._text('$detail.stopped_reason')};"
            f" $alert_error := {self._text('$failure.Error')};"
            f" $alert_task := {self._text(task)};"
            f" $string({message}) )"
        )
        return {
            "Type": "Task",
            "Resource": "arn:aws:states:::sns:publish",
            "Arguments": {
                "TopicArn": self.topic,
                "Message": _expr(program),
                "MessageAttributes": {
                    "job": {"DataType": "String", "StringValue": job.name},
                    "event": {"DataType": "String", "StringValue": event},
                },
            },
            "Retry": [
                {
                    "ErrorEquals": ["States.ALL"],
                    "IntervalSeconds": 2,
                    "MaxAttempts": 5,
                    "BackoffRate": 2.0,
                    "JitterStrategy": "FULL",
                }
            ],
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": next_state or "Succeeded"}],
            **({"Next": next_state} if next_state else {"End": True}),
        }

    def _description(self, event: str) -> str:
        """One paragraph of Slack markdown; Chatbot limits a description to 8,000 characters."""
        if event == "recovery":
            return "'Run `' & $run_id & '` succeeded after a failure.'"
        return (
            "$substring('Run `' & $run_id & '` ended ' & $status & ' after '"
            " & $string($attempts) & ' attempt(s); '"
            " & ($alert_exit != '' ? 'exit code ' & $alert_exit : 'no exit code') & '. '"
            " & ($alert_stopped != '' ? $alert_stopped : $alert_error"
            # A failure the run's configuration or input caused says what to fix: ECS's
            # message, or the input check's.
            f" & ($alert_error in {_json([CONFIGURATION_ERROR, INVALID_INPUT])}"
            f" ? ': ' & {self._text('$failure.Cause')} : '')), 0, 8000)"
        )

    def _rerun_command(self) -> str:
        env = f" & ' --env {self.job.env}'" if self.job.env else ""
        return f"'jobctl rerun ' & $run_id{env}"

    @staticmethod
    def _text(expression: str) -> str:
        """`expression` as a string, '' when it is undefined or null (never a missing key)."""
        return (
            f"($exists({expression}) and $type({expression}) != 'null'"
            f" ? $string({expression}) : '')"
        )

    def _lease_seconds(self) -> int:
        # The lock outlives the longest possible run, so a crashed holder frees it eventually.
        return lease_seconds(self.job.timeout, self.job.retry_timing)


def alert_context(model: type[RunContext], expressions: dict[str, str]) -> dict[str, str]:
    """The additionalContext of a state machine's alert: `model`'s keys, in its order.

    `expressions` holds one JSONata expression per key. A key the model has and the
    compiler does not (or the reverse) fails compilation, so a field added to the contract
    cannot ship half-done: `jobctl build` and the tests stop, not the alert.
    """
    keys = model.producer_keys()
    missing = [key for key in keys if key not in expressions]
    unknown = sorted(set(expressions) - set(keys))
    if missing or unknown:
        raise ValueError(
            f"the alert's additionalContext is out of step with {model.__name__} "
            f"(chalicelib/alerts/message.py): no expression for {missing}, no field for {unknown}"
        )
    return {key: expressions[key] for key in keys}


def compile_state_machine(job: ResolvedJob) -> Json:
    """The ASL document for `job` (a dict; serialise with `render_json`)."""
    return _Builder(job).build()


def render_json(document: Any) -> str:
    """Canonical JSON for committed files: sorted keys, 2-space indent, trailing newline.

    orjson writes the same bytes as `json.dumps(indent=2, sort_keys=True)` about 20x faster
    (the standard library falls back to pure Python when indenting).
    """
    options = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE
    return orjson.dumps(document, option=options).decode()
