"""The history table's schema has one owner (`chalicelib.core.history`), and everyone agrees.

(a) What the compiled state machines read and write (keys, attribute names, index sort keys,
statuses) is what the schema defines: every DynamoDB request in every state is walked, its
JSONata key expressions evaluated, and the results compared with the Python key builders.
(b) The table deploy creates has the indexes, keys and TTL the schema defines, and the
run store's queries use exactly those indexes, on their key attributes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonata
import pytest

from chalicelib.core import history as schema
from chalicelib.core.history import (
    DEDUPE_ATTRIBUTES,
    INDEXES,
    META,
    META_ATTRIBUTES,
    PK,
    RUN_ATTRIBUTES,
    SK,
    STATUSES,
    TERMINAL,
    TTL,
    RunStatus,
)
from chalicelib.history.store import RunStore
from jobctl.compile.compiler import CompiledJob, compile_registry
from jobctl.deploy.desired import shared_resources
from jobctl.deploy.resources import Resource, ResourceKind
from jobctl.registry.loader import load_registry

ROOT = Path(__file__).resolve().parents[2]
COMPILED = compile_registry(load_registry(ROOT / "jobs.yaml")) + compile_registry(
    load_registry(ROOT / "tests" / "data" / "variety.yaml")
)
IDS = [f"{item.job.project}-{item.file_name}" for item in COMPILED]
PLACEHOLDERS = {"Partition": "aws", "Region": "us-east-1", "AccountId": "123456789012"}

# The variables the key expressions read, once for a scheduled and once for a manual run,
# with the `$states` the first Claim reads them from (it runs before they are assigned).
STARTED = "2026-03-01T04:05:06.789Z"


def _binding(run_id: str, execution_input: dict[str, str]) -> dict[str, Any]:
    scheduled = execution_input.get("scheduled_time", "")
    execution = {"Name": run_id, "Id": f"arn:aws:states:::execution:m:{run_id}"}
    states = {
        "input": execution_input,
        "context": {"Execution": {**execution, "StartTime": STARTED}},
    }
    return {"run_id": run_id, "scheduled_time": scheduled, "started_at": STARTED, "states": states}


BINDINGS = [
    _binding("sched-1", {"trigger": "schedule", "scheduled_time": "2026-03-01T04:05:00Z"}),
    _binding("manual-20260301T040506Z-ab12", {"trigger": "manual"}),
]
# Words of DynamoDB expressions that are not attribute names.
EXPRESSION_WORDS = {"SET", "REMOVE", "ADD", "DELETE", "AND", "OR", "NOT", "IN", "BETWEEN"}


def _jsonata(expression: str) -> str | None:
    match = re.fullmatch(r"\{%(.*)%\}", expression, re.DOTALL)
    return match.group(1).strip() if match else None


def _evaluate(value: str, bindings: dict[str, str]) -> Any:
    """A literal string as is; a JSONata field (`{% ... %}`) evaluated with `bindings`."""
    program = _jsonata(value)
    if program is None:
        return value
    compiled = jsonata.Jsonata(program)
    for name, bound in bindings.items():
        compiled.assign(name, bound)
    return compiled.evaluate(None)


def _requests(node: Any) -> Iterator[dict[str, Any]]:
    """Every DynamoDB item request (a dict with a `Key` or an `Item`) under `node`."""
    if isinstance(node, dict):
        if "Key" in node or "Item" in node:
            yield node
        for child in node.values():
            yield from _requests(child)
    elif isinstance(node, list):
        for child in node:
            yield from _requests(child)


def _dynamodb_states(item: CompiledJob) -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, state)
        for name, state in item.definition["States"].items()
        if ":dynamodb:" in state.get("Resource", "")
    ]


def _named(expression: str, names: dict[str, str]) -> set[str]:
    """The attribute names an Update/Condition expression touches (`#x` resolved)."""
    found = set()
    for word in re.findall(r"(?<![:\w])#?[A-Za-z_]\w*(?!\w*\s*\()", expression):
        if word.startswith("#"):
            found.add(names[word])
        elif word not in EXPRESSION_WORDS:
            found.add(word)
    return found


def _kind(sort_key: str) -> str:
    if sort_key == META:
        return "meta"
    if schema.is_run_sk(sort_key):
        return "run"
    assert sort_key.startswith(schema.DEDUPE_PREFIX), f"unknown sort key {sort_key!r}"
    return "dedupe"


ALLOWED = {"meta": META_ATTRIBUTES, "run": RUN_ATTRIBUTES, "dedupe": DEDUPE_ATTRIBUTES}


def test_the_registries_cover_every_kind_of_item_and_lock() -> None:
    assert {item.job.concurrency for item in COMPILED} == {"allow", "forbid", "replace"}


@pytest.mark.parametrize("item", COMPILED, ids=IDS)
def test_state_machines_use_the_schemas_keys(item: CompiledJob) -> None:
    job = item.job.name
    kinds = set()
    for state_name, state in _dynamodb_states(item):
        for request in _requests(state["Arguments"]):
            key = request.get("Key") or {name: request["Item"][name] for name in (PK, SK)}
            assert set(key) == {PK, SK}, state_name
            assert key[PK] == {"S": schema.job_pk(job)}, state_name
            for bindings in BINDINGS:
                sort_key = _evaluate(key[SK]["S"], bindings)
                kind = _kind(sort_key)
                kinds.add(kind)
                expected = {
                    "meta": META,
                    "run": schema.run_sk(bindings["run_id"]),
                    "dedupe": schema.dedupe_sk(bindings["scheduled_time"], bindings["run_id"]),
                }[kind]
                assert sort_key == expected, state_name
    assert kinds == {"meta", "run", "dedupe"}
    # The execution role may touch only the partition the machine writes.
    leading = [
        statement["Condition"]["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"]
        for statement in item.policy["Statement"]
        if "dynamodb:LeadingKeys" in str(statement.get("Condition"))
    ]
    assert leading == [[schema.job_pk(job)]]


@pytest.mark.parametrize("item", COMPILED, ids=IDS)
def test_state_machines_read_and_write_only_the_schemas_attributes(item: CompiledJob) -> None:
    for state_name, state in _dynamodb_states(item):
        for request in _requests(state["Arguments"]):
            key = request.get("Key") or request["Item"]
            kind = _kind(_evaluate(key[SK]["S"], BINDINGS[0]))
            names = request.get("ExpressionAttributeNames", {})
            touched = set(request.get("Item", {}))
            for field in ("UpdateExpression", "ConditionExpression"):
                touched |= _named(request.get(field, ""), names)
            unknown = touched - ALLOWED[kind]
            assert not unknown, f"{state_name} writes {sorted(unknown)} on a {kind} item"


@pytest.mark.parametrize("item", COMPILED, ids=IDS)
def test_run_records_carry_the_schemas_index_keys_and_statuses(item: CompiledJob) -> None:
    job = item.job.name
    states = item.definition["States"]
    written = [states["Claim"]["Arguments"]["TransactItems"][2]["Put"]["Item"]]
    written.append(states["RecordSkip"]["Arguments"]["Item"])
    # Input the machine admits: every parameter given, within its enum.
    given = {n: (p.enum[0] if p.enum else "2026-03-01") for n, p in item.job.parameters.items()}
    admitted = [
        {**b, "states": {**b["states"], "input": {**b["states"]["input"], "parameters": given}}}
        for b in BINDINGS
    ]
    for record, status in zip(written, (RunStatus.RUNNING, RunStatus.SKIPPED), strict=True):
        for bindings in admitted:
            run_id, started = bindings["run_id"], bindings["started_at"]
            assert _evaluate(record["job"]["S"], bindings) == job
            assert _evaluate(record["run_id"]["S"], bindings) == run_id
            assert _evaluate(record["job_time"]["S"], bindings) == schema.job_time(started, run_id)
            assert _evaluate(record["status_time"]["S"], bindings) == schema.status_time(
                started, job, run_id
            )
            assert _evaluate(record["status"]["S"], bindings) == status
        assert "N" in record[TTL], "every run record expires"
    # The statuses the machine assigns or writes literally are run statuses: a Catch assigns a
    # terminal one (or, on the way to another claim, the first state's RUNNING); the end
    # states' updates move only RUNNING records.
    initial = states["Claim"]["Assign"]["status"]
    assert _evaluate(initial, {}) == RunStatus.RUNNING
    assigned = [
        set(re.findall(r"'([A-Z_]+)'", value)) if value.startswith("{%") else {value}
        for state in states.values()
        for catch in state.get("Catch", [])
        for name, value in catch.get("Assign", {}).items()
        if name == "status" and value != initial
    ]
    assert assigned and set().union(*assigned) <= set(TERMINAL)
    for name in ("RecordSuccess", "RecordFailure"):
        arguments = states[name]["Arguments"]
        assert arguments["ExpressionAttributeValues"][":running"] == {"S": RunStatus.RUNNING}
    assert states["RecordSuccess"]["Arguments"]["ExpressionAttributeValues"][":status"] == {
        "S": RunStatus.SUCCEEDED
    }


def test_statuses_are_one_enum_and_the_terminal_ones_end_a_run() -> None:
    assert [str(status) for status in STATUSES] == [
        "RUNNING",
        "SUCCEEDED",
        "FAILED",
        "TIMED_OUT",
        "ABORTED",
        "SKIPPED",
    ]
    assert set(STATUSES) == set(RunStatus) and RunStatus.RUNNING not in TERMINAL
    ended = schema.EXECUTION_ENDED
    assert ended == {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}, "no execution is SKIPPED"


def test_key_builders_spell_the_documented_formats() -> None:
    assert schema.run_key("report", "r1") == {"pk": {"S": "JOB#report"}, "sk": {"S": "RUN#r1"}}
    assert schema.meta_key("report") == {"pk": {"S": "JOB#report"}, "sk": {"S": "META"}}
    assert schema.state_key("report", schema.WATCHDOG)["sk"] == {"S": "WATCHDOG"}
    assert schema.signature_key("v0=ab") == {
        "pk": {"S": "SLACK#REQUEST"},
        "sk": {"S": "SIG#v0=ab"},
    }
    assert schema.dedupe_sk("2026-03-01T04:05:00Z", "r1") == "DEDUPE#2026-03-01T04:05"
    assert schema.dedupe_sk("", "r1") == "DEDUPE#r1"
    assert schema.job_of("JOB#report") == "report" and schema.job_of("SLACK#REQUEST") is None
    assert schema.job_time("t", "r1") == "t#r1"
    assert schema.status_time("t", "report", "r1") == "t#report#r1"


# ---------------------------------------------------------------- (b) deploy and the store


def _table() -> Resource:
    """The history table as deploy creates it."""
    (table,) = [
        r for r in shared_resources("lab", None, PLACEHOLDERS) if r.kind is ResourceKind.TABLE
    ]
    return table


def test_the_deployed_table_has_the_schemas_key_indexes_and_ttl() -> None:
    table = _table()
    assert table.spec == {
        "key": [PK, SK],
        "indexes": {name: list(attributes) for name, attributes in INDEXES.items()},
        "ttl": TTL,
    }


class _Recording:
    """A DynamoDB client that records queries and finds nothing."""

    def __init__(self) -> None:
        self.queries: list[dict[str, Any]] = []

    def query(self, **request: Any) -> dict[str, Any]:
        self.queries.append(request)
        return {"Items": []}


def test_the_stores_queries_use_the_deployed_indexes_on_their_key_attributes() -> None:
    table = _table()
    client = _Recording()
    store = RunStore(client, "lab-history")
    store.by_job("report", since="2026-01-01")
    store.by_status("FAILED", since="2026-01-01")
    store.recent(limit=5)
    store.jobs()
    store.find("r1")
    used = set()
    for request in client.queries:
        index = request["IndexName"]
        used.add(index)
        attributes = _named(
            request["KeyConditionExpression"], request.get("ExpressionAttributeNames", {})
        )
        assert attributes == set(table.spec["indexes"][index][: len(attributes)]), request
    assert used == set(table.spec["indexes"])


def test_the_alert_contract_spells_the_failed_statuses_the_core_defines() -> None:
    from typing import get_args

    from chalicelib.alerts.message import FailureContext, RunContext
    from chalicelib.core.history import FAILED_STATUSES, RunStatus

    failure = FailureContext.model_fields["status"].annotation
    run = RunContext.model_fields["status"].annotation
    assert set(get_args(failure)) == set(FAILED_STATUSES)
    assert set(get_args(run)) == {*FAILED_STATUSES, RunStatus.SUCCEEDED}
