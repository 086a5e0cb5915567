"""`jobctl jobs / runs / show / run / rerun / pause / resume / logs`: the ops CLI.

The same OpsService as the API, called with the operator's own AWS credentials (their IAM
principal is recorded on what they start, pause or resume). The registry is read only for
names (project and environment -> the history table). Output: rich tables, or the API's
JSON with `--json`. Exit status: 0 done, 1 AWS or the platform refused, 2 bad input (an
unknown job or run, a refused parameter), and with `--wait` the job's own exit code. The
service's `OpsError`s carry those statuses; `jobctl.cli.main` prints them.
Invariants: importing this module imports no boto3, pydantic, rich or registry (the parser
imports it); the handlers import them. Every value from the API or AWS reaches the
terminal through `visible` (rich output) or `printable` (`logs`): a reason, a stop reason
or a log line is another person's text, and an ESC, C1 control or bidi override in it
would be interpreted by the operator's terminal; they are shown escaped (`\\x1b`,
`\\u202e`) instead. `--json` is safe as is (JSON escapes them).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING, Any

from chalicelib.core.durations import elapsed_text
from chalicelib.core.errors import UsageError
from chalicelib.core.history import MAX_PAGE, STATUSES
from jobctl.cli.verbs import EXIT_FAILED, EXIT_OK, Handler, Verbs, registry_of

if TYPE_CHECKING:
    from pydantic import BaseModel
    from rich.console import Console

    from chalicelib.aws.clients import ClientFactory
    from chalicelib.ops.models import RunDetail, RunStarted
    from chalicelib.ops.service import OpsService

# `--wait` exits like the job: its exit code, or these when there is none.
EXIT_TIMED_OUT, EXIT_SKIPPED, EXIT_INTERRUPTED = 124, 75, 130


# The ops verbs act on one deployed environment: there is no "all environments" for them.
OPS_ENV_HELP = "the deployed environment to act on (required when the registry declares any)"


def register(verbs: Verbs) -> None:
    def ops(name: str, help_text: str, handler: Handler) -> argparse.ArgumentParser:
        return verbs.add(
            name,
            help_text,
            _needs_deploy(handler),
            aws=True,
            json_help="print JSON (the API's shape)",
            env_help=OPS_ENV_HELP,
        )

    ops(
        "jobs", "list deployed jobs: schedule, state (who paused and why), next and last run", _jobs
    )

    job = ops("job", "describe one job: definition, parameters, next runs, pause, last runs", _job)
    job.add_argument("job")

    runs = ops("runs", "list runs, newest first (of one job, or of all)", _runs)
    runs.add_argument("job", nargs="?", help="only this job's runs")
    runs.add_argument("--status", help=", ".join(STATUSES))
    runs.add_argument("--since", help="how far back: 24h, 7d, or an ISO 8601 time")
    runs.add_argument("--limit", default="20", help=f"how many per page (1-{MAX_PAGE}, default 20)")
    paging = runs.add_mutually_exclusive_group()
    paging.add_argument("--next-token", help="continue a previous listing")
    paging.add_argument("--all", action="store_true", help="every page, not just the first")

    show = ops("show", "one run: status, attempts, exit code, reason, who, links", _show)
    show.add_argument("run", help="run id (as in alerts and `jobctl runs`)")

    run = ops("run", "start a job now (a manual run)", _run)
    run.epilog = (
        "The job's parameters (names, patterns, allowed values, defaults): jobctl job JOB. "
        "A manual run obeys the job's concurrency policy like a scheduled one, unless "
        "--concurrency allow says otherwise."
    )
    run.add_argument("job")
    run.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a parameter the job declares (repeatable; see `jobctl job JOB`)",
    )
    run.add_argument("--reason", help="why (recorded with the run; required)")
    _concurrency_flag(run)
    _wait_flags(run)

    rerun = ops("rerun", "run a previous run again, with the same parameters", _rerun)
    rerun.add_argument("run", help="run id")
    rerun.add_argument("--reason", help="why (default: 're-run of RUN')")
    _concurrency_flag(rerun)
    _wait_flags(rerun)

    stop = ops("stop", "stop a running run: its execution and its task (recorded ABORTED)", _stop)
    stop.add_argument("run", help="run id")
    stop.add_argument("--reason", help="why (recorded with the run; required)")

    pause = ops("pause", "skip the job's runs until resumed (its trigger stays deployed)", _pause)
    pause.add_argument("job")
    pause.add_argument(
        "--reason",
        help="why (shown by `jobctl jobs` and `jobctl job`; without it, pausing a paused "
        "job keeps who paused it and why)",
    )

    resume = ops("resume", "let a paused job run again", _resume)
    resume.add_argument("job")
    resume.add_argument("--reason", help="why")

    logs = ops("logs", "print the CloudWatch Logs of a run's task (any state, any attempt)", _logs)
    logs.add_argument("run", help="run id")
    which = logs.add_mutually_exclusive_group()
    which.add_argument(
        "--attempt", type=int, help="this attempt (1 = the first; default: the latest)"
    )
    which.add_argument("--all", action="store_true", help="every attempt, each under a header")
    logs.add_argument("--follow", action="store_true", help="keep printing until the run ends")
    logs.add_argument("--limit", type=int, default=None, help="at most this many lines")
    logs.add_argument("--poll", type=float, default=2.0, help="seconds between reads with --follow")


def _concurrency_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--concurrency",
        choices=["allow"],
        help="allow: run beside a running run of a `forbid` job, taking no lock (recorded "
        "with the run; refused for `replace` jobs, a no-op for `allow` jobs)",
    )


def _needs_deploy(handler: Handler) -> Handler:
    """`handler`, with a missing history table (nothing applied yet) said in words."""

    def run(args: argparse.Namespace, out: Console) -> int:
        try:
            return handler(args, out)
        except Exception as exc:
            missing = _missing_table(exc)
            if missing is None:
                raise
            env = f" --env {args.env}" if args.env else ""
            table = getattr(args, "history_table", None) or missing
            raise NotDeployed(
                f"nothing is deployed here yet: the history table {table} does not exist "
                f"(in this account and region); run `jobctl apply{env}` first"
            ) from None

    return run


def _missing_table(exc: BaseException) -> str | None:
    """The table a DynamoDB ResourceNotFoundException names, None for anything else."""
    if "botocore" not in sys.modules:
        return None
    from botocore.exceptions import ClientError

    if not isinstance(exc, ClientError):
        return None
    error = exc.response.get("Error", {})
    if error.get("Code") != "ResourceNotFoundException":
        return None
    if exc.operation_name not in ("Query", "GetItem", "UpdateItem", "PutItem"):
        return None
    return "of this environment"


class NotDeployed(UsageError):
    """The environment has no history table: apply first (exit 1: not bad input)."""

    exit_status = EXIT_FAILED


def _wait_flags(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--wait", action="store_true", help="follow the run and exit with the job's exit code"
    )
    sub.add_argument(
        "--poll", type=float, default=2.0, help="seconds between status checks with --wait"
    )


def _factory(args: argparse.Namespace) -> ClientFactory:
    from chalicelib.aws.clients import ClientFactory

    return ClientFactory(profile=args.profile)


def _service(args: argparse.Namespace, factory: ClientFactory) -> OpsService:
    from chalicelib.core.names import shared_names
    from chalicelib.ops.service import OpsService

    registry = registry_of(args)
    args.history_table = shared_names(registry.project, args.env).history_table
    return OpsService.create(factory, args.history_table)


def _print_json(payload: BaseModel | dict[str, Any] | list[Any]) -> None:
    from pydantic import BaseModel

    data = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else payload
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")


def printable(text: str) -> str:
    """`text` with every character a terminal would not simply show written as an escape
    (`\\x1b`, `\\n`, `\\u202e`): str.isprintable() is False for C0/C1 controls, bidi
    controls (Cf), separators and unassigned code points."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escape(char) for char in text)


