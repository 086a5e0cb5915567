"""Resolving jobs.yaml references at plan time: environment variables, Terraform state and
AWS lookups (grammar: `jobctl.registry.references`).

Owns what a reference stands for in one environment and the registry with those values
substituted, which is what plan compiles and compares (build compiles the references as
written, so statemachines/ stays environment-neutral). Invariants: only reads (an
environment mapping, a state file, S3 GetObject, EC2/ECS Describe calls); each distinct
reference is resolved once per plan; every reference that cannot be resolved is reported
together, each at its FILE:LINE:COL, before anything is planned or applied; a lookup
matching zero or several resources is an error, never a guess; a registry without
references makes no call at all.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.aws.clients import ClientFactory, describe_error
from chalicelib.core.errors import JobctlError
from jobctl.registry import references
from jobctl.registry.diagnostics import Diagnostic, render_field, subject_of
from jobctl.registry.errors import located
from jobctl.registry.loader import Registry
from jobctl.registry.models import ResolvedJob
from jobctl.registry.references import Key, Reference

Value = str | tuple[str, ...]
_FAMILY = r"[A-Za-z0-9_-]{1,255}(:[1-9][0-9]*)?"
# What jobs.yaml's task_definition accepts (jobctl.registry.models), for resolved values.
_TASK_DEFINITION = re.compile(
    rf"{_FAMILY}|arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{{12}}:task-definition/{_FAMILY}"
)
MAX_ITEMS = {"subnets": 16, "security_groups": 5}


@dataclass(frozen=True)
class Resolution:
    """One reference as written, where it was written, and the value plan used for it."""

    reference: str
    value: Value
    where: str  # FILE:LINE:COL
    job: str | None
    field: str

    @property
    def shown(self) -> str:
        return ",".join(self.value) if isinstance(self.value, tuple) else self.value

    def to_data(self) -> dict[str, Any]:
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return {
            "reference": self.reference,
            "value": value,
            "where": self.where,
            "job": self.job,
            "field": self.field,
        }


class UnresolvedReferenceError(JobctlError):
    """References plan could not resolve, each at its FILE:LINE:COL. Exit 1, nothing planned."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        unique = {d.render(): d for d in diagnostics}
        self.diagnostics = sorted(unique.values(), key=lambda d: (d.file, d.line, d.column))
        super().__init__("\n".join(unique))

    def lines(self) -> list[str]:
        count = len(self.diagnostics)
        return [
            *(d.render() for d in self.diagnostics),
            f"jobctl: {count} reference{'s' if count != 1 else ''} could not be resolved: "
            "nothing was planned or changed",
        ]


class _Failed(Exception):
    """A reference's resolution failed; the message is for users."""


