"""`jobctl init / validate / build / next / render / schema`: the authoring verbs, pure
functions of jobs.yaml.

Exit status: 0 done, 1 `build --check` found stale or extra files, 2 invalid input
(registry problems, an unknown job, a `build --out` that cannot be written, a `next --after`
outside the years cron covers, `init` over an existing file without `--force`).
Invariants: these verbs never read AWS; `validate` and `build` act on the whole registry
(without `--env`, every declared environment), `next` and `render` on one environment
(`--env` is required when the registry declares environments, as for every other verb);
`build` writes next to the registry it was given and never deletes a file generated from
another registry; the registry, compiler and rich are imported by the handlers, not by
`register` (see `jobctl.cli.verbs`).
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from difflib import get_close_matches
from pathlib import Path
from typing import TYPE_CHECKING

from chalicelib.core.errors import UsageError
from jobctl.cli.verbs import (
    DEFAULT_FILE,
    ENV_ALL_HELP,
    EXIT_FAILED,
    EXIT_OK,
    Verbs,
    positive,
    registry_of,
)

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from jobctl.registry.loader import Registry
    from jobctl.registry.models import ResolvedJob

STATEMACHINES = "statemachines"


def register(verbs: Verbs) -> None:
    init = verbs.add(
        "init",
        "write a commented starter jobs.yaml (and jobs.schema.json for editors) that "
        "`jobctl validate` accepts",
        _init,
        registry=False,
    )
    init.add_argument(
        "-f",
        "--file",
        default=os.environ.get("JOBCTL_FILE", DEFAULT_FILE),
        help="the registry to write (default: $JOBCTL_FILE or jobs.yaml)",
    )
    init.add_argument("--project", help="the project name (default: from the directory name)")
    init.add_argument("--force", action="store_true", help="overwrite existing files")

    validate = verbs.add(
        "validate",
        "check jobs.yaml in every environment (or --env's) and summarise its jobs",
        _validate,
        env_help=ENV_ALL_HELP,
    )
    validate.add_argument("path", nargs="?", help="the registry (same as -f)")

    build = verbs.add(
        "build",
        f"write {STATEMACHINES}/*.asl.json next to jobs.yaml, for every environment (or --env's)",
        _build,
        env_help=ENV_ALL_HELP,
    )
    build.add_argument("--check", action="store_true", help="exit 1 if the files are stale")
    build.add_argument(
        "--out", help=f"output directory (default: {STATEMACHINES}/ next to the registry)"
    )

    upcoming = verbs.add(
        "next", "print the next fire times of one or all jobs in one environment", _next
    )
    upcoming.add_argument("job", nargs="?", help="job name (default: all jobs)")
    upcoming.add_argument("-n", type=positive, default=5, help="how many (default 5)")
    upcoming.add_argument("--after", type=_instant, help="start from this ISO time (default now)")

    render = verbs.add(
        "render",
        "print everything one job compiles to in one environment, as JSON: state machine, "
        "trigger, IAM, names, tags",
        _render,
    )
    render.add_argument("job")

    verbs.add(
        "schema",
        "print the JSON Schema of jobs.yaml (for editors: YAML language server)",
        _schema,
        registry=False,
    )


# EventBridge cron's year field covers 1970-2199; outside it there is nothing to list, and
# datetime arithmetic near year 1 or 9999 overflows.
_YEARS = (1970, 2199)


def _instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not an ISO time, e.g. 2026-03-08T00:00:00Z"
        ) from None
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    low, high = _YEARS
    # The first test keeps astimezone() away from year 1 and 9999, where it overflows.
    if not (low <= value.year <= high and low <= value.astimezone(UTC).year <= high):
        raise argparse.ArgumentTypeError(
            f"'{text}' is outside the years cron covers ({low}-{high})"
        )
    return value


def _jobs(registry: Registry, target: str | None, name: str | None) -> list[ResolvedJob]:
    """Jobs of one target (an environment, or None without environments), optionally one."""
    jobs = sorted(registry.jobs_for(target), key=lambda j: j.name)
    if name is None:
        return jobs
    match = [job for job in jobs if job.name == name]
    if not match:
        names = [job.name for job in jobs]
        close = get_close_matches(name, names, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else f"; jobs: {', '.join(names)}"
        raise UsageError(f"unknown job '{name}'{hint}")
    return match


def _validate(args: argparse.Namespace, out: Console) -> int:
    registry = registry_of(args, one_env=False)
    envs = [env for env in registry.targets if env is not None]
    for target in registry.targets:
        out.print(_summary(registry, target))
    where = f" in {', '.join(envs)}" if envs else ""
    out.print(f"{registry.document.file}: valid{where}")
    return EXIT_OK


def _summary(registry: Registry, target: str | None) -> Table:
    from rich.table import Table

    from chalicelib.core.durations import format_duration

    jobs = _jobs(registry, target, None)
    scope = f" ({target})" if target else ""
    table = Table(title=f"{registry.project}{scope}: {len(jobs)} jobs", title_justify="left")
    for column in ("job", "schedule", "zone", "trigger", "concurrency", "timeout", "state"):
        table.add_column(column)
    for job in jobs:
        schedule = job.schedule.expression
        if job.schedule.converted:
            schedule = f"{job.schedule.source} -> {schedule}"
        table.add_row(
            job.name,
            schedule,
            job.timezone,
            "Scheduler schedule" if job.uses_scheduler else "EventBridge rule",
            job.concurrency,
            format_duration(job.timeout),
            "enabled" if job.enabled else "disabled",
        )
    return table


def _build(args: argparse.Namespace, out: Console) -> int:
    from jobctl.compile.compiler import compile_files

    registry = registry_of(args, one_env=False)
    wanted = compile_files(registry, args.env)
    # The output belongs to the registry given: `-f other/jobs.yaml` builds other/statemachines.
    directory = Path(args.out) if args.out else Path(registry.document.file).parent / STATEMACHINES
    present = (
        {path.name: path for path in directory.glob("*.asl.json")} if directory.is_dir() else {}
    )
    # With --env only that environment's files are ours to judge.
    suffix = f".{args.env}.asl.json" if args.env else ".asl.json"
    ours = {name: path for name, path in present.items() if name.endswith(suffix)}
    stale = sorted(n for n, text in wanted.items() if n not in ours or ours[n].read_text() != text)
    # A file another registry generated (another project) is not ours to judge or delete.
    foreign = sorted(n for n in ours if n not in wanted and _generated_for_other(ours[n], registry))
    extra = sorted(n for n in ours if n not in wanted and n not in foreign)
    for name in foreign:
        print(f"{directory / name}: left alone (generated from another registry)", file=sys.stderr)
    if args.check:
        for name in stale:
            print(f"{directory / name}: stale or missing", file=sys.stderr)
        for name in extra:
            print(f"{directory / name}: no longer produced by jobs.yaml", file=sys.stderr)
        if stale or extra:
            print("run `jobctl build` and commit the result", file=sys.stderr)
            return EXIT_FAILED
        out.print(f"{directory}/: up to date ({len(wanted)} files)")
        return EXIT_OK
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for name in stale:
            (directory / name).write_text(wanted[name], encoding="utf-8")
        for name in extra:
            ours[name].unlink()
    except OSError as exc:  # --out under a file, read-only, no space: the user's to fix
        raise UsageError(f"cannot write {exc.filename or directory}: {exc.strerror}") from None
    out.print(
        f"{directory}/: {len(stale)} written, {len(extra)} removed, "
        f"{len(wanted) - len(stale)} unchanged"
    )
    return EXIT_OK


def _generated_for_other(path: Path, registry: Registry) -> bool:
    """Whether `path` says it was compiled from a registry of another project.

    Only a file that names another project is spared: what names none (hand-made, emptied)
    is a leftover in this registry's directory, removed as before.
    """
    import json

    try:
        comment = json.loads(path.read_text(encoding="utf-8")).get("Comment", "")
    except (OSError, ValueError, AttributeError):
        return False
    if not isinstance(comment, str) or not comment.startswith("jobctl "):
        return False
    return not comment.startswith(f"jobctl {registry.project}/")


def _next(args: argparse.Namespace, out: Console) -> int:
    from zoneinfo import ZoneInfo

    from rich.table import Table

    from jobctl.registry.schedule import next_fire_times

    registry = registry_of(args)
    after = args.after or datetime.now(UTC)
    for job in _jobs(registry, args.env, args.job):
        zone = ZoneInfo(job.timezone)
        table = Table(title=f"{job.name}: {job.schedule.expression} ({job.timezone})")
        table.add_column("#", justify="right")
        table.add_column("UTC")
        if job.timezone != "UTC":
            table.add_column(job.timezone)
        times = next_fire_times(job.schedule, after, args.n, zone)
        for index, when in enumerate(times, 1):
            row = [str(index), when.strftime("%Y-%m-%d %H:%M %a")]
            if job.timezone != "UTC":
                row.append(when.astimezone(zone).strftime("%Y-%m-%d %H:%M %a %Z"))
            table.add_row(*row)
        out.print(table)
        if job.schedule.kind == "rate":
            out.print("  rate() counts from when the trigger is created; times are indicative")
        if not times:
            out.print("  no fire times left: the expression matches nothing after this time")
        if not job.enabled:
            out.print("  disabled: the trigger will not fire these")
    return EXIT_OK


def _render(args: argparse.Namespace, out: Console) -> int:
    from jobctl.compile.asl import render_json
    from jobctl.compile.compiler import CompiledJob, compile_job

    registry = registry_of(args)
    documents: list[CompiledJob] = [compile_job(job) for job in _jobs(registry, args.env, args.job)]
    sys.stdout.write(render_json(documents[0].to_document()))
    return EXIT_OK


def _schema(args: argparse.Namespace, out: Console) -> int:
    from jobctl.registry.schema import render_schema

    sys.stdout.write(render_schema())
    return EXIT_OK


def _init(args: argparse.Namespace, out: Console) -> int:
    from jobctl.registry.schema import SCHEMA_FILE, render_schema, starter_registry

    registry = Path(args.file)
    schema = registry.parent / SCHEMA_FILE
    project = args.project or _project_name(registry.resolve().parent.name)
    text = starter_registry(project)  # raises UsageError for a --project that is not a name
    existing = [str(path) for path in (registry, schema) if path.exists()]
    if existing and not args.force:
        verb = "exists" if len(existing) == 1 else "exist"
        raise UsageError(f"{' and '.join(existing)} already {verb}: use --force to overwrite")
    try:
        registry.parent.mkdir(parents=True, exist_ok=True)
        registry.write_text(text, encoding="utf-8")
        schema.write_text(render_schema(), encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {exc.filename or registry}: {exc.strerror}") from None
    out.print(f"wrote {registry} (project '{project}') and {schema}")
    out.print(f"next: edit it, then `jobctl validate {registry}`")
    return EXIT_OK


def _project_name(directory: str) -> str:
    """A valid project name from a directory name (`My_App` -> `my-app`), else `example`."""
    import re

    name = re.sub(r"[^a-z0-9]+", "-", directory.lower()).strip("-")
    name = re.sub(r"^[^a-z]+", "", name)
    return name[:40].rstrip("-") or "example"