def visible(value: object) -> str:
    """A value from the API as rich markup that prints it literally and visibly."""
    from rich.markup import escape

    return escape(printable(str(value)))


def _escape(char: str) -> str:
    code = ord(char)
    named = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}.get(char)
    if named:
        return named
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _jobs(args: argparse.Namespace, out: Console) -> int:
    from rich.table import Table

    jobs = _service(args, _factory(args)).list_jobs()
    if args.json:
        _print_json({"jobs": [job.model_dump(mode="json") for job in jobs]})
        return EXIT_OK
    table = Table(title_justify="left")
    for column in ("job", "schedule", "zone", "state", "next run", "last run", "last status"):
        table.add_column(column)
    approximate = False
    for job in jobs:
        approximate = approximate or (job.next_run is not None and not job.next_run_exact)
        table.add_row(
            visible(job.name),
            visible(job.schedule),
            visible(job.timezone or "UTC"),
            "[yellow]paused[/]" if job.paused else _state(job),
            _next_run(job.next_run, job.next_run_exact),
            visible(job.last_run or "-"),
            _status(job.last_status or "-"),
        )
    out.print(table)
    # Who paused and why, one line each (a cell would fold an IAM ARN and the reason).
    for job in jobs:
        if job.paused:
            out.print(_paused_line(job), soft_wrap=True)
    if approximate:
        out.print(f"[dim]~ {RATE_NOTE}", soft_wrap=True)
    return EXIT_OK