class ReferenceResolver:
    """Resolves one registry's references for one environment, each distinct one once."""

    def __init__(
        self,
        registry: Registry,
        env: str | None,
        factory: ClientFactory,
        environ: Mapping[str, str],
    ) -> None:
        self.registry = registry
        self.env = env
        self.factory = factory
        self.environ = environ
        self._cache: dict[str, Value | _Failed] = {}
        self._states: dict[str, Any] = {}
        self.resolutions: dict[tuple[str, str], Resolution] = {}
        self.problems: list[Diagnostic] = []

    # --- entry points -------------------------------------------------------------------

    def account(self) -> str | None:
        """The environment's account pin, resolved (None when it is not pinned)."""
        account, _ = self.registry.pins.get(self.env or "", (None, None))
        if account is None:
            return None
        value = self._value(account, "account", ("environments", self.env or "", "account"), None)
        self._raise()
        return value if isinstance(value, str) else None

    def resolve(self) -> Registry:
        """The registry with this environment's jobs' references replaced by their values."""
        jobs = tuple(self._job(job) for job in self.registry.jobs_for(self.env))
        self._raise()
        return dataclasses.replace(self.registry, jobs={**self.registry.jobs, self.env: jobs})

    @property
    def all(self) -> list[Resolution]:
        return sorted(self.resolutions.values(), key=lambda r: (r.where, r.reference))

    def _raise(self) -> None:
        if self.problems:
            raise UnresolvedReferenceError(self.problems)

    # --- walking a job ------------------------------------------------------------------

    def _job(self, job: ResolvedJob) -> ResolvedJob:
        update: dict[str, Any] = {}
        for setting in ("cluster", "task_definition"):
            value = self._value(getattr(job, setting), setting, self._origin(job, (setting,)), job)
            if isinstance(value, str):
                update[setting] = value
        if job.network is not None:
            network: dict[str, list[str]] = {}
            for setting in ("subnets", "security_groups"):
                items: list[str] = []
                for index, item in enumerate(getattr(job.network, setting)):
                    path = self._origin(job, ("network", setting, index))
                    value = self._value(item, setting, path, job)
                    items.extend((value,) if isinstance(value, str) else value or ())
                limit = MAX_ITEMS[setting]
                if len(items) > limit:
                    path = self._origin(job, ("network", setting))
                    self._problem(path, job, f"resolves to {len(items)} values; at most {limit}")
                network[setting] = items
            update["network"] = job.network.model_copy(update=network)
        return job.model_copy(update=update)

    def _value(
        self, text: str, setting: str, path: tuple[Any, ...], job: ResolvedJob | None
    ) -> Value | None:
        """`text`'s value for `setting` (a literal is itself); None after a problem."""
        if references.is_escaped(text):
            return references.unescape(text)
        reference = references.parse_reference(text)
        if reference is None:
            return text
        if text not in self._cache:
            try:
                self._cache[text] = self._lookup(reference)
            except _Failed as failed:
                self._cache[text] = failed
        found = self._cache[text]
        try:
            if isinstance(found, _Failed):
                raise found
            value = _fit(found, setting)
        except _Failed as failed:
            self._problem(path, job, f"{text}: {failed}")
            return None
        where = located(self.registry.document, path, "").render().split(": ", 1)[0]
        field = references_field(path)
        self.resolutions.setdefault(
            (text, where), Resolution(text, value, where, job.name if job else None, field)
        )
        return value

    def _problem(self, path: tuple[Any, ...], job: ResolvedJob | None, message: str) -> None:
        diagnostic = located(self.registry.document, path, message)
        self.problems.append(diagnostic)

    def _origin(self, job: ResolvedJob, field: tuple[Any, ...]) -> tuple[Any, ...]:
        """The document path that set `field` of `job`: the most specific layer holding it
        (mappings merge key by key, lists replace, so the list's own layer holds an item)."""
        layers: list[tuple[str, ...]] = [("jobs", job.name)]
        if self.env:
            layers.insert(0, ("jobs", job.name, "environments", self.env))
            layers.append(("environments", self.env))
        layers.append(("defaults",))
        container = tuple(part for part in field if not isinstance(part, int))
        for layer in layers:
            if _present(self.registry.document.data, (*layer, *container)):
                return (*layer, *field)
        return ("jobs", job.name)

    # --- lookups ------------------------------------------------------------------------

    def _lookup(self, reference: Reference) -> Value:
        if reference.scheme == "env":
            return self._env(reference)
        if reference.scheme == "tfstate":
            return self._tfstate(reference)
        try:
            return self._aws(reference)
        except _Failed:
            raise
        except Exception as exc:
            if type(exc).__module__.startswith("botocore") and hasattr(exc, "response"):
                raise _Failed(f"AWS refused the lookup: {describe_error(exc)}") from None
            raise

    def _env(self, reference: Reference) -> str:
        value = self.environ.get(reference.name)
        if value:
            return value
        if reference.default is not None:
            return reference.default
        raise _Failed(
            f"the environment variable {reference.name} is not set (set it, pass "
            f"--envfile FILE, or give a default: ${{env:{reference.name}:-VALUE}})"
        )

    def _state(self) -> Any:
        environments = self.registry.document.data.get("environments")
        settings = environments.get(self.env) if isinstance(environments, dict) else None
        location = settings.get("tfstate") if isinstance(settings, dict) else None
        if not isinstance(location, str):
            where = f"environments.{self.env}" if self.env else "an environment"
            raise _Failed(
                f"no Terraform state is named: set `tfstate: PATH` or `tfstate: s3://BUCKET/KEY` "
                f"in {where}"
            )
        if location not in self._states:
            try:
                self._states[location] = self._read_state(location)
            except _Failed as failed:
                self._states[location] = failed
        state = self._states[location]
        if isinstance(state, _Failed):
            raise state
        return state

    def _read_state(self, location: str) -> Any:
        if location.startswith("s3://"):
            bucket, _, key = location.removeprefix("s3://").partition("/")
            try:
                body = self.factory.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
            except Exception as exc:
                if hasattr(exc, "response"):
                    raise _Failed(f"cannot read {location}: {describe_error(exc)}") from None
                raise
        else:
            path = Path(self.registry.document.file).parent / location
            try:
                body = path.read_bytes()
            except OSError as exc:
                raise _Failed(f"cannot read the Terraform state {path}: {exc.strerror}") from None
        try:
            state = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise _Failed(f"{location} is not a Terraform state (not JSON)") from None
        if not isinstance(state, dict) or state.get("version") != 4:
            version = state.get("version") if isinstance(state, dict) else None
            raise _Failed(
                f"{location} is not a Terraform state of format version 4 (found {version!r}); "
                "Terraform 0.12 and later write version 4"
            )
        return state

    def _tfstate(self, reference: Reference) -> Value:
        state = self._state()
        if reference.output is not None:
            outputs = state.get("outputs") or {}
            output = outputs.get(reference.output)
            if not isinstance(output, dict):
                known = ", ".join(sorted(outputs)) or "none"
                raise _Failed(f"the state has no output '{reference.output}' (outputs: {known})")
            if output.get("sensitive"):
                raise _Failed(
                    f"output '{reference.output}' is sensitive: plans show every resolved "
                    "value, so jobctl does not read sensitive outputs"
                )
            return _scalar(_walk(output.get("value"), reference.path, reference.output))
        address = _address(reference)
        matches = [
            resource
            for resource in state.get("resources") or []
            if resource.get("module", "") == reference.module
            and resource.get("mode") == reference.mode
            and resource.get("type") == reference.type
            and resource.get("name") == reference.name
        ]
        if not matches:
            raise _Failed(f"the state has no resource {address}")
        instances = matches[0].get("instances") or []
        if reference.index is None:
            if len(instances) == 1 and "index_key" not in instances[0]:
                chosen = instances[0]
            else:
                keys = ", ".join(_index_text(i.get("index_key")) for i in instances) or "none"
                raise _Failed(
                    f"{address} has {len(instances)} instances ({keys}): name one, "
                    f"e.g. {address}{_index_text(instances[0].get('index_key')) if instances else '[0]'}"
                )
        else:
            chosen = next((i for i in instances if i.get("index_key") == reference.index), None)
            if chosen is None:
                raise _Failed(
                    f"{address} has no instance {_index_text(reference.index)} "
                    f"(it has {len(instances)})"
                )
        return _scalar(_walk(chosen.get("attributes") or {}, reference.path, address))

    def _aws(self, reference: Reference) -> Value:
        if reference.kind in ("subnet", "security-group") and reference.tag:
            key, value = reference.tag
            filters = [{"Name": f"tag:{key}", "Values": [value]}]
            ec2 = self.factory.client("ec2")
            if reference.kind == "subnet":
                pages = ec2.get_paginator("describe_subnets").paginate(Filters=filters)
                found = [item["SubnetId"] for page in pages for item in page["Subnets"]]
            else:
                pages = ec2.get_paginator("describe_security_groups").paginate(Filters=filters)
                found = [item["GroupId"] for page in pages for item in page["SecurityGroups"]]
            return _one(found, f"{reference.kind} tagged {key}={value}")
        ecs = self.factory.client("ecs")
        if reference.kind == "cluster":
            answer = ecs.describe_clusters(clusters=[reference.name])
            active = [c["clusterName"] for c in answer["clusters"] if c.get("status") == "ACTIVE"]
            return _one(active, f"ACTIVE cluster named {reference.name}")
        try:
            definition = ecs.describe_task_definition(taskDefinition=reference.name)
        except Exception as exc:
            if hasattr(exc, "response"):
                raise _Failed(
                    f"no task definition family {reference.name}: {describe_error(exc)}"
                ) from None
            raise
        found_definition = definition["taskDefinition"]
        if found_definition.get("status", "ACTIVE") != "ACTIVE":
            raise _Failed(f"task definition family {reference.name} has no ACTIVE revision")
        return f"{found_definition['family']}:{found_definition['revision']}"


