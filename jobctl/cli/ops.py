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


def register(verbs: Verbs) -> None:
    def ops(name: str, help_text: str, handler: Handler) -> argparse.ArgumentParser:
        return verbs.add(
            name, help_text, handler, aws=True, json_help="print JSON (the API's shape)"
        )

    ops("jobs", "list deployed jobs: schedule, state, next and last run", _jobs)

    runs = ops("runs", "list runs, newest first (of one job, or of all)", _runs)
    runs.add_argument("job", nargs="?", help="only this job's runs")
    runs.add_argument("--status", help=", ".join(STATUSES))
    runs.add_argument("--since", help="how far back: 24h, 7d, or an ISO 8601 time")
    runs.add_argument("--limit", default="20", help=f"how many (1-{MAX_PAGE}, default 20)")
    runs.add_argument("--next-token", help="continue a previous listing")

    show = ops("show", "one run: status, attempts, exit code, reason, who, links", _show)
    show.add_argument("run", help="run id (as in alerts and `jobctl runs`)")

    run = ops("run", "start a job now (a manual run)", _run)
    run.add_argument("job")
    run.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a parameter the job declares (repeatable)",
    )
    run.add_argument("--reason", help="why (recorded with the run; required)")
    _wait_flags(run)

    rerun = ops("rerun", "run a previous run again, with the same parameters", _rerun)
    rerun.add_argument("run", help="run id")
    rerun.add_argument("--reason", help="why (default: 're-run of RUN')")
    _wait_flags(rerun)

    pause = ops("pause", "skip the job's runs until resumed (its trigger stays deployed)", _pause)
    pause.add_argument("job")
    pause.add_argument("--reason", help="why (shown by `jobctl jobs`)")

    resume = ops("resume", "let a paused job run again", _resume)
    resume.add_argument("job")
    resume.add_argument("--reason", help="why")

    logs = ops("logs", "print the CloudWatch Logs of a run's task", _logs)
    logs.add_argument("run", help="run id")
    logs.add_argument("--limit", type=int, default=1000, help="at most this many lines")


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
    return OpsService.create(factory, shared_names(registry.project, args.env).history_table)


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
    for job in jobs:
        state = "paused" if job.paused else ("enabled" if job.enabled else "disabled")
        table.add_row(
            visible(job.name),
            visible(job.schedule),
            visible(job.timezone or "UTC"),
            state,
            visible(job.next_run or "-"),
            visible(job.last_run or "-"),
            _status(job.last_status or "-"),
        )
    out.print(table)
    return EXIT_OK


def _runs(args: argparse.Namespace, out: Console) -> int:
    from rich.table import Table

    page = _service(args, _factory(args)).runs(
        args.job,
        status=args.status,
        since=args.since,
        limit=args.limit,
        next_token=args.next_token,
    )
    if args.json:
        _print_json(page)
        return EXIT_OK
    table = Table(title_justify="left")
    for column in ("run", "job", "status", "trigger", "started", "ended", "attempts", "exit"):
        table.add_column(column)
    for run in page.runs:
        table.add_row(
            visible(run.run_id),
            visible(run.job),
            _status(run.status),
            visible(run.trigger or "-"),
            visible(run.started_at or "-"),
            visible(run.ended_at or "-"),
            "-" if run.attempts is None else str(run.attempts),
            "-" if run.exit_code is None else str(run.exit_code),
        )
    out.print(table)
    if page.next_token:
        # A token continues this listing only: repeat the same job, --status and --since.
        out.print(f"[dim]more: --next-token {visible(page.next_token)}")
    return EXIT_OK


def _show(args: argparse.Namespace, out: Console) -> int:
    run = _service(args, _factory(args)).run(args.run)
    if args.json:
        _print_json(run)
    else:
        _print_run(run, out)
    return EXIT_OK


def _print_run(run: RunDetail, out: Console) -> None:
    from rich.table import Table

    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    for name, value in run.model_dump().items():
        if value in (None, "", {}):
            continue
        if isinstance(value, dict):
            value = " ".join(f"{k}={v}" for k, v in value.items())
        table.add_row(name, _status(value) if name == "status" else visible(value))
    out.print(table)


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
        request = ManualRunRequest(parameters=parameters, reason=args.reason)
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
    started = service.rerun(args.run, by=factory.caller(), reason=reason)
    return _started(service, started, args, out)


def _started(
    service: OpsService, started: RunStarted, args: argparse.Namespace, out: Console
) -> int:
    if not args.wait:
        if args.json:
            _print_json(started)
        else:
            out.print(f"started {visible(started.job)} run [bold]{visible(started.run_id)}[/]")
            out.print(f"[dim]follow it: jobctl show {visible(started.run_id)}")
        return EXIT_OK
    if not args.json:
        out.print(f"started {visible(started.job)} run [bold]{visible(started.run_id)}[/]; waiting")
    try:
        run = _follow(service, started.run_id, args.poll, None if args.json else out)
    except KeyboardInterrupt:
        print(
            f"jobctl: stopped waiting; the run goes on (jobctl show {started.run_id})",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    if args.json:
        _print_json(run)
    else:
        _print_run(run, out)
    return exit_code_of(run)


def _follow(service: OpsService, run_id: str, poll: float, out: Console | None) -> RunDetail:
    """Poll the run until it ends, printing each change of status or attempt."""
    from chalicelib.core.history import TERMINAL
    from chalicelib.ops.errors import NotFound

    shown: tuple[Any, ...] | None = None
    while True:
        try:
            run = service.run(run_id)
        except NotFound:  # the claim step has not written the record yet
            time.sleep(poll)
            continue
        state = (run.status, run.attempts)
        if out is not None and state != shown:
            attempt = f" (attempt {run.attempts})" if run.attempts else ""
            out.print(f"{visible(run.run_id)}: {_status(run.status)}{attempt}")
            shown = state
        if run.status in TERMINAL:
            return run
        time.sleep(poll)


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
        out.print(f"{job} {word} by {by} at {at}")
    return EXIT_OK


def _logs(args: argparse.Namespace, out: Console) -> int:
    lines = _service(args, _factory(args)).logs(args.run, limit=args.limit)
    if args.json:
        _print_json({"run_id": args.run, "lines": lines})
    else:
        for line in lines:
            # The container's own output: colours and all are shown escaped (--json: raw).
            sys.stdout.write(printable(line.rstrip("\n")) + "\n")
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