def _paused_line(job: Any) -> str:
    line = f"[yellow]{visible(job.name)} paused[/]"
    if job.paused_by:
        line += f" by {visible(job.paused_by)}"
    if job.paused_at:
        line += f" at {visible(job.paused_at)}"
    if job.paused_reason:
        line += f": {visible(job.paused_reason)}"
    return line


RATE_NOTE = (
    "approximate: a rate() schedule fires relative to when AWS created or last changed its "
    "rule, which AWS does not report; exact once the job has run on its schedule"
)


def _state(job: Any) -> str:
    if not job.paused:
        return "enabled" if job.enabled else "disabled"
    who = f" by {visible(job.paused_by)}" if job.paused_by else ""
    why = f": {visible(job.paused_reason)}" if job.paused_reason else ""
    return f"[yellow]paused[/]{who}{why}"


def _next_run(moment: str | None, exact: bool) -> str:
    if moment is None:
        return "-"
    return visible(moment) if exact else f"~{visible(moment)}"


def _job(args: argparse.Namespace, out: Console) -> int:
    from zoneinfo import ZoneInfo

    detail = _service(args, _factory(args)).job(args.job)
    if args.json:
        _print_json(detail)
        return EXIT_OK
    rows: list[tuple[str, str]] = [
        ("job", visible(detail.name)),
        ("description", visible(detail.description or "-")),
        ("owner", visible(detail.owner or "-")),
        ("schedule", f"{visible(detail.schedule)} ({visible(detail.timezone or 'UTC')})"),
        ("state", _paused_line(detail) if detail.paused else _state(detail)),
    ]
    retry = f"{detail.retries} retries"
    if detail.retries:
        retry += f", {detail.retry_interval} s apart (x{detail.retry_backoff_rate:g})"
    rows += [
        ("concurrency", visible(detail.concurrency)),
        ("timeout", f"{detail.timeout} s"),
        ("retry", retry),
        (
            "starting deadline",
            "-" if detail.starting_deadline is None else f"{detail.starting_deadline} s",
        ),
        ("cluster", visible(detail.cluster)),
        (
            "task definition",
            f"{visible(detail.task_definition)} (container {visible(detail.container)})",
        ),
        ("trigger", visible(detail.trigger)),
    ]
    _two_columns(rows, out)
    out.print(f"[bold]state machine[/] {visible(detail.state_machine_arn)}", soft_wrap=True)
    out.print("[bold]parameters[/]")
    if not detail.parameters:
        out.print("  none: a manual run takes no --param")
    for name, spec in sorted(detail.parameters.items()):
        facts = []
        if spec.required and spec.default is None:
            facts.append("required")
        if spec.pattern is not None:
            facts.append(f"pattern {spec.pattern}")
        if spec.enum is not None:
            facts.append("one of " + ", ".join(spec.enum))
        if spec.default is not None:
            facts.append(f"default {spec.default}")
        line = f"  {name}: " + ("; ".join(facts) or "any value")
        if spec.description:
            line += f" ({spec.description})"
        out.print(visible(line), soft_wrap=True)
    zone = ZoneInfo(detail.timezone) if detail.timezone else None
    out.print("[bold]next runs[/]" + ("" if detail.next_run_exact else f" (~ {RATE_NOTE})"))
    if detail.paused:
        out.print("  none while paused")
    elif not detail.next_runs:
        out.print("  none (disabled)" if not detail.enabled else "  none")
    for moment in detail.next_runs:
        local = ""
        if zone is not None:
            local = "  " + _in_zone(moment, zone)
        out.print(f"  {visible(moment)}{visible(local)}")
    out.print("[bold]last runs[/]")
    if not detail.recent_runs:
        out.print("  none yet")
    else:
        _runs_table(detail.recent_runs, out, with_job=False)
    return EXIT_OK


