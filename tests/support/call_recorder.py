"""Every AWS API call made through botocore in a block of code, recorded with its parameters.

Owns `recording()`: a context manager that wraps `botocore.client.BaseClient._make_api_call`
(the one method every client operation goes through, whatever session or factory made the
client) and appends a `Call(service, operation, params)` per call, before botocore
validates or sends it. The oracles use it to check what jobctl's code really sends (deploy's
requests against botocore's shapes, the Lambda functions' calls against their IAM
policies), so a new kind of call is seen without anyone listing it. Invariant: the wrapper
records and delegates, never alters a call; it is removed on exit.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import botocore.client


@dataclass(frozen=True)
class Call:
    service: str  # botocore's service name: "dynamodb", "stepfunctions", "events"
    operation: str  # the API's operation name: "UpdateItem"
    params: dict[str, Any]


@contextmanager
def recording() -> Iterator[list[Call]]:
    calls: list[Call] = []
    original = botocore.client.BaseClient._make_api_call

    def make_api_call(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        service = self.meta.service_model.service_name
        calls.append(Call(service, operation_name, copy.deepcopy(api_params)))
        return original(self, operation_name, api_params)

    botocore.client.BaseClient._make_api_call = make_api_call  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        botocore.client.BaseClient._make_api_call = original  # type: ignore[method-assign]
