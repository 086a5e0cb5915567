"""Manual-run parameters: only what the job declares, each value checked, never a shell string.

A parameter reaches the container as one environment variable (ECS exec-form overrides,
filtered again by the state machine to declared names). Invariants: a name the job does
not declare, a reserved name (AWS_*, ECS_*, LD_*) or the name of one of the task's secrets
is refused even if a stale deploy declared it; values are strings of bounded size with no
control characters; a value must match its `enum` or fully match its `pattern`, matched by
RE2 (`chalicelib.core.patterns`: linear time, ASCII `\\d`) so no value can pin the Lambda.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from chalicelib.core import patterns
from chalicelib.core.text import UNSAFE
from chalicelib.ops.errors import InvalidRequest

if TYPE_CHECKING:  # `jobctl validate` reads RESERVED_PARAMETER and needs no pydantic model
    from chalicelib.core.deployed import DeployedParameter

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
# Names the platform sets: jobs.yaml may not declare them, nor may a run pass them.
RESERVED_PARAMETER = re.compile(r"^(AWS_|ECS_|LD_)")
MAX_VALUE = 1024


def check_parameters(
    job: str, given: dict[str, str], declared: Mapping[str, DeployedParameter], secrets: list[str]
) -> dict[str, str]:
    """The parameters to pass, or InvalidRequest naming the first bad one."""
    for name, value in sorted(given.items()):
        if not NAME.match(name):
            raise InvalidRequest(f"parameter '{name[:64]}' is not a valid name", field=name[:64])
        if RESERVED_PARAMETER.match(name) or name in secrets:
            raise InvalidRequest(
                f"parameter '{name}' is reserved (AWS_*, ECS_*, LD_* and the task's secrets "
                "cannot be set)",
                field=name,
            )
        spec = declared.get(name)
        if spec is None:
            allowed = ", ".join(sorted(declared)) or "none"
            raise InvalidRequest(
                f"job '{job}' does not declare parameter '{name}' (declared: {allowed})",
                field=name,
            )
        _check_value(name, value, spec)
    for name, spec in sorted(declared.items()):
        # An empty value is no value: the container would start without the parameter.
        if spec.required and given.get(name, "") == "" and spec.default is None:
            raise InvalidRequest(f"parameter '{name}' is required", field=name)
    return dict(sorted(given.items()))


def _check_value(name: str, value: str, spec: DeployedParameter) -> None:
    if len(value) > MAX_VALUE:
        raise InvalidRequest(
            f"parameter '{name}' is longer than {MAX_VALUE} characters", field=name
        )
    if UNSAFE.search(value):  # tab is the one control character allowed
        raise InvalidRequest(f"parameter '{name}' contains control characters", field=name)
    enum = spec.enum
    if enum is not None and value not in enum:
        raise InvalidRequest(
            f"parameter '{name}' must be one of: {', '.join(map(str, enum))}", field=name
        )
    pattern = spec.pattern
    try:
        matches = pattern is None or patterns.fullmatch(pattern, value)
    except patterns.PatternError:
        # validate refuses such patterns; a stale or hand-edited deploy must not make it a 500.
        raise InvalidRequest(
            f"parameter '{name}' has a pattern this version cannot check: deploy the job again",
            field=name,
        ) from None
    if not matches:
        raise InvalidRequest(f"parameter '{name}' must match the pattern {pattern}", field=name)
