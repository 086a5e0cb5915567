"""Pydantic validation errors -> located, human diagnostics.

Owns the wording of schema errors (types, ranges, unknown keys with did-you-mean, hints for
keys people bring from Kubernetes CronJob) and their mapping to file positions.
Invariant: messages never include pydantic's internal phrasing ("Value error, ...") or URLs.
"""

from __future__ import annotations

import re
import types
from difflib import get_close_matches
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from jobctl.registry.diagnostics import Diagnostic, render_field, subject_of
from jobctl.registry.yamldoc import Document, Path

# Keys people carry over from Kubernetes CronJob or older drafts of this schema.
_KEY_HINTS = {
    "attempts": "use 'retries' (how many times to retry after the first attempt)",
    "backoffLimit": "Kubernetes' backoffLimit is 'retry.retries' here",
    "concurrencyPolicy": "Kubernetes' concurrencyPolicy is 'concurrency' here (allow, forbid, replace)",
    "startingDeadlineSeconds": "Kubernetes' startingDeadlineSeconds is 'starting_deadline' here (e.g. 10m)",
    "activeDeadlineSeconds": "Kubernetes' activeDeadlineSeconds is 'timeout' here (e.g. 1h)",
    "suspend": "Kubernetes' suspend is 'enabled: false' here",
    "timeZone": "Kubernetes' timeZone is 'timezone' here",
    "env": "use 'environment' (a mapping of NAME: value)",
    "args": "use 'command' (the full exec-form command as a list)",
    "secrets": "secrets belong in the task definition's 'secrets' (Secrets Manager / SSM), "
    "not in jobs.yaml",
    # The rest of the README's "Moving from a Kubernetes CronJob" table.
    "restartPolicy": "Kubernetes' restartPolicy is 'retry' here (e.g. retry: {retries: 2}): "
    "a failed attempt starts a new task",
    "resources": "Kubernetes' resources.requests/limits are 'cpu' and 'memory' here "
    "(e.g. cpu: 512, memory: 1024; Fargate sizes are checked)",
    "image": "the image belongs in the ECS task definition: register it there and name the "
    "task definition with 'task_definition'",
    "containers": "the container is named with 'container' and its image belongs in the task "
    "definition ('task_definition'); its command is 'command'",
    "successfulJobsHistoryLimit": "Kubernetes' successfulJobsHistoryLimit is "
    "'history: {retention: 90d}' here (every run is kept for the retention)",
    "failedJobsHistoryLimit": "Kubernetes' failedJobsHistoryLimit is "
    "'history: {retention: 90d}' here (every run is kept for the retention)",
    "envFrom": "secrets and config maps belong in the task definition ('secrets', "
    "'environmentFiles'); plain values go in 'environment'",
    "jobTemplate": "write the job's settings directly under its name (command, environment, "
    "cpu, memory, retry, timeout), not under jobTemplate",
    "spec": "write the job's settings directly under its name (schedule, timezone, "
    "concurrency, ...), not under spec",
    "metadata": "the job's name is its key under 'jobs:'; use 'description', 'owner' and "
    "'tags' for the rest",
    "apiVersion": "jobs.yaml is not a Kubernetes manifest: see `jobctl init` for its shape",
    "kind": "jobs.yaml is not a Kubernetes manifest: see `jobctl init` for its shape",
}


# The old key of `alerts`, and what a YAML 1.1 tool (which reads `on` as true) writes back.
_YAML11_TRUE_KEYS = {"on", "true"}


def describe_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        # As written (`1.10`, `0x1F`): the loader keeps a number's source text.
        return f"the number {getattr(value, 'source', value)}"
    if isinstance(value, str):
        return f"the text '{_shortened(value)}'"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _shortened(text: str, limit: int = 80) -> str:
    """`text`, or its start and its length when it would not fit on a line."""
    return text if len(text) <= limit else f"{text[: limit - 20]}... ({len(text)} characters)"


_PLAIN_WORD = re.compile(r"[A-Za-z0-9_./=+@%-][A-Za-z0-9_./=+@%:-]*")


def _list_hint(value: Any) -> str:
    """For a text where a list is expected: the list it probably means (`[bin/sync, --full]`)."""
    if not isinstance(value, str) or not value.strip():
        return ""
    words = value.split()
    # A shell construct has no list equivalent: say so instead of splitting it wrongly.
    if any(char in value for char in "\"'|&;<>$`\\(){}*?"):
        return ": write it as a list of arguments (exec form, no shell), or [sh, -c, '...']"
    # Words YAML's flow lists would misread (`,`, `[`, `#`, `: `...) are shown quoted.
    items = ", ".join(word if _PLAIN_WORD.fullmatch(word) else f"'{word}'" for word in words)
    return f": write it as a list, e.g. [{items}]"


