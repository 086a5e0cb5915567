"""Requests checked against botocore's service models: AWS's own API shapes, offline.

Owns `problems(service, operation, params)`: every way a request breaks the operation's
input shape as botocore's model documents it (botocore/data/<service>/<version>/
service-2.json, shipped in the installed package): unknown and missing members, types,
enums, min/max lengths and counts, numeric ranges and patterns. botocore's own
`ParamValidator` is run first (unknown/missing members, types, minimums); enums, maximums
and patterns, which it skips, are checked here. `output_members(service, operation, path)`
answers what an output shape documents, for checking what moto fixes return.

Step Functions' optimized integrations spell members in PascalCase where the API is
camelCase (ECS `Cluster` for `cluster`): `to_api(shape, value)` maps each member by name,
ignoring the first letter's case, before validating; a member that matches no name of the
shape is kept as written, so it is reported as unknown. Models are loaded once per process.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import botocore.session
from botocore.model import OperationModel, Shape, StructureShape
from botocore.validate import ParamValidator

# aws-sdk integration service names that differ from botocore's
SDK_SERVICES = {"sfn": "stepfunctions", "eventbridge": "events"}


@functools.cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


@functools.cache
def operation_model(service: str, operation: str) -> OperationModel:
    """`operation` in the API's spelling (`RunTask`) or the integration's (`runTask`)."""
    model = _session().get_service_model(SDK_SERVICES.get(service, service))
    names = {name.lower(): name for name in model.operation_names}
    return model.operation_model(names[operation.lower()])


def to_api(shape: Shape, value: Any) -> Any:
    """`value` with each structure member renamed to the shape's spelling (see above)."""
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        members = {name.lower(): name for name in shape.members}
        out = {}
        for key, item in value.items():
            name = members.get(key.lower(), key) if key[:1].upper() == key[:1] else key
            name = name if name in shape.members else key
            out[name] = to_api(shape.members[name], item) if name in shape.members else item
        return out
    if shape.type_name == "list" and isinstance(value, list):
        return [to_api(shape.member, item) for item in value]  # type: ignore[attr-defined]
    if shape.type_name == "map" and isinstance(value, dict):
        return {key: to_api(shape.value, item) for key, item in value.items()}  # type: ignore[attr-defined]
    return value


def problems(service: str, operation: str, params: dict[str, Any]) -> list[str]:
    """Every way `params` (API spelling) breaks the operation's input shape; [] when valid."""
    model = operation_model(service, operation)
    shape = model.input_shape
    found: list[str] = []
    report = ParamValidator().validate(params, shape)
    if report.has_errors():
        found.extend(line.strip() for line in report.generate_report().splitlines() if line.strip())
    _limits(shape, params, model.name, found)
    return found


def _limits(shape: Shape, value: Any, path: str, found: list[str]) -> None:
    metadata = shape.metadata
    kind = shape.type_name
    if kind == "string" and isinstance(value, str):
        if shape.enum and value not in shape.enum:
            found.append(f"{path}: {value[:40]!r} is not one of {shape.enum}")
        if "max" in metadata and len(value) > metadata["max"]:
            found.append(f"{path}: {len(value)} characters, at most {metadata['max']}")
        pattern = metadata.get("pattern")
        if pattern and not _full_match(pattern, value):
            found.append(f"{path}: {value[:60]!r} does not match {pattern}")
    elif kind in ("integer", "long") and isinstance(value, int):
        if "max" in metadata and value > metadata["max"]:
            found.append(f"{path}: {value} > {metadata['max']}")
    elif kind == "list" and isinstance(value, list):
        if "max" in metadata and len(value) > metadata["max"]:
            found.append(f"{path}: {len(value)} items, at most {metadata['max']}")
        for index, item in enumerate(value):
            _limits(shape.member, item, f"{path}[{index}]", found)  # type: ignore[attr-defined]
    elif kind == "map" and isinstance(value, dict):
        if "max" in metadata and len(value) > metadata["max"]:
            found.append(f"{path}: {len(value)} entries, at most {metadata['max']}")
        for key, item in value.items():
            _limits(shape.key, key, f"{path}.<key>", found)  # type: ignore[attr-defined]
            _limits(shape.value, item, f"{path}.{key}", found)  # type: ignore[attr-defined]
    elif isinstance(shape, StructureShape) and isinstance(value, dict):
        for key, item in value.items():
            if key in shape.members:
                _limits(shape.members[key], item, f"{path}.{key}", found)


@functools.cache
def _regex(pattern: str) -> re.Pattern[str] | None:
    # AWS's patterns are Java regexes; the few Python cannot read are skipped (not guessed).
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:
        return None


def _full_match(pattern: str, value: str) -> bool:
    # Anchored patterns (`^...$`) must cover the value; an unanchored one must occur in it.
    regex = _regex(pattern)
    return regex is None or regex.search(value) is not None


def output_members(service: str, operation: str, path: list[str]) -> set[str]:
    """The member names botocore documents at `path` of an operation's output shape
    (a list is stepped through implicitly): e.g. DescribeTasks, ["tasks", "containers"]."""
    shape: Shape = operation_model(service, operation).output_shape
    for name in path:
        shape = shape.members[name]  # type: ignore[attr-defined]
        while shape.type_name == "list":
            shape = shape.member  # type: ignore[attr-defined]
    return set(shape.members)  # type: ignore[attr-defined]