def references_field(path: tuple[Any, ...]) -> str:
    return render_field(subject_of(path)[1])


def _present(data: Any, path: tuple[Any, ...]) -> bool:
    for part in path:
        if not isinstance(data, dict) or part not in data or data[part] is None:
            return False
        data = data[part]
    return True


def _walk(value: Any, path: tuple[Key, ...], where: str) -> Any:
    for step in path:
        in_list = isinstance(step, int) and isinstance(value, list) and 0 <= step < len(value)
        in_mapping = isinstance(step, str) and isinstance(value, dict) and step in value
        if in_list or in_mapping:
            value = value[step]
        else:
            shown = f"[{step}]" if isinstance(step, int) else f".{step}"
            raise _Failed(f"{where} has no {shown}")
    return value


def _scalar(value: Any) -> Value:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise _Failed(f"resolves to {json.dumps(value)[:80]}, not text or a list of text")


def _fit(value: Value, setting: str) -> Value:
    """`value` as `setting` takes it: lists only where a setting is a list, checked text."""
    if isinstance(value, str) and setting in references.LISTS and "," in value:
        value = tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, tuple):
        if setting not in references.LISTS:
            raise _Failed(f"resolves to {len(value)} values, but {setting} takes one")
        if not value:
            raise _Failed("resolves to no value")
        return value
    if not value.strip():
        raise _Failed("resolves to an empty value")
    if setting == "account" and not (len(value) == 12 and value.isdigit()):
        raise _Failed(f"resolves to '{value}', which is not an AWS account id (12 digits)")
    if setting == "task_definition" and not _TASK_DEFINITION.fullmatch(value):
        raise _Failed(
            f"resolves to '{value}', which is not a task definition family, family:revision or ARN"
        )
    return value


def _one(found: list[str], what: str) -> str:
    if len(found) == 1:
        return found[0]
    if not found:
        raise _Failed(f"no {what} found")
    raise _Failed(f"{len(found)} of them match ({', '.join(sorted(found))}): it is ambiguous")


def _address(reference: Reference) -> str:
    parts = [reference.module] if reference.module else []
    if reference.mode == "data":
        parts.append("data")
    parts += [reference.type, reference.name]
    return ".".join(parts)


def _index_text(index: Any) -> str:
    if index is None:
        return "(no index)"
    return f'["{index}"]' if isinstance(index, str) else f"[{index}]"
