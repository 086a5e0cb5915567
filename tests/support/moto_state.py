"""What a deploy left in moto, put back before each test of a module that deploys once.

A deploy costs seconds of CPU on moto, so a module deploys once (a module-scoped fixture)
and gives each test the state right after it. Such tests change only DynamoDB items (runs,
pause, META edits, dedupe markers, locks) and Step Functions executions; what else the
deploy made (state machines, rules, schedules, roles, topics, task definitions) they only
read. Invariant: after `restore`, every table holds exactly the items it held when the
snapshot was taken, in the same order, and no state machine has an execution (so a test
may use an execution name again). Reaches into moto 5.2.5's backends (`table.items`,
`executions`): an upgrade that renames them fails here, loudly.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from moto.dynamodb.models import dynamodb_backends
from moto.stepfunctions.models import stepfunctions_backends
from moto.stepfunctions.parser.models import stepfunctions_parser_backends


def _backends(backends: Any) -> Iterator[tuple[str, str, Any]]:
    for account, regions in list(backends.items()):
        for region, backend in list(regions.items()):
            yield account, region, backend


def _tables() -> dict[tuple[str, str, str], Any]:
    return {
        (account, region, name): table
        for account, region, backend in _backends(dynamodb_backends)
        for name, table in backend.tables.items()
    }


def _machines() -> Iterator[Any]:
    # Executing state machines (`execute_state_machine`) live in the parser's backends.
    for backends in (stepfunctions_backends, stepfunctions_parser_backends):
        for _, _, backend in _backends(backends):
            for machine in backend.state_machines:
                yield machine
                yield from machine.versions.values()


class DeployedState:
    """A snapshot of moto's DynamoDB items, taken right after a deploy (no execution yet)."""

    def __init__(self) -> None:
        self.tables = {key: copy.deepcopy(table.items) for key, table in _tables().items()}
        assert not any(machine.executions for machine in _machines()), "none started"

    def restore(self) -> None:
        tables = _tables()
        assert tables.keys() == self.tables.keys(), "tests create and delete no table"
        for key, table in tables.items():
            table.items = copy.deepcopy(self.tables[key])
        for machine in _machines():
            machine.executions = []