def _in_zone(moment: str, zone: Any) -> str:
    from datetime import datetime

    instant = datetime.fromisoformat(moment.replace("Z", "+00:00")).astimezone(zone)
    return instant.strftime("%Y-%m-%d %H:%M %Z")


def _two_columns(rows: list[tuple[str, str]], out: Console) -> None:
    from rich.table import Table

    table = Table(show_header=False, box=None)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for name, value in rows:
        table.add_row(name, value)
    out.print(table)


def _runs(args: argparse.Namespace, out: Console) -> int:
    service = _service(args, _factory(args))
    token = args.next_token
    runs: list[Any] = []
    while True:
        page = service.runs(
            args.job, status=args.status, since=args.since, limit=args.limit, next_token=token
        )
        runs.extend(page.runs)
        token = page.next_token
        if not args.all or not token:
            break
    if args.json:
        from chalicelib.ops.models import RunPage

        _print_json(RunPage(runs=runs, next_token=token))
        return EXIT_OK
    _runs_table(runs, out, with_job=True)
    if token:
        # A token continues this listing only: repeat the same job, --status and --since.
        out.print("[dim]more: add --all, or continue with --next-token:", soft_wrap=True)
        out.print(f"[dim]{visible(token)}", soft_wrap=True)
    return EXIT_OK


def _runs_table(runs: list[Any], out: Console, *, with_job: bool) -> None:
    from rich.table import Table

    table = Table(title_justify="left")
    columns = ["run", "job", "status", "trigger", "started", "duration", "attempts", "exit"]
    if not with_job:
        columns.remove("job")
    for column in columns:
        table.add_column(column, no_wrap=column in ("run", "started"))
    for run in runs:
        status = _status(run.status)
        if run.skip_reason:
            status += f" ({visible(run.skip_reason)})"
        cells = [
            visible(run.run_id),
            visible(run.job),
            status,
            visible(run.trigger or "-"),
            visible(_second(run.started_at)),
            _duration(run.duration_seconds),
            "-" if run.attempts is None else str(run.attempts),
            "-" if run.exit_code is None else str(run.exit_code),
        ]
        if not with_job:
            del cells[1]
        table.add_row(*cells)
    out.print(table)


def _second(moment: str | None) -> str:
    """An ISO time to the second, in UTC (`2026-11-22 03:00:05Z`)."""
    if not moment:
        return "-"
    return moment[:19].replace("T", " ") + ("Z" if len(moment) >= 19 else "")


