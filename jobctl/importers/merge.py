"""Imported jobs -> jobs.yaml text (new, or merged into an existing registry) and task definitions.

Owns naming task definition families (jobs with equal containers share one, named after the
first job), the registry-level settings a new file needs (project, cluster, network, with
placeholders unless given) and the merge: ruamel round-trip mode keeps the existing file's
comments, order and quoting; new jobs are appended under `jobs:`. Invariants: an existing job
is never overwritten without `replace` (`ConflictError`, exit 2); the result is validated with
jobctl's own loader before anything is written (`jobctl validate` accepts it).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

from chalicelib.core.errors import JobctlError, UsageError
from jobctl.importers.model import ImportedJob, ImportOptions
from jobctl.importers.report import Entry
from jobctl.importers.taskdef import ContainerSpec, dumps, task_definition

PLACEHOLDER_SUBNET = "subnet-REPLACE_ME"
PLACEHOLDER_SECURITY_GROUP = "sg-REPLACE_ME"


class ConflictError(UsageError):
    """The registry already has a job of that name (exit 2)."""


class InvalidResult(JobctlError):
    """The merged registry would not validate (exit 1): printed, nothing written."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("the imported registry would not validate; nothing was written")
        self._lines = lines

    def lines(self) -> list[str]:
        return [f"jobctl: {self.message}", *self._lines]


@dataclass(frozen=True)
class Layout:
    """Where and with what registry-level settings the import writes."""

    registry_file: str
    project: str = "imported"
    cluster: str = "default"
    subnets: tuple[str, ...] = (PLACEHOLDER_SUBNET,)
    security_groups: tuple[str, ...] = (PLACEHOLDER_SECURITY_GROUP,)
    replace: bool = False


@dataclass
class Output:
    registry_text: str
    task_definitions: dict[str, str] = field(default_factory=dict)  # family -> JSON text
    placeholders: list[str] = field(default_factory=list)


def assemble(
    jobs: list[ImportedJob], existing: str | None, layout: Layout, options: ImportOptions
) -> Output:
    """The registry text and task definitions for the imported (proven) jobs."""
    from ruamel.yaml.comments import CommentedMap

    _unique_names(jobs)
    families: dict[str, str] = {}
    definitions: dict[str, str] = {}
    written = [job for job in jobs if job.report.imported]
    entries: dict[str, CommentedMap] = {}
    for job in written:
        settings = dict(job.settings)
        if job.container is not None:
            family = _family(job.container, job.name, families, definitions, options)
            job.report.task_definition = f"taskdefs/{family}.json"
            settings = _insert_task(settings, family, job.container.name)
        overlays: dict[str, Any] = {}
        for env, overlay in job.overlays.items():
            overlay = dict(overlay)
            if env in job.overlay_containers:
                spec = job.overlay_containers[env]
                family = _family(spec, f"{job.name}-{env}", families, definitions, options)
                overlay = {"task_definition": family, **overlay}
            if overlay:
                overlays[env] = overlay
        settings = _ordered(settings)
        if overlays:
            settings["environments"] = {env: _ordered(o) for env, o in overlays.items()}
        entries[job.name] = _yaml(settings)
    environments = sorted({env for job in written for env in job.overlays})
    if existing is None:
        text = _new_registry(entries, environments, jobs, layout)
    else:
        text = _merged(existing, entries, environments, layout)
    _validate(text, layout.registry_file)
    placeholders = _placeholders(text, definitions, options)
    return Output(text, definitions, placeholders)


def _unique_names(jobs: list[ImportedJob]) -> None:
    seen: set[str] = set()
    for job in jobs:
        name, number = job.name, 2
        while name in seen:
            name, number = f"{job.name}-{number}", number + 1
        if name != job.name:
            job.report.entries.insert(
                0,
                Entry(
                    field="metadata.name",
                    status="mapped",
                    target=f"jobs.{name}",
                    note=f"another imported job is named '{job.name}'",
                ),
            )
            job.name = job.report.name = name
        seen.add(name)


def _family(
    spec: ContainerSpec,
    name: str,
    families: dict[str, str],
    definitions: dict[str, str],
    options: ImportOptions,
) -> str:
    key = spec.key()
    if key not in families:
        family = name
        families[key] = family
        definitions[family] = dumps(task_definition(family, spec, options.region, options.account))
    return families[key]


_ORDER = [
    "description",
    "schedule",
    "timezone",
    "task_definition",
    "container",
    "command",
    "environment",
    "concurrency",
    "retry",
    "timeout",
    "starting_deadline",
    "launch_type",
    "platform_version",
    "network",
    "enabled",
    "tags",
]


def _ordered(settings: dict[str, Any]) -> dict[str, Any]:
    """Settings in the order jobs.yaml reads best (unknown keys last, as given)."""
    rank = {key: index for index, key in enumerate(_ORDER)}
    return dict(sorted(settings.items(), key=lambda item: rank.get(item[0], len(rank))))


