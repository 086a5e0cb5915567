"""jobs.yaml -> a validated `Registry` of resolved jobs per environment.

Owns the load -> validate -> resolve pipeline. Each layer (defaults, environment overlay,
job, job overlay) is validated on its own, so one bad job does not hide the errors of
another; layers are then merged (mappings deep-merge, lists and scalars replace, the most
specific layer wins) while remembering which document path each value came from, so errors
found after merging still point at the line that set the value.
Invariants: pure (no AWS, no clock); all problems are raised together as one RegistryError;
a file is read up to the size limit and no further (a FIFO or /dev/zero is refused, not
read forever).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path as FilePath
from typing import Any

from pydantic import BaseModel, ValidationError

from chalicelib.core.names import job_names
from jobctl.registry.checks import Problem, check_job
from jobctl.registry.diagnostics import Diagnostic, RegistryError, render_field
from jobctl.registry.errors import diagnostics_from, located
from jobctl.registry.models import (
    DEFAULT_RETENTION,
    EnvironmentSpec,
    JobOverlaySpec,
    JobSpec,
    RegistrySpec,
    ResolvedJob,
    SettingsSpec,
)
from jobctl.registry.schedule import parse_schedule
from jobctl.registry.yamldoc import MAX_FILE_BYTES, Document, Path, load_document, too_large

# Settings whose mappings merge key by key across layers; everything else replaces.
_DEEP = {"network", "retry", "capacity", "alerts", "logging", "tags", "environment"}
_EXCLUSIVE = ("launch_type", "capacity_provider_strategy")


@dataclass(frozen=True)
class Registry:
    """A validated registry: every job resolved for every deployable environment."""

    project: str
    environments: tuple[str, ...]
    jobs: dict[str | None, tuple[ResolvedJob, ...]]
    document: Document
    # environment -> (account, region) it may deploy to; None where not pinned.
    pins: dict[str, tuple[str | None, str | None]] = dataclasses.field(default_factory=dict)

    @property
    def targets(self) -> tuple[str | None, ...]:
        """Deployable environments; a registry without `environments` has one, None."""
        return tuple(self.jobs)

    def jobs_for(self, env: str | None) -> tuple[ResolvedJob, ...]:
        return self.jobs[env]

    def job(self, env: str | None, name: str) -> ResolvedJob | None:
        return next((job for job in self.jobs[env] if job.name == name), None)


def load_registry(path: str | FilePath, env: str | None = None) -> Registry:
    """Read and validate `path`; with `env`, resolve only that environment."""
    file = str(path)
    try:
        with FilePath(path).open("rb") as stream:
            # One byte past the limit tells a too large file, or a stream that never ends
            # (/dev/zero, a FIFO), without reading more of it.
            content = stream.read(MAX_FILE_BYTES + 1)
        if len(content) > MAX_FILE_BYTES:
            raise too_large(file)
        text = content.decode("utf-8")
    except FileNotFoundError:
        raise RegistryError([Diagnostic(1, 1, "no such file", file=file)]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RegistryError([Diagnostic(1, 1, f"cannot read the file: {exc}", file=file)]) from None
    return parse_registry(text, file, env)


def parse_registry(text: str, file: str = "jobs.yaml", env: str | None = None) -> Registry:
    document = load_document(text, file)
    return _Validator(document).run(env)


class _Validator:
    def __init__(self, document: Document) -> None:
        self.document = document
        self.diagnostics: list[Diagnostic] = list(document.diagnostics)
        # Document paths of values already reported and left out of resolution.
        self.dropped = _DroppedPaths()

    def run(self, selected_env: str | None) -> Registry:
        data = self.document.data
        top = self._validate_top(data)
        history = top.history if top is not None else None
        self.retention = (history.retention if history else None) or DEFAULT_RETENTION
        project = data.get("project") if isinstance(data.get("project"), str) else None
        defaults = self._section(SettingsSpec, data.get("defaults"), ("defaults",))
        environments = self._mapping_section(EnvironmentSpec, data, "environments")
        jobs = self._mapping_section(JobSpec, data, "jobs")

        raw_envs = data.get("environments")
        declared = tuple(str(name) for name in raw_envs) if isinstance(raw_envs, dict) else ()
        self._check_job_overlays(jobs, declared)
        if project is not None:
            self._check_environment_prefixes(project, declared)
            self._check_name_collisions(project, jobs, declared)
        targets: tuple[str | None, ...] = declared or (None,)
        if selected_env is not None:
            targets = self._select(selected_env, declared)

        resolved: dict[str | None, tuple[ResolvedJob, ...]] = {}
        for env in targets:
            overlay = environments.get(env) if env else None
            if project is None or defaults is None or (env and overlay is None):
                continue  # already reported; resolving would only repeat it
            jobs_in_env = [
                self._resolve(project, env, name, defaults, overlay, spec)
                for name, spec in jobs.items()
            ]
            resolved[env] = tuple(job for job in jobs_in_env if job is not None)
        if self.diagnostics or project is None:
            raise RegistryError(self.diagnostics)
        pins = {name: (spec.account, spec.region) for name, spec in environments.items()}
        return Registry(project, declared, resolved, self.document, pins)

    def _check_job_overlays(self, jobs: dict[str, JobSpec], declared: tuple[str, ...]) -> None:
        """A job overlay for an undeclared environment would be silently ignored: refuse it."""
        for name, spec in jobs.items():
            for env_name in spec.environments or {}:
                if env_name not in declared:
                    message = self._unknown_environment(env_name, declared)
                    path = ("jobs", name, "environments", env_name)
                    self.diagnostics.append(
                        located(self.document, path, message, key=True, field_path=path[:-1])
                    )

    def _check_environment_prefixes(self, project: str, declared: tuple[str, ...]) -> None:
        """Refuse an environment whose name extends another's with `-` (`prod` and
        `prod-eu`): IAM scopes an environment by the pattern `<project>-<env>-*` (the
        trigger role, the Lambda policies), which would also match every name of the other
        (`<project>-prod-*` matches `<project>-prod-eu-job`). Refusing this makes each
        environment's pattern match its own names only; it also rules out the name
        collisions `_check_name_collisions` reports, which need such a pair."""
        for short in declared:
            for long in declared:
                if not long.startswith(f"{short}-"):
                    continue
                rest = long.removeprefix(f"{short}-")
                message = (
                    f"environment '{long}' extends environment '{short}': the IAM pattern "
                    f"'{project}-{short}-*' that scopes '{short}' would also match the names "
                    f"of '{long}' ('{project}-{long}-...'); rename one of them so that "
                    f"neither starts with the other followed by '-' (e.g. '{rest}-{short}')"
                )
                path = ("environments", long)
                self.diagnostics.append(located(self.document, path, message, key=True))

    def _check_name_collisions(
        self, project: str, jobs: dict[str, JobSpec], declared: tuple[str, ...]
    ) -> None:
        """Refuse two (environment, job) pairs that spell the same AWS names: with
        environments `prod` and `prod-eu`, job `eu-x` of `prod` and job `x` of `prod-eu` are
        both `<project>-prod-eu-x` (one state machine, rule and role for two jobs)."""
        owners: dict[str, tuple[str, str]] = {}
        for env in declared:
            for name in jobs:
                resource = job_names(project, env, name).state_machine
                other = owners.setdefault(resource, (env, name))
                if other == (env, name):
                    continue
                # Point at the job whose name runs into the other environment's name.
                (env_a, job_a), (env_b, job_b) = sorted([other, (env, name)], key=_by_job_length)
                message = (
                    f"job '{job_b}' of environment '{env_b}' and job '{job_a}' of environment "
                    f"'{env_a}' would both be named '{resource}' in AWS: rename the job or "
                    "one of the environments"
                )
                path = ("jobs", job_b)
                self.diagnostics.append(located(self.document, path, message, key=True))

    def _validate_top(self, data: dict[str, Any]) -> RegistrySpec | None:
        """Top-level keys, version, project, and job/environment names."""
        skeleton: dict[str, Any] = {key: None for key in data}
        skeleton.update(
            {key: data[key] for key in ("version", "project", "history") if key in data}
        )
        for section in ("jobs", "environments"):
            value = data.get(section)
            if isinstance(value, dict):
                skeleton[section] = {name: {} for name in value}
            elif section in data:
                skeleton[section] = value
        skeleton.pop("defaults", None)
        return self._validate(RegistrySpec, skeleton, ())  # type: ignore[no-any-return]

    # --- layer validation ---------------------------------------------------------------

    def _validate(self, model: type[BaseModel], value: Any, path: Path) -> Any:
        try:
            return model.model_validate(value)
        except ValidationError as exc:
            self.diagnostics.extend(diagnostics_from(exc, model, self.document, path))
            return None

    def _section(self, model: type[BaseModel], value: Any, path: Path) -> Any:
        """Validate one layer; if some keys are bad, continue without them.

        Resolving the rest of the layer lets cross-field checks report too, so a user
        sees every problem in one run.
        """
        value = {} if value is None else value
        try:
            return model.model_validate(value)
        except ValidationError as exc:
            self.diagnostics.extend(diagnostics_from(exc, model, self.document, path))
            if not isinstance(value, dict):
                return None
            for error in exc.errors():
                loc = tuple(part for part in error["loc"] if part != "[key]")
                value = _without(value, loc)
                self.dropped.add((*path, *_droppable(loc)))
            try:
                return model.model_validate(value)
            except ValidationError:
                return None

    def _mapping_section(
        self, model: type[BaseModel], data: dict[str, Any], key: str
    ) -> dict[str, Any]:
        """Validate each entry of a name -> spec mapping on its own."""
        value = data.get(key)
        if not isinstance(value, dict):
            return {}  # missing or not a mapping: reported by _validate_top
        result = {}
        for name, entry in value.items():
            spec = self._section(model, entry, (key, name))
            if spec is not None:
                result[name] = spec
        return result

    def _select(self, env: str, declared: tuple[str, ...]) -> tuple[str | None, ...]:
        if env in declared:
            return (env,)
        message = self._unknown_environment(env, declared)
        self.diagnostics.append(
            Diagnostic(1, 1, message, file=self.document.file, field="environments")
        )
        return ()

    @staticmethod
    def _unknown_environment(env: str, declared: tuple[str, ...]) -> str:
        close = (
            get_close_matches(env, declared, n=1)
            or [name for name in declared if name.startswith(env)][:1]
        )
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        known = ", ".join(declared) if declared else "none are declared"
        return f"unknown environment '{env}'{hint}; environments: {known}"

    # --- resolution ----------------------------------------------------------------------

    def _resolve(
        self,
        project: str,
        env: str | None,
        name: str,
        defaults: SettingsSpec,
        overlay: EnvironmentSpec | None,
        spec: JobSpec,
    ) -> ResolvedJob | None:
        merged: dict[str, Any] = {}
        origin: dict[tuple[str, ...], Path] = {}
        layers: list[tuple[BaseModel | None, Path]] = [
            (defaults, ("defaults",)),
            (overlay, ("environments", env or "")),
            (spec, ("jobs", name)),
        ]
        job_overlay: JobOverlaySpec | None = (spec.environments or {}).get(env or "")
        layers.append((job_overlay, ("jobs", name, "environments", env or "")))
        for layer, path in layers:
            if layer is not None:
                self._apply(merged, origin, layer, path)
        for field in ("environments", "account", "region", "tfstate"):
            merged.pop(field, None)
        merged.update(name=name, project=project, env=env, history_retention=self.retention)

        layer_paths = self._layer_paths(env, name)
        stand_ins = {
            field: value
            for field, value in _STAND_INS.items()
            if field not in merged and self._was_dropped(layer_paths, (field,))
        }
        try:
            job = ResolvedJob.model_validate({**merged, **stand_ins})
        except ValidationError as exc:
            self._report_resolution(exc, env, name, origin)
            # Still check the rest of the job (secrets, sizes, parameters): one bad key in
            # `defaults` must not hide every job's other problems. The job stays rejected.
            failed = {str(error["loc"][0]) for error in exc.errors() if error["loc"]}
            checked = self._without_failed(merged, stand_ins, failed)
            if checked is not None:
                self._report_checks(checked, name, origin, layer_paths, failed)
            return None
        problems = self._report_checks(job, name, origin, layer_paths, set())
        return None if problems or stand_ins else job

    def _report_checks(
        self,
        job: ResolvedJob,
        name: str,
        origin: dict[tuple[str, ...], Path],
        layer_paths: list[Path],
        failed: set[str],
    ) -> list[Problem]:
        """Run the whole-job checks, skipping problems about values already reported."""
        problems = [
            problem
            for problem in check_job(job)
            if not any(
                (bool(field) and field[0] in failed) or self._was_dropped(layer_paths, field)
                for field in problem.fields
            )
        ]
        for problem in problems:
            self.diagnostics.append(self._locate_problem(name, origin, problem))
        return problems

    @staticmethod
    def _without_failed(
        merged: dict[str, Any], stand_ins: dict[str, Any], failed: set[str]
    ) -> ResolvedJob | None:
        """The job with each failed field at its default or a stand-in, if that resolves."""
        values = {**merged, **stand_ins}
        for field in failed:
            values.pop(field, None)
            if field in _STAND_INS:
                values[field] = _STAND_INS[field]
            elif (
                field not in ResolvedJob.model_fields
                or ResolvedJob.model_fields[field].is_required()
            ):
                return None
        try:
            return ResolvedJob.model_validate(values)
        except ValidationError:
            return None

    def _sibling_dropped(self, layer_paths: list[Path], field: tuple[str, ...]) -> bool:
        """Whether a key beside `field` was invalid: likely `field` itself, misspelt."""
        return len(field) > 1 and any(
            self.dropped.has_child_of((*layer, *field[:-1])) for layer in layer_paths
        )

    def _was_dropped(self, layer_paths: list[Path], field: tuple[str, ...]) -> bool:
        """Whether `field` (or a part of it) held an invalid, already reported value."""
        return any(self.dropped.overlaps(layer, field) for layer in layer_paths)

    def _locate_problem(
        self, name: str, origin: dict[tuple[str, ...], Path], problem: Problem
    ) -> Diagnostic:
        """Point at the first candidate field the job itself sets, else where it was set."""
        sources = [source for field in problem.fields if (source := _source_of(origin, field))]
        own = [source for source in sources if source[:2] == ("jobs", name)]
        if own or sources:
            return located(self.document, (own or sources)[0], problem.message, key=problem.at_key)
        return located(self.document, ("jobs", name), problem.message, key=True)

    def _apply(
        self,
        merged: dict[str, Any],
        origin: dict[tuple[str, ...], Path],
        layer: BaseModel | dict[str, Any],
        source: Path,
        prefix: tuple[str, ...] = (),
    ) -> None:
        items = (
            {name: getattr(layer, name) for name in layer.model_fields_set}
            if isinstance(layer, BaseModel)
            else layer
        )
        if not prefix and any(items.get(key) is not None for key in _EXCLUSIVE):
            if all(items.get(key) is not None for key in _EXCLUSIVE):
                self.diagnostics.append(
                    located(
                        self.document,
                        (*source, "capacity_provider_strategy"),
                        "set launch_type or capacity_provider_strategy, not both",
                        key=True,
                    )
                )
            for key in _EXCLUSIVE:
                merged.pop(key, None)  # the more specific layer chooses how to launch
        for key, value in items.items():
            if value is None:
                continue
            path = (*prefix, key)
            if key in _DEEP and isinstance(value, BaseModel | dict):
                origin.setdefault(path, (*source, key))
                target = merged.get(key)
                if not isinstance(target, dict):
                    target = merged[key] = {}
                self._apply(target, origin, value, (*source, key), path)
            else:
                merged[key] = _plain(value)
                origin[path] = (*source, key)

    def _report_resolution(
        self,
        exc: ValidationError,
        env: str | None,
        name: str,
        origin: dict[tuple[str, ...], Path],
    ) -> None:
        for error in exc.errors():
            loc = tuple(str(part) for part in error["loc"])
            if error["type"] == "missing":
                layer_paths = self._layer_paths(env, name)
                if self._was_dropped(layer_paths, loc) or self._sibling_dropped(layer_paths, loc):
                    continue  # the value was set but invalid, and that is already reported
                if loc[0] in SettingsSpec.model_fields:
                    where = (
                        f"defaults, environments.{env} or the job" if env else "defaults or the job"
                    )
                else:
                    where = "the job"
                scope = f" for environment '{env}'" if env else ""
                message = f"{render_field(loc)} is not set{scope}: set it in {where}"
                self.diagnostics.append(located(self.document, ("jobs", name), message, key=True))
            else:
                source = _source_of(origin, loc) or ("jobs", name)
                self.diagnostics.append(
                    located(self.document, source, error["msg"].removeprefix("Value error, "))
                )

    @staticmethod
    def _layer_paths(env: str | None, name: str) -> list[Path]:
        return [
            ("defaults",),
            ("environments", env or ""),
            ("jobs", name),
            ("jobs", name, "environments", env or ""),
        ]


class _DroppedPaths:
    """Document paths of reported, dropped values, indexed so each question is O(path length).

    A registry with N problems drops N paths and asks about them for every job: scanning
    them all made validation quadratic in the number of problems (issue 12, point 4).
    """

    def __init__(self) -> None:
        self._paths: set[Path] = set()
        self._prefixes: set[Path] = set()  # every prefix of every dropped path, itself included
        self._parents: set[Path] = set()

    def add(self, path: Path) -> None:
        self._paths.add(path)
        self._parents.add(path[:-1])
        self._prefixes.update(path[:end] for end in range(len(path) + 1))

    def overlaps(self, layer: Path, field: tuple[str, ...]) -> bool:
        """Whether a dropped path inside `layer` is `layer + field`, inside it or encloses it."""
        target = (*layer, *field)
        return target in self._prefixes or any(
            target[:end] in self._paths for end in range(len(layer), len(target) + 1)
        )

    def has_child_of(self, parent: Path) -> bool:
        return parent in self._parents


def _by_job_length(owner: tuple[str, str]) -> tuple[int, str]:
    """Orders colliding (environment, job) pairs: the shorter job name first."""
    return len(owner[1]), owner[1]


def _source_of(origin: dict[tuple[str, ...], Path], field: tuple[str, ...]) -> Path | None:
    """The document path that set `field` (or its nearest parent)."""
    for end in range(len(field), 0, -1):
        if field[:end] in origin:
            return (*origin[field[:end]], *field[end:])
    return None


# Values that let cross-field checks run when a required field was set but invalid (and
# reported): the job is still rejected, but every other problem shows in the same run.
_STAND_INS: dict[str, Any] = {
    "schedule": parse_schedule("cron(0 0 * * ? *)"),
    "cluster": "-",
    "task_definition": "-",
    "container": "-",
}


def _without(value: Any, loc: tuple[Any, ...]) -> Any:
    """A copy of `value` with the item at `loc` removed (a whole list if loc is inside one)."""
    loc = _droppable(loc)
    if not loc or not isinstance(value, dict) or loc[0] not in value:
        return value
    head, rest = loc[0], loc[1:]
    if not rest:
        return {key: item for key, item in value.items() if key != head}
    return {**value, head: _without(value[head], rest)}


def _droppable(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """The longest all-keys prefix of `loc`: list items are dropped with their list."""
    for index, part in enumerate(loc):
        if isinstance(part, int):
            return tuple(loc[:index])
    return tuple(loc)


def _plain(value: Any) -> Any:
    """Validated spec values -> plain data for the resolved model (Schedules stay objects)."""
    if isinstance(value, BaseModel):
        return value.model_dump(exclude_none=True)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value