def _duration(seconds: int | None) -> str:
    return "-" if seconds is None else elapsed_text(seconds)


def _show(args: argparse.Namespace, out: Console) -> int:
    run = _service(args, _factory(args)).run(args.run)
    if args.json:
        _print_json(run)
    else:
        _print_run(run, out)
    return EXIT_OK


# Printed after the table, each on one line of its own (never cut or folded).
_LINKS = ("console_url", "log_url", "execution_arn", "task_arn")
# Shown as `summary` (plain words); `--json` keeps the raw value.
_HIDDEN = {"cause", "recorded", "summary", *_LINKS}


def _print_run(run: RunDetail, out: Console) -> None:
    rows: list[tuple[str, str]] = []
    for name, value in run.model_dump().items():
        if name in _HIDDEN or value in (None, "", {}):
            continue
        if name == "status":
            text = _status(value)
            if run.skip_reason:
                text += f" ({visible(run.skip_reason)})"
            if not run.recorded:
                text += " [dim](no run record: as the execution reports it)[/]"
        elif name == "duration_seconds":
            name, text = "duration", _duration(value)
        elif isinstance(value, dict):
            text = visible(" ".join(f"{k}={v}" for k, v in value.items()))
        elif name in ("started_at", "ended_at"):
            text = visible(_second(value))
        else:
            text = visible(value)
        rows.append((name, text))
    from chalicelib.ops.attempts import summarise

    summary = run.summary or summarise(None, run.cause)
    if summary:
        raw = " [dim](raw: --json)[/]" if run.cause and run.cause != summary else ""
        rows.append(("cause", visible(summary) + raw))
    _two_columns(rows, out)
    for name in _LINKS:
        value = getattr(run, name)
        if value:
            out.print(f"[bold]{name}[/] {visible(value)}", soft_wrap=True)


def _run(args: argparse.Namespace, out: Console) -> int:
    from pydantic import ValidationError

    from chalicelib.ops.models import ManualRunRequest

    if not args.reason:
        raise UsageError("--reason is required: say why you start this run")
    parameters: dict[str, str] = {}
    for item in args.param:
        name, equals, value = item.partition("=")
        if not equals or not name:
            raise UsageError(f"--param '{item}' is not NAME=VALUE")
        if name in parameters:
            raise UsageError(f"--param {name} is given twice")
        parameters[name] = value
    factory = _factory(args)
    service = _service(args, factory)
    try:
        request = ManualRunRequest(
            parameters=parameters, reason=args.reason, concurrency=args.concurrency
        )
    except ValidationError as exc:
        raise UsageError(f"--reason: {exc.errors()[0]['msg']}") from None
    started = service.start(args.job, request, by=factory.caller())
    return _started(service, started, args, out)


def _reason(text: str | None) -> str | None:
    """`--reason` checked as the API checks it (length, no terminal control characters)."""
    from pydantic import ValidationError

    from chalicelib.ops.models import PauseRequest

    if text is None:
        return None
    try:
        return PauseRequest(reason=text).reason
    except ValidationError as exc:
        raise UsageError(f"--reason: {exc.errors()[0]['msg']}") from None


def _rerun(args: argparse.Namespace, out: Console) -> int:
    reason = _reason(args.reason)
    factory = _factory(args)
    service = _service(args, factory)
    started = service.rerun(
        args.run, by=factory.caller(), reason=reason, concurrency=args.concurrency
    )
    return _started(service, started, args, out)


