"""The requests a compiled state machine's Task states make, derived from its ASL alone.

Owns a small abstract interpreter of the JSONata flavour of the Amazon States Language, for
the oracles (tests/oracles): it walks a compiled definition from `StartAt` as Step Functions
would (Assign, Output, Arguments, Choice conditions, Catch, Parallel branches, Fail), with
JSONata evaluated by jsonata-python plus `$parse` (the same evaluator `jobctl local` wires
into moto), and records every Task state's evaluated request: `TaskRequest(state, resource,
arguments)`. Nothing here names a state of jobctl's protocol: which Task states exist, what
they call and with which arguments comes from the definition, so the oracles follow the
compiler when its protocol changes.

What a Task returns is synthesized per integration (`_results`: DescribeTasks for
`ecs:runTask.sync`, `Attributes` for DynamoDB updates, every read's item absent and present),
and `explore` drives every outcome of every Task: it re-runs the machine, choosing at each
Task one of its results or one of its Catch clauses (with an `errorOutput` shaped as Step
Functions shapes it for that error) until every (Task, outcome) pair reachable from the
given inputs has been taken at least once. Retries are not simulated (they repeat the same
request); Wait states do not wait; Map states are not modelled (an `AslError` names them).
A variable holding JSON null is bound as null (jsonata-python would read Python's None as
undefined). `$error(message)` fails the state with `States.QueryEvaluationError` (the
message its Cause), which a Task's Catch can take, as on AWS. Invariant: any other
expression that fails to evaluate is an error here (never skipped), so a request is only
recorded once its Arguments evaluated completely.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import jsonata
from jsonata.utils import Utils

MAX_STEPS = 400
QUERY_ERROR = "States.QueryEvaluationError"
THROWN = "D3137"  # jsonata's error code for `$error(message)`
_NULL = Utils.NULL_VALUE
EXECUTION_NAME = "manual-20261201T101500Z-6f1c2a9e"
START_TIME = "2026-12-01T10:15:00.123Z"


@dataclass(frozen=True)
class TaskRequest:
    """One Task state's request: where (`state`, a path through Parallel branches), what
    (`resource`, the Task's Resource ARN) and the evaluated `arguments`."""

    state: str
    resource: str
    arguments: Any
    timeout_seconds: int | None = None


@dataclass
class Trace:
    requests: list[TaskRequest] = field(default_factory=list)
    # (state path, outcome) taken, in order: "r<i>" the i-th result, "c<i>" the i-th Catch
    decisions: list[tuple[str, str]] = field(default_factory=list)
    ended: str = ""


class AslError(Exception):
    """A JSONata expression failed or the definition is not walkable: a defect to report."""


class _Failed(Exception):
    def __init__(self, error: str, cause: str) -> None:
        super().__init__(error)
        self.error, self.cause = error, cause


@functools.lru_cache(maxsize=4096)
def _compiled(expression: str) -> Any:
    compiled = jsonata.Jsonata(expression)
    compiled.register_lambda("parse", lambda text: json.loads(text))
    return compiled


def evaluate(expression: str, bindings: dict[str, Any]) -> Any:
    """One JSONata expression (without `{% %}`) with the given variables bound."""
    # A variable holding JSON null is null, not undefined (jsonata-python reads a bound
    # Python None as undefined; moto binds variables as text, where null stays null).
    bound = {k: _NULL if v is None else v for k, v in bindings.items()}
    try:
        return _compiled(expression).evaluate(None, bound)
    except jsonata.JException as exc:
        if exc.error == THROWN:
            raise _Failed(QUERY_ERROR, str(exc)) from exc
        raise AslError(f"JSONata failed: {exc}: {expression[:200]}") from exc
    except Exception as exc:  # jsonata-python raises its own JException and others
        raise AslError(f"JSONata failed: {exc}: {expression[:200]}") from exc


def _template(value: Any, bindings: dict[str, Any]) -> Any:
    """A JSONata-mode field value: `{% expr %}` strings evaluated, objects and arrays walked;
    a field whose expression yields nothing (undefined) is left out, as Step Functions does."""
    if isinstance(value, str) and value.startswith("{%") and value.endswith("%}"):
        return evaluate(value[2:-2], bindings)
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            evaluated = _template(item, bindings)
            if evaluated is not None or item is None:
                out[key] = evaluated
        return out
    if isinstance(value, list):
        return [_template(item, bindings) for item in value]
    return value


# --- what each integration returns, and the errors it raises ------------------------------

ACCOUNT, REGION = "123456789012", "ap-northeast-1"


def _task_arn(request: dict[str, Any]) -> str:
    cluster = str(request.get("Cluster", "default")).rsplit("/", 1)[-1]
    return f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{cluster}/0123456789abcdef0123456789abcdef"


def describe_tasks_task(request: dict[str, Any], exit_code: int) -> dict[str, Any]:
    """The task object `ecs:runTask.sync` returns (and puts in a TaskFailed Cause), in Step
    Functions' PascalCase, with the members botocore's DescribeTasks output documents."""
    container = request.get("Overrides", {}).get("ContainerOverrides", [{}])[0].get("Name", "app")
    return {
        "TaskArn": _task_arn(request),
        "ClusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{request.get('Cluster', 'default')}",
        "TaskDefinitionArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/app-batch:3",
        "LastStatus": "STOPPED",
        "DesiredStatus": "STOPPED",
        "StopCode": "EssentialContainerExited",
        "StoppedReason": "Essential container in task exited",
        "Containers": [{"Name": container, "ExitCode": exit_code, "LastStatus": "STOPPED"}],
    }


def _results(resource: str, request: Any, other_execution: str) -> list[Any]:
    """Every representative result of one call: reads return each item absent and present
    (a present item carries the history schema's attributes a run reads: paused, a lock
    held by another execution), so the walk takes each branch that depends on them."""
    action = resource.rsplit(":", 1)[-1]
    if action == "transactGetItems":
        gets = request.get("TransactItems", [])
        variants: list[Any] = [{"Responses": [{} for _ in gets]}]
        for index, get in enumerate(gets):
            for paused in (True, False):
                item = {**get["Get"]["Key"], **_stored(paused, other_execution)}
                responses = [{"Item": item} if i == index else {} for i in range(len(gets))]
                variants.append({"Responses": responses})
        return variants
    if action == "getItem":
        return [{}, {"Item": {**request.get("Key", {}), **_stored(False, other_execution)}}]
    return [_result(resource, request)]


def _stored(paused: bool, other_execution: str) -> dict[str, Any]:
    """A stored META-like item: paused or not, its lock held by another run of the job."""
    return {
        "paused": {"BOOL": paused},
        "lock_holder": {"S": other_execution},
        "lock_until": {"N": "99999999999999"},
    }


def _result(resource: str, request: Any) -> Any:
    action = resource.rsplit(":", 1)[-1].removesuffix(".sync").removesuffix(".waitForTaskToken")
    if action == "runTask":
        return describe_tasks_task(request, 0)
    if action == "updateItem":
        # UPDATED_OLD of a run after a failure: the recovery path is taken too.
        return {"Attributes": {"last_status": {"S": "FAILED"}}}
    if action == "getItem":
        return {"Item": {}}
    if action == "transactGetItems":
        return {"Responses": [{} for _ in request.get("TransactItems", [])]}
    if action == "publish":
        return {"MessageId": "1a2b3c4d-0000-0000-0000-000000000000"}
    if action == "stopExecution":
        return {"StopDate": START_TIME}
    return {}


def _error_output(resource: str, error: str, request: Any) -> dict[str, str]:
    """`$states.errorOutput` for `error` raised by this Task, as Step Functions shapes it."""
    if error in ("States.TaskFailed", "States.ALL") and resource.endswith("ecs:runTask.sync"):
        return {"Error": "States.TaskFailed", "Cause": json.dumps(describe_tasks_task(request, 1))}
    if error.startswith("ECS.") or error.startswith("AmazonECS."):
        return {
            "Error": error,
            # a placement failure (RunTask's `failures`): capacity, retried by the capacity policy
            "Cause": "RunTask failures: [{Reason: RESOURCE:MEMORY}] (Service: AmazonECS; "
            "Status Code: 200; Request ID: 1)",
        }
    if error == "States.Timeout":
        return {"Error": "States.Timeout", "Cause": ""}
    if error == "States.ALL":
        error = "States.TaskFailed"
    return {"Error": error, "Cause": f"{error} (synthesized by tests/support/asl_requests.py)"}


# --- the walk -----------------------------------------------------------------------------


# (state path, number of result variants, number of Catch clauses) -> "r<i>" or "c<i>"
Chooser = Callable[[str, int, int], str]


class _Run:
    def __init__(
        self, definition: dict[str, Any], execution_input: Any, choose: Chooser, machine: str
    ) -> None:
        self.definition = definition
        self.input = execution_input
        self.choose = choose
        self.trace = Trace()
        self.steps = 0
        self.visits: dict[str, int] = {}
        name = machine.rsplit(":", 1)[-1]
        execution = machine.replace(":stateMachine:", ":execution:")
        self.other_execution = f"{execution}:other-run"
        self.context = {
            "Execution": {
                "Id": f"{execution}:{EXECUTION_NAME}",
                "Name": EXECUTION_NAME,
                "StartTime": START_TIME,
                "Input": execution_input,
                "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/jobctl/{name}-sfn",
                "RedriveCount": 0,
            },
            "StateMachine": {"Id": machine, "Name": name},
        }

    def bindings(self, variables: dict[str, Any], states: dict[str, Any]) -> dict[str, Any]:
        return {**variables, "states": states}

    def states_var(self, name: str, state_input: Any, **extra: Any) -> dict[str, Any]:
        context = {
            **self.context,
            "State": {"Name": name, "EnteredTime": START_TIME, "RetryCount": 0},
        }
        return {"input": state_input, "context": context, **extra}

    def run_machine(
        self, machine: dict[str, Any], state_input: Any, variables: dict[str, Any], path: str
    ) -> Any:
        name = machine["StartAt"]
        while True:
            self.steps += 1
            if self.steps > MAX_STEPS:
                raise AslError(f"more than {MAX_STEPS} transitions: a loop at {path}{name}")
            state = machine["States"].get(name)
            if state is None:
                raise AslError(f"dangling transition to {path}{name}")
            key = path + name
            self.visits[key] = self.visits.get(key, 0) + 1
            next_name, state_input, end = self.step(key, state, state_input, variables)
            if end:
                return state_input
            name = next_name

    def step(
        self, key: str, state: dict[str, Any], state_input: Any, variables: dict[str, Any]
    ) -> tuple[str, Any, bool]:
        kind = state["Type"]
        states = self.states_var(key.rsplit("/", 1)[-1], state_input)
        if kind == "Succeed":
            return (
                "",
                _template(
                    state.get("Output", "{% $states.input %}"), self.bindings(variables, states)
                ),
                True,
            )
        if kind == "Fail":
            bound = self.bindings(variables, states)
            raise _Failed(
                str(_template(state.get("Error", "States.Fail"), bound)),
                str(_template(state.get("Cause", ""), bound)),
            )
        if kind == "Choice":
            # The state's own Assign applies whichever rule matches (the matched rule's on
            # top of it); both see the values from before the state.
            bound = self.bindings(variables, states)
            for rule in state["Choices"]:
                if _template(rule["Condition"], bound) is True:
                    self.assign(state, bound, variables)
                    self.assign(rule, bound, variables)
                    out = _template(
                        rule.get("Output", state.get("Output", "{% $states.input %}")), bound
                    )
                    return rule["Next"], out, False
            self.assign(state, bound, variables)
            out = _template(state.get("Output", "{% $states.input %}"), bound)
            return state["Default"], out, False
        if kind == "Pass":
            bound = self.bindings(variables, states)
            out = _template(state.get("Output", "{% $states.input %}"), bound)
            self.assign(state, bound, variables)
            return state.get("Next", ""), out, bool(state.get("End"))
        if kind == "Wait":
            return state.get("Next", ""), state_input, bool(state.get("End"))
        if kind in ("Task", "Parallel"):
            return self.task(key, state, state_input, variables, states)
        raise AslError(f"state type {kind} at {key} is not modelled by the oracle")

    def assign(
        self, holder: dict[str, Any], bound: dict[str, Any], variables: dict[str, Any]
    ) -> None:
        # Every Assign expression sees the values from before the assignment.
        if "Assign" in holder:
            values = _template(holder["Assign"], bound)
            variables.update(values)

    def task(
        self,
        key: str,
        state: dict[str, Any],
        state_input: Any,
        variables: dict[str, Any],
        states: dict[str, Any],
    ) -> tuple[str, Any, bool]:
        bound = self.bindings(variables, states)
        catchers = state.get("Catch", [])
        try:
            arguments = _template(state.get("Arguments", "{% $states.input %}"), bound)
            if state["Type"] == "Parallel":
                result = [
                    self.run_machine(branch, arguments, copy.deepcopy(variables), f"{key}/")
                    for branch in state["Branches"]
                ]
            else:
                self.trace.requests.append(
                    TaskRequest(key, state["Resource"], arguments, state.get("TimeoutSeconds"))
                )
                results = _results(state["Resource"], arguments, self.other_execution)
                # A query error is never synthesized: it comes only from an expression that
                # threw, and then Arguments never evaluated (above).
                raised = [c for c in catchers if c["ErrorEquals"] != [QUERY_ERROR]]
                pick = self.choose(key, len(results), len(raised))
                self.trace.decisions.append((key, pick))
                if pick.startswith("c"):
                    error = raised[int(pick[1:])]["ErrorEquals"][0]
                    out = _error_output(state["Resource"], error, arguments)
                    raise _Failed(out["Error"], out["Cause"])
                result = results[int(pick[1:])]
        except _Failed as failure:
            for catcher in catchers:
                if _matches(catcher["ErrorEquals"], failure.error):
                    error_output = {"Error": failure.error, "Cause": failure.cause}
                    caught = self.states_var(key, state_input, errorOutput=error_output)
                    cbound = self.bindings(variables, caught)
                    out = _template(catcher.get("Output", "{% $states.errorOutput %}"), cbound)
                    self.assign(catcher, cbound, variables)
                    return catcher["Next"], out, False
            raise
        done = self.states_var(key, state_input, result=result)
        dbound = self.bindings(variables, done)
        out = _template(state.get("Output", "{% $states.result %}"), dbound)
        self.assign(state, dbound, variables)
        return state.get("Next", ""), out, bool(state.get("End"))


def _matches(errors: list[str], error: str) -> bool:
    """Catch/Retry matching: `States.TaskFailed` matches every error but `States.Timeout`."""
    if "States.ALL" in errors or error in errors:
        return True
    return "States.TaskFailed" in errors and error != "States.Timeout"


def run(definition: dict[str, Any], execution_input: Any, choose: Chooser, machine: str) -> Trace:
    """One execution of `definition` as the state machine `machine` (its ARN)."""
    walk = _Run(definition, execution_input, choose, machine)
    try:
        walk.run_machine(definition, execution_input, {}, "")
        walk.trace.ended = "succeeded"
    except _Failed as failure:
        walk.trace.ended = f"failed {failure.error}"
    return walk.trace


def explore(
    definition: dict[str, Any],
    inputs: Iterable[Any],
    machine: str,
    *,
    full: int = 2,
    max_runs: int = 400,
) -> list[Trace]:
    """Runs until every (Task, outcome) pair was taken once: from each of the first `full`
    inputs on its own, then from the others together (each adds what it reaches first).

    A run follows a prefix of an earlier run's decisions, then takes one outcome not yet
    covered, then takes the first result wherever it can ("r0")."""
    traces: list[Trace] = []
    shared: set[tuple[str, str]] = set()
    for number, execution_input in enumerate(inputs):
        covered: set[tuple[str, str]] = set() if number < full else shared
        pending: list[list[tuple[str, str]]] = [[]]
        while pending and len(traces) < max_runs:
            plan = pending.pop()
            position = [0]

            outcomes: dict[str, list[str]] = {}

            def choose(
                key: str,
                results: int,
                catches: int,
                plan: list[tuple[str, str]] = plan,
                position: list[int] = position,
                outcomes: dict[str, list[str]] = outcomes,
            ) -> str:
                index = position[0]
                position[0] += 1
                if index < len(plan):
                    return plan[index][1]
                outcomes[key] = [f"r{i}" for i in range(results)] + [
                    f"c{i}" for i in range(catches)
                ]
                return "r0"

            trace = run(definition, copy.deepcopy(execution_input), choose, machine)
            traces.append(trace)
            covered.update(trace.decisions)
            for index, (key, _outcome) in enumerate(trace.decisions):
                for alternative in outcomes.get(key, []):
                    if (key, alternative) not in covered:
                        covered.add((key, alternative))
                        pending.append([*trace.decisions[:index], (key, alternative)])
    return traces


def task_states(definition: dict[str, Any], path: str = "") -> dict[str, dict[str, Any]]:
    """Every Task state of the definition by its path (through Parallel branches)."""
    found: dict[str, dict[str, Any]] = {}
    for name, state in definition["States"].items():
        if state["Type"] == "Task":
            found[path + name] = state
        for branch in state.get("Branches", []):
            found.update(task_states(branch, f"{path}{name}/"))
    return found


# --- representative inputs ---------------------------------------------------------------


def representative_inputs(parameters: dict[str, Any]) -> list[dict[str, Any]]:
    """What starts an execution: a manual run at every limit the API and the machine allow
    (reason 500, triggered_by 2,048, each value 1,024 characters), a late and an on-time
    schedule delivery, a
    manual run with every declared parameter, a re-run, a manual run and a re-run with the
    concurrency override (beside the lock's holder; refused input for a replace job),
    an empty input (a hand-started execution) and one the API would refuse."""
    declared = {
        name: (spec.enum[-1] if getattr(spec, "enum", None) else "2026-11-01")
        for name, spec in parameters.items()
    }
    longest = {
        name: (max(spec.enum, key=len) if getattr(spec, "enum", None) else "9" * 1024)
        for name, spec in parameters.items()
    }
    at_limits = {
        "trigger": "manual",
        "reason": "r" * 500,
        "triggered_by": "arn:aws:sts::123456789012:assumed-role/" + "o" * 1990,
        "parameters": longest,
    }
    return [
        at_limits,
        {"trigger": "schedule", "scheduled_time": "2026-12-01T03:00:00Z", "event_id": "e-1"},
        # on time (the execution's START_TIME): within any starting deadline
        {"trigger": "schedule", "scheduled_time": "2026-12-01T10:15:00Z", "event_id": "e-2"},
        {
            "trigger": "manual",
            "reason": "backfill",
            "triggered_by": "arn:aws:iam::123456789012:user/ops",
            "parameters": declared,
        },
        {
            "trigger": "rerun",
            "reason": "again",
            "triggered_by": "slack:U123",
            "rerun_of": "manual-20261130T101500Z-0a1b2c3d",
            "parameters": declared,
        },
        *override_inputs(parameters),
        {},
        # input the API would refuse (the machine records it as a failed run)
        {"trigger": "cron", "reason": 5, "parameters": {"x": 1}},
    ]


def override_inputs(parameters: dict[str, Any]) -> list[dict[str, Any]]:
    """A manual run and a re-run with the operator's concurrency override (`concurrency:
    allow`: beside the lock's holder on a forbid job; refused input on a replace job).
    Explored on their own too (`explore(..., full=2)`), so every Catch path of the
    override's requests is taken, not only those the other inputs left uncovered."""
    declared = {
        name: (spec.enum[-1] if getattr(spec, "enum", None) else "2026-11-01")
        for name, spec in parameters.items()
    }
    return [
        {
            "trigger": "manual",
            "reason": "beside the running one",
            "triggered_by": "arn:aws:iam::123456789012:user/ops",
            "parameters": declared,
            "concurrency": "allow",
        },
        {
            "trigger": "rerun",
            "reason": "again, beside the running one",
            "triggered_by": "arn:aws:iam::123456789012:user/ops",
            "rerun_of": "manual-20261130T101500Z-0a1b2c3d",
            "parameters": declared,
            "concurrency": "allow",
        },
    ]
