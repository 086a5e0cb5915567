"""The `jobctl` command line: validate, build, next, render here; deploy, ops and local
commands are registered from their packages.

Owns argument parsing, exit codes and what is printed. Exit status: 0 success, 1 the
command ran but found a difference (`build --check`) or AWS refused, 2 invalid input
(registry errors, bad flags, unknown job, run or environment). Invariants: registry
problems go to stderr as `FILE:LINE:COL: ...` lines, never as a traceback; this module's
own commands never read AWS (they are pure functions of jobs.yaml).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from difflib import get_close_matches
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table

from chalicelib.core.durations import format_duration
from chalicelib.core.errors import UsageError
from jobctl.compile.asl import render_json
from jobctl.compile.compiler import CompiledJob, compile_files, compile_job
from jobctl.registry.diagnostics import RegistryError
from jobctl.registry.loader import Registry, load_registry
from jobctl.registry.models import ResolvedJob
from jobctl.registry.schedule import next_fire_times

EXIT_OK, EXIT_DIFF, EXIT_INVALID = 0, 1, 2
DEFAULT_FILE = "jobs.yaml"
STATEMACHINES = "statemachines"


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    # Pipes and CI logs get a wide fixed width instead of rich's 80-column fallback.
    out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    try:
        result: int = args.handler(args, out)
        return result
    except RegistryError as exc:
        for diagnostic in exc.diagnostics:
            print(diagnostic.render(), file=sys.stderr)
        count = len(exc.diagnostics)
        print(f"{count} problem{'s' if count != 1 else ''} found", file=sys.stderr)
        return EXIT_INVALID
    except UsageError as exc:
        print(f"jobctl: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        print("jobctl: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        return EXIT_OK
    except Exception as exc:
        # AWS problems (credentials, region, access, conflicts) are one line, exit 1.
        from jobctl.cli.deploy import aws_failure

        message = aws_failure(exc)
        if message is None:
            raise
        print(f"jobctl: {message}", file=sys.stderr)
        return EXIT_DIFF


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jobctl", description="Scheduled jobs on AWS ECS, declared in jobs.yaml."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument(
            "-f",
            "--file",
            default=os.environ.get("JOBCTL_FILE", DEFAULT_FILE),
            help="the registry (default: $JOBCTL_FILE or jobs.yaml)",
        )
        sub.add_argument("--env", help="environment overlay to use (default: all declared)")
        return sub

    validate = command("validate", "check jobs.yaml and summarise its jobs")
    validate.add_argument("path", nargs="?", help="the registry (same as -f)")
    validate.set_defaults(handler=_validate)

    build = command("build", f"write {STATEMACHINES}/*.asl.json from jobs.yaml")
    build.add_argument("--check", action="store_true", help="exit 1 if the files are stale")
    build.add_argument("--out", default=STATEMACHINES, help="output directory")
    build.set_defaults(handler=_build)

    upcoming = command("next", "print the next fire times of one or all jobs")
    upcoming.add_argument("job", nargs="?", help="job name (default: all jobs)")
    upcoming.add_argument("-n", type=_positive, default=5, help="how many (default 5)")
    upcoming.add_argument("--after", type=_instant, help="start from this ISO time (default now)")
    upcoming.set_defaults(handler=_next)

    render = command("render", "print everything one job compiles to, as JSON")
    render.add_argument("job")
    render.set_defaults(handler=_render)

    from jobctl.cli import deploy

    def aws_command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = command(name, help_text)
        sub.add_argument("--profile", help="AWS profile (default: $AWS_PROFILE)")
        return sub

    plan = aws_command("plan", "show what apply would change in AWS")
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")
    plan.add_argument("--prune", action="store_true", help="include deleting removed jobs")
    plan.set_defaults(handler=deploy.plan_command)

    apply = aws_command("apply", "create, update (and with --prune delete) AWS resources")
    apply.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    apply.add_argument("--prune", action="store_true", help="delete resources of removed jobs")
    apply.add_argument("--concurrency", type=_positive, default=8, help="parallel AWS writes")
    apply.set_defaults(handler=deploy.apply_command)

    destroy = aws_command("destroy", "delete everything jobctl owns in this environment")
    destroy.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    destroy.add_argument("--concurrency", type=_positive, default=8, help="parallel AWS writes")
    destroy.set_defaults(handler=deploy.destroy_command)

    from jobctl.cli.ops import add_ops_commands

    add_ops_commands(command)

    from jobctl.cli.local import add_local_command

    add_local_command(commands, command)
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError("must be between 1 and 1000")
    return value


def _instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not an ISO time, e.g. 2026-03-08T00:00:00Z"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# --- helpers -----------------------------------------------------------------------------


def _load(args: argparse.Namespace) -> Registry:
    path = getattr(args, "path", None) or args.file
    return load_registry(path, env=args.env)


def _jobs(registry: Registry, env: str | None, name: str | None) -> list[ResolvedJob]:
    """Jobs of one target (the given env, else the first declared), optionally one job."""
    target = env if env is not None else registry.targets[0]
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


def _trigger_kind(job: ResolvedJob) -> str:
    return "Scheduler schedule" if job.uses_scheduler else "EventBridge rule"


# --- commands ----------------------------------------------------------------------------


def _validate(args: argparse.Namespace, out: Console) -> int:
    registry = _load(args)
    envs = [env for env in registry.targets if env is not None]
    for target in registry.targets:
        out.print(_summary(registry, target))
    where = f" in {', '.join(envs)}" if envs else ""
    out.print(f"{registry.document.file}: valid{where}")
    return EXIT_OK


def _summary(registry: Registry, target: str | None) -> Table:
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
            _trigger_kind(job),
            job.concurrency,
            format_duration(job.timeout),
            "enabled" if job.enabled else "disabled",
        )
    return table


def _build(args: argparse.Namespace, out: Console) -> int:
    registry = _load(args)
    wanted = compile_files(registry, args.env)
    directory = Path(args.out)
    present = (
        {path.name: path for path in directory.glob("*.asl.json")} if directory.is_dir() else {}
    )
    # With --env only that environment's files are ours to judge.
    suffix = f".{args.env}.asl.json" if args.env else ".asl.json"
    ours = {name: path for name, path in present.items() if name.endswith(suffix)}
    stale = sorted(n for n, text in wanted.items() if n not in ours or ours[n].read_text() != text)
    extra = sorted(n for n in ours if n not in wanted)
    if args.check:
        for name in stale:
            print(f"{directory / name}: stale or missing", file=sys.stderr)
        for name in extra:
            print(f"{directory / name}: no longer produced by jobs.yaml", file=sys.stderr)
        if stale or extra:
            print("run `jobctl build` and commit the result", file=sys.stderr)
            return EXIT_DIFF
        out.print(f"{directory}/: up to date ({len(wanted)} files)")
        return EXIT_OK
    directory.mkdir(parents=True, exist_ok=True)
    for name in stale:
        (directory / name).write_text(wanted[name], encoding="utf-8")
    for name in extra:
        ours[name].unlink()
    out.print(
        f"{directory}/: {len(stale)} written, {len(extra)} removed, "
        f"{len(wanted) - len(stale)} unchanged"
    )
    return EXIT_OK


def _next(args: argparse.Namespace, out: Console) -> int:
    registry = _load(args)
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
    registry = _load(args)
    documents: list[CompiledJob] = []
    targets = [args.env] if args.env else list(registry.targets)
    for target in targets:
        documents.extend(compile_job(job) for job in _jobs(registry, target, args.job))
    payload = [item.to_document() for item in documents]
    sys.stdout.write(render_json(payload[0] if len(payload) == 1 else payload))
    return EXIT_OK


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