def _started(
    service: OpsService, started: RunStarted, args: argparse.Namespace, out: Console
) -> int:
    if not args.wait:
        if args.json:
            _print_json(started)
        else:
            run_id = visible(started.run_id)
            out.print(f"started {visible(started.job)} run [bold]{run_id}[/]")
            if started.concurrency_override:
                out.print("[dim]concurrency: allow (runs beside a running run; takes no lock)")
            out.print(f"[dim]follow it: jobctl show {run_id}; jobctl logs {run_id} --follow")
        return EXIT_OK
    if not args.json:
        out.print(f"started {visible(started.job)} run [bold]{visible(started.run_id)}[/]; waiting")
    try:
        run = _follow(service, started, args.poll, None if args.json else out)
    except KeyboardInterrupt:
        print(
            f"jobctl: stopped waiting; the run goes on (jobctl show {started.run_id})",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    if args.json:
        _print_json(run)
    else:
        if not run.recorded:
            out.print(
                f"[red]the execution ended {visible(run.status)} before it recorded the run[/]"
                + (f": {visible(run.summary)}" if run.summary else "")
            )
        _print_run(run, out)
    return exit_code_of(run)


def _follow(
    service: OpsService, started: RunStarted, poll: float, out: Console | None
) -> RunDetail:
    """Follow the execution until it ends, printing each attempt (start, end, exit code,
    stop reason, the wait before the next). Reads the execution itself, so it works before
    the run record exists and for an execution that never writes one."""
    from chalicelib.core.history import TERMINAL

    said: set[tuple[Any, ...]] = set()

    def say(key: tuple[Any, ...], text: str) -> None:
        if out is not None and key not in said:
            said.add(key)
            out.print(text, soft_wrap=True)

    while True:
        progress = service.progress(
            started.run_id, execution_arn=started.execution_arn, job=started.job
        )
        for attempt in progress.attempts:
            number = attempt.number
            say(("start", number), f"attempt {number}: started")
            if attempt.task_arn:
                say(
                    ("task", number),
                    f"attempt {number}: task {visible(_task_id(attempt.task_arn))}",
                )
            if attempt.status != "RUNNING":
                say(("end", number), f"attempt {number}: {_attempt_outcome(attempt)}")
            later = number < len(progress.attempts) or progress.next_attempt_in is not None
            if attempt.retry_wait is not None and later:
                say(("wait", number), f"waiting {attempt.retry_wait} s before attempt {number + 1}")
        if progress.status != "RUNNING":
            run = service.run(started.run_id)
            if run.status not in TERMINAL:
                # The execution ended without its own record write (aborted, timed out):
                # what it says is the outcome.
                run = run.model_copy(
                    update={
                        "status": progress.status,
                        "error": progress.error,
                        "cause": progress.cause,
                        "summary": progress.summary,
                    }
                )
            return run
        time.sleep(poll)


def _task_id(task_arn: str) -> str:
    return task_arn.rsplit("/", 1)[-1]


def _attempt_outcome(attempt: Any) -> str:
    text = _status(attempt.status)
    if attempt.exit_code is not None:
        text += f", exit code {attempt.exit_code}"
    if attempt.stopped_reason:
        text += f" ({visible(attempt.stopped_reason)})"
    elif attempt.summary:
        text += f": {visible(attempt.summary)}"
    return text


def exit_code_of(run: RunDetail) -> int:
    """What `--wait` exits with: the job's own exit code where there is one."""
    if run.status == "SUCCEEDED":
        return EXIT_OK
    if run.status == "SKIPPED":
        return EXIT_SKIPPED
    if run.status == "TIMED_OUT":
        return EXIT_TIMED_OUT
    if run.exit_code is not None and 0 < run.exit_code < 256:
        return run.exit_code
    return EXIT_FAILED


def _pause(args: argparse.Namespace, out: Console) -> int:
    reason = _reason(args.reason)
    factory = _factory(args)
    state = _service(args, factory).pause(args.job, by=factory.caller(), reason=reason)
    return _paused(state, args, out)


def _resume(args: argparse.Namespace, out: Console) -> int:
    reason = _reason(args.reason)
    factory = _factory(args)
    state = _service(args, factory).resume(args.job, by=factory.caller(), reason=reason)
    return _paused(state, args, out)


def _paused(state: BaseModel, args: argparse.Namespace, out: Console) -> int:
    if args.json:
        _print_json(state)
    else:
        data = state.model_dump()
        word = "paused" if data["paused"] else "resumed"
        job, by, at = (visible(data[key]) for key in ("job", "by", "at"))
        already = "" if data["changed"] else "already "
        why = f": {visible(data['reason'])}" if data.get("reason") else ""
        out.print(f"{job} {already}{word} by {by} at {at}{why}", soft_wrap=True)
    return EXIT_OK


def _logs(args: argparse.Namespace, out: Console) -> int:
    service = _service(args, _factory(args))
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    follow_latest = args.follow and args.attempt is None and not args.all
    attempt: int | str | None = "all" if (args.all or follow_latest) else args.attempt
    token: str | None = None
    printed, shown_attempt, first = 0, None, True
    from_attempt = 0
    collected: list[Any] = []
    page: Any = None
    while True:
        size = 1000 if args.limit is None else min(1000, args.limit - printed)
        page = service.run_logs(args.run, attempt=attempt, limit=size, next_token=token)
        if first:
            first = False
            if follow_latest and page.attempts:
                from_attempt = page.attempts[-1].number
            if not args.all and args.attempt is None and not args.follow and len(page.attempts) > 1:
                print(
                    f"jobctl: attempt {page.attempt} of {len(page.attempts)} "
                    "(--attempt N or --all for the others)",
                    file=sys.stderr,
                )
        for line in page.lines:
            if line.attempt < from_attempt:
                continue
            if args.json:
                collected.append(line)
            else:
                if (args.all or follow_latest) and line.attempt != shown_attempt:
                    shown_attempt = line.attempt
                    sys.stdout.write(_attempt_header(page.attempts, line.attempt) + "\n")
                # The container's own output: colours and all are shown escaped (--json: raw).
                sys.stdout.write(printable(line.message.rstrip("\n")) + "\n")
            printed += 1
        sys.stdout.flush()
        token = page.next_token
        if token is None or (args.limit is not None and printed >= args.limit):
            break
        if not args.follow:
            if page.lines:
                continue
            break
        if not page.lines:
            time.sleep(args.poll)
    if args.json:
        _print_json(page.model_copy(update={"lines": collected, "next_token": token}))
    return EXIT_OK


def _attempt_header(attempts: list[Any], number: int) -> str:
    found = next((a for a in attempts if a.number == number), None)
    if found is None:
        return f"== attempt {number} =="
    facts = [found.status]
    if found.exit_code is not None:
        facts.append(f"exit code {found.exit_code}")
    if found.task_arn:
        facts.append(f"task {_task_id(found.task_arn)}")
    return printable(f"== attempt {number} of {len(attempts)}: {', '.join(facts)} ==")


def _stop(args: argparse.Namespace, out: Console) -> int:
    from chalicelib.ops.models import StopRequest

    if not args.reason:
        raise UsageError("--reason is required: say why you stop this run")
    reason = _reason(args.reason)
    assert reason is not None
    factory = _factory(args)
    stopped = _service(args, factory).stop(
        args.run, StopRequest(reason=reason), by=factory.caller()
    )
    if args.json:
        _print_json(stopped)
        return EXIT_OK
    out.print(
        f"{visible(stopped.run_id)} stopped by {visible(stopped.aborted_by)} at "
        f"{visible(stopped.at)}: recorded {_status(stopped.status)}",
        soft_wrap=True,
    )
    for task in stopped.stopped_tasks:
        out.print(f"[dim]stopped task {visible(_task_id(task))}")
    return EXIT_OK


def _status(status: str) -> str:
    colour = {
        "SUCCEEDED": "green",
        "FAILED": "red",
        "TIMED_OUT": "red",
        "ABORTED": "yellow",
        "RUNNING": "cyan",
        "SKIPPED": "dim",
    }.get(status)
    return f"[{colour}]{status}[/]" if colour else visible(status)