def _insert_task(settings: dict[str, Any], family: str, container: str) -> dict[str, Any]:
    """`settings` with task_definition and container right after the schedule (and zone)."""
    anchor = "timezone" if "timezone" in settings else "schedule"
    result: dict[str, Any] = {}
    for key, value in settings.items():
        result[key] = value
        if key == anchor:
            result["task_definition"], result["container"] = family, container
    result.setdefault("task_definition", family)
    result.setdefault("container", container)
    return result


def _yaml(value: Any) -> Any:
    """Plain data -> ruamel round-trip nodes; lists of scalars in flow style."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(value, dict):
        mapping = CommentedMap()
        for key, item in value.items():
            mapping[key] = _yaml(item)
        if (
            value
            and all(not isinstance(v, dict | list) for v in value.values())
            and len(value) <= 4
            and all(len(str(v)) < 24 for v in value.values())
        ):
            mapping.fa.set_flow_style()
        return mapping
    if isinstance(value, list | tuple):
        sequence = CommentedSeq(_yaml(item) for item in value)
        sequence.fa.set_flow_style()
        return sequence
    return value


def _dump(document: Any) -> str:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.width = 100
    yaml.indent(mapping=2, sequence=4, offset=2)
    stream = io.StringIO()
    yaml.dump(document, stream)
    return stream.getvalue()


def _new_registry(
    entries: dict[str, Any], environments: list[str], jobs: list[ImportedJob], layout: Layout
) -> str:
    from ruamel.yaml.comments import CommentedMap

    document = CommentedMap()
    document["version"] = 1
    document["project"] = layout.project
    defaults: dict[str, Any] = {
        "cluster": layout.cluster,
        "launch_type": "FARGATE",
        "network": {
            "subnets": list(layout.subnets),
            "security_groups": list(layout.security_groups),
            "assign_public_ip": False,
        },
    }
    # ecschedule rules name their cluster and network: shared by all, they become defaults.
    implied = [job.defaults for job in jobs if job.report.imported and job.defaults]
    if implied and all(item == implied[0] for item in implied):
        defaults.update(implied[0])
    document["defaults"] = _yaml(defaults)
    if environments:
        document["environments"] = CommentedMap((env, CommentedMap()) for env in environments)
    jobs_map = CommentedMap()
    for name, entry in entries.items():
        jobs_map[name] = entry
    document["jobs"] = jobs_map
    document.yaml_set_start_comment(
        "Imported by `jobctl import`: read its report, fill in the placeholders "
        "(cluster, network,\ntask definition ARNs), then `jobctl validate` and `jobctl plan`."
    )
    for name in list(jobs_map)[1:]:
        jobs_map.yaml_set_comment_before_after_key(name, before="\n", indent=2)
    return _dump(document)


def _merged(existing: str, entries: dict[str, Any], environments: list[str], layout: Layout) -> str:
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.error import YAMLError

    from jobctl.registry.loader import parse_registry

    parse_registry(existing, layout.registry_file)  # an invalid registry is refused first
    yaml = YAML(typ="rt")
    try:
        document = yaml.load(existing)
    except YAMLError as exc:  # parse_registry accepted it: should not happen
        raise UsageError(f"{layout.registry_file}: cannot merge into it: {exc}") from None
    jobs_map = document.get("jobs")
    if not isinstance(jobs_map, CommentedMap):
        raise UsageError(f"{layout.registry_file}: 'jobs' is not a mapping to merge into")
    clashes = [name for name in entries if name in jobs_map]
    if clashes and not layout.replace:
        raise ConflictError(
            f"{layout.registry_file} already has job{'s' if len(clashes) > 1 else ''} "
            f"{', '.join(clashes)}: rerun with --replace to overwrite "
            f"{'them' if len(clashes) > 1 else 'it'}, or rename the source"
        )
    for name, entry in entries.items():
        jobs_map[name] = entry  # replacing keeps the job's place in the file
    if environments:
        declared = document.get("environments")
        if declared is None:
            declared = CommentedMap()
            document.insert(len(document) - 1, "environments", declared)
        for env in environments:
            if env not in declared:
                declared[env] = CommentedMap()
    return _dump(document)


def _validate(text: str, file: str) -> None:
    from jobctl.registry.diagnostics import RegistryError
    from jobctl.registry.loader import parse_registry

    try:
        parse_registry(text, file)
    except RegistryError as exc:
        raise InvalidResult(exc.lines()) from None


def _placeholders(text: str, definitions: dict[str, str], options: ImportOptions) -> list[str]:
    found = []
    if PLACEHOLDER_SUBNET in text or PLACEHOLDER_SECURITY_GROUP in text:
        found.append(
            "jobs.yaml defaults.network: subnets and security groups (--subnets, --security-groups)"
        )
    for family, body in definitions.items():
        marks = [
            mark for mark in (options.account, options.region) if mark.isupper() and mark in body
        ]
        if marks or ":secret:" in body or ":parameter/" in body:
            what = ", ".join(marks) if marks else "secret ARNs"
            found.append(f"taskdefs/{family}.json: {what} (and every secret's ARN)")
    return found