def _message(error: Any) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    value = error.get("input")
    simple = {
        "missing": "required",
        "bool_type": f"expected true or false, found {describe_value(value)}",
        "bool_parsing": f"expected true or false, found {describe_value(value)}",
        "string_type": f"expected text, found {describe_value(value)}"
        + (": quote it" if isinstance(value, int | float) and not isinstance(value, bool) else ""),
        "int_type": f"expected a whole number, found {describe_value(value)}",
        "int_parsing": f"expected a whole number, found {describe_value(value)}",
        "int_from_float": f"expected a whole number, found {describe_value(value)}",
        # A plain number Python will not read (over 4,300 digits) reaches the model as text.
        "int_parsing_size": "expected a whole number, found a number of "
        f"{sum(char.isdigit() for char in str(value))} digits",
        "float_type": f"expected a number, found {describe_value(value)}",
        "float_parsing": f"expected a number, found {describe_value(value)}",
        "list_type": f"expected a list, found {describe_value(value)}{_list_hint(value)}",
        "dict_type": f"expected a mapping, found {describe_value(value)}",
        "model_type": f"expected a mapping, found {describe_value(value)}",
        "model_attributes_type": f"expected a mapping, found {describe_value(value)}",
        "string_too_short": "must not be empty",
    }
    if kind in simple:
        return simple[kind]
    if kind == "literal_error":
        return f"{describe_value(value)} is not allowed; expected {ctx.get('expected')}"
    if kind == "too_short":
        return f"needs at least {ctx.get('min_length')} item(s)"
    if kind == "too_long":
        return f"allows at most {ctx.get('max_length')} item(s)"
    if kind in ("greater_than_equal", "greater_than"):
        return f"must be at least {ctx.get('ge', ctx.get('gt'))}, found {value}"
    if kind in ("less_than_equal", "less_than"):
        return f"must be at most {ctx.get('le', ctx.get('lt'))}, found {value}"
    message: str = error["msg"]
    return message.removeprefix("Value error, ")


def _unwrap(annotation: Any) -> Any:
    """The model or container inside Optional[...] / Annotated[...]."""
    while True:
        origin = get_origin(annotation)
        if origin in (Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            annotation = args[0]
        elif origin is not None and hasattr(annotation, "__metadata__"):
            annotation = get_args(annotation)[0]
        else:
            return annotation


def _model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that validates the mapping at `loc` (relative to `root`)."""
    current: Any = root
    steps = list(loc)
    while steps:
        step = steps.pop(0)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(step))
            if field is None:
                return None
            current = _unwrap(field.annotation)
        elif get_origin(current) in (dict, list, tuple):
            current = _unwrap(get_args(current)[-1])
        else:
            return None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def unknown_key_message(model: type[BaseModel] | None, key: str, where: str = "here") -> str:
    from jobctl.registry.models import AlertsSpec, JobSpec, SettingsSpec

    if key in _KEY_HINTS:
        return f"unknown key '{key}': {_KEY_HINTS[key]}"
    if model is AlertsSpec and key.lower() in _YAML11_TRUE_KEYS:
        if key.lower() == "on":
            return f"unknown key '{key}': `on` is read as true by YAML 1.1 tools; use 'events'"
        return f"unknown key '{key}': a YAML 1.1 tool rewrote the key `on` as `{key}`; use 'events'"
    if model is not None and issubclass(model, SettingsSpec) and key in JobSpec.model_fields:
        return f"unknown key '{key}': '{key}' is set per job, not in {where}"
    if model is not None:
        close = get_close_matches(key, list(model.model_fields), n=1, cutoff=0.6)
        if close:
            return f"unknown key '{key}' (did you mean '{close[0]}'?)"
        return f"unknown key '{key}' (allowed: {', '.join(model.model_fields)})"
    return f"unknown key '{key}'"


def located(
    document: Document,
    path: Path,
    message: str,
    *,
    key: bool = False,
    offset: int = 0,
    field_path: Path | None = None,
) -> Diagnostic:
    """A diagnostic at `path`; labelled with `field_path` (default: `path`)."""
    line, column = document.position(path, key=key)
    job, field = subject_of(path if field_path is None else field_path)
    return Diagnostic(line, column + offset, message, job, render_field(field), document.file)


def diagnostics_from(
    exc: ValidationError, model: type[BaseModel], document: Document, base: Path
) -> list[Diagnostic]:
    """Locate every error in `exc`, raised while validating `model` at `base`."""
    found = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        if error["type"] == "extra_forbidden":
            key = str(loc[-1])
            where = "defaults" if base[:1] == ("defaults",) else "an environment overlay"
            message = unknown_key_message(_model_at(model, loc[:-1]), key, where)
            found.append(
                located(document, (*base, *loc), message, key=True, field_path=(*base, *loc[:-1]))
            )
        elif loc and loc[-1] == "[key]":
            found.append(located(document, (*base, *loc[:-1]), _message(error), key=True))
        else:
            offset = int((error.get("ctx") or {}).get("offset", 0))
            found.append(located(document, (*base, *loc), _message(error), offset=offset))
    return found
