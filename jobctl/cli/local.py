"""`jobctl local`: the whole platform on this machine, until Ctrl-C.

Owns the command's flags, its console output and its life cycle: validate everything the
user typed before starting anything (one line and exit 2 for a bad flag, an unknown job
or environment, a missing file), start the platform, print one `ready` line (scripts and
tests wait for it), fire the jobs asked for, then serve until SIGINT or SIGTERM and stop
cleanly: exit 0. With `--exit`, stop as soon as the fired runs have ended: exit 0 if they
all SUCCEEDED, 1 otherwise (a job's local check in one command).
Invariants: console lines are whole (one lock for every thread's output); no traceback for
anything a user can cause; after return, no task process and no platform thread is left;
importing this module imports no pydantic, rich, moto or registry (the parser imports it).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from difflib import get_close_matches
from types import FrameType
from typing import TYPE_CHECKING, Any

from chalicelib.core.errors import UsageError
from jobctl.cli.verbs import EXIT_FAILED, EXIT_OK, Verbs, registry_of

if TYPE_CHECKING:  # the platform imports moto: only `jobctl local` pays for it
    from rich.console import Console

    from jobctl.local.platform import LocalOptions, LocalPlatform

DEFAULT_PORT = 8000


def register(verbs: Verbs) -> None:
    local = verbs.add(
        "local",
        "run the platform on this machine (moto), until Ctrl-C",
        local_command,
        env_help="environment to run (required when the registry declares any)",
    )
    local.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"API port on 127.0.0.1 (default ${{JOBCTL_LOCAL_PORT}} or {DEFAULT_PORT}; 0: any)",
    )
    local.add_argument(
        "--fire",
        action="append",
        default=[],
        metavar="JOB",
        help="deliver JOB's trigger event once it is up, as if its schedule fired now (repeatable)",
    )
    local.add_argument(
        "--exit",
        action="store_true",
        help="exit when the fired runs have ended: 0 if all SUCCEEDED, else 1",
    )
    local.add_argument(
        "--time-speed",
        type=float,
        default=1.0,
        metavar="F",
        help="scale retry waits (0.01: a 30s retry waits 0.3s; default 1); timeouts stay real",
    )
    local.add_argument(
        "--slack-webhook",
        default=os.environ.get("JOBCTL_SLACK_WEBHOOK") or None,
        metavar="URL",
        help="also post alerts to this Slack incoming webhook (default $JOBCTL_SLACK_WEBHOOK)",
    )
    local.add_argument(
        "--quiet-output", action="store_true", help="do not echo task output on the console"
    )


class Printer:
    """Thread-safe, line-at-a-time console output with a time prefix."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()

    def __call__(self, line: str) -> None:
        stamp = datetime.now().strftime("%H:%M:%S")
        with self._lock:
            try:
                self.stream.write(f"{stamp} {line}\n")
                self.stream.flush()
            except (BrokenPipeError, ValueError):
                pass  # the reader went away; keep running and shut down normally


def local_command(args: argparse.Namespace, out: Console) -> int:
    options = _options(args)
    if args.exit and not args.fire:
        raise UsageError("--exit needs at least one --fire JOB")
    registry = registry_of(args)
    names = sorted(job.name for job in registry.jobs_for(args.env))
    for name in args.fire:
        if name not in names:
            close = get_close_matches(name, names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f"; jobs: {', '.join(names)}"
            raise UsageError(f"--fire: unknown job '{name}'{hint}")
    _check_installed()

    from jobctl.local.platform import LocalPlatform, StartError

    say = Printer()
    platform = LocalPlatform(registry, args.env, options, say)
    try:
        platform.start()
    except StartError as exc:
        print(f"jobctl: {exc}", file=sys.stderr)
        return EXIT_FAILED
    stop = threading.Event()
    previous = _on_signals(stop, say)
    try:
        _banner(platform, say)
        fired = [platform.fire(name) for name in args.fire]
        if args.exit:
            return _until_ended(platform, fired, stop)
        wait_for_signal(stop)
        return EXIT_OK
    finally:
        say("stopping...")
        platform.stop()
        _restore(previous)
        say("stopped")


def _options(args: argparse.Namespace) -> LocalOptions:
    from pydantic import ValidationError

    from jobctl.local.platform import LocalOptions

    try:
        return LocalOptions(
            port=_port(args.port),
            time_speed=args.time_speed,
            slack_webhook=args.slack_webhook,
            echo_output=not args.quiet_output,
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        field = {"slack_webhook": "--slack-webhook", "time_speed": "--time-speed"}.get(
            str(error["loc"][0]), f"--{error['loc'][0]}"
        )
        messages = {
            "--port": "must be between 0 and 65535",
            "--time-speed": "must be greater than 0 and at most 1",
            "--slack-webhook": "must be an http(s) URL",
        }
        raise UsageError(f"{field}: {messages.get(field, error['msg'])}") from None


def _port(flag: int | None) -> int:
    if flag is not None:
        return flag
    text = os.environ.get("JOBCTL_LOCAL_PORT", "")
    if not text:
        return DEFAULT_PORT
    if not text.isdigit():
        raise UsageError(f"JOBCTL_LOCAL_PORT: '{text}' is not a port number")
    return int(text)


def _check_installed() -> None:
    missing = []
    for module in ("moto", "jsonata", "chalice", "aws_lambda_powertools"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise UsageError(
            f"jobctl local needs {', '.join(missing)}: pip install -e '.[local]' (or make demo)"
        )


def _banner(platform: LocalPlatform, say: Callable[[str], None]) -> None:
    assert platform.api is not None
    for trigger in platform.triggers():
        job = trigger.state_machine.removeprefix(f"{platform.target.base}-")
        state = "enabled" if trigger.enabled else "DISABLED"
        upcoming = ""
        if trigger.enabled and platform.scheduler is not None:
            nexts = [w for t, w in platform.scheduler.next_fires() if t == trigger]
            upcoming = f", next {nexts[0]:%Y-%m-%d %H:%M}Z" if nexts else ""
        zone = f" {trigger.timezone}" if trigger.timezone != "UTC" else ""
        say(f"job   {job}: {trigger.kind} {trigger.expression}{zone} ({state}{upcoming})")
    say(f"web   {platform.api.url}/console/  (the operator console)")
    say(f"api   {platform.api.url}  (IAM auth not enforced on loopback; you are the caller)")
    say(f"aws   {platform.exports()}")
    say(f"jobctl local: ready: api {platform.api.url} aws {platform.endpoint} (Ctrl-C stops)")


def _until_ended(platform: LocalPlatform, fired: list[str], stop: threading.Event) -> int:
    while not stop.is_set():
        try:
            ended = platform.wait_for_runs(fired, timeout=0.2)
        except TimeoutError:
            continue
        statuses = [
            (change.record or {}).get("status") or change.status for change in ended.values()
        ]
        return EXIT_OK if all(status == "SUCCEEDED" for status in statuses) else EXIT_FAILED
    return EXIT_FAILED


def wait_for_signal(stop: threading.Event) -> None:
    """Block until a handler sets `stop`.

    With a timeout, in a loop: the kernel may deliver the signal to any thread, and the
    main thread runs the Python handler only when it wakes; an untimed wait can sleep
    through Ctrl-C for good.
    """
    while not stop.wait(0.2):
        pass


def _on_signals(stop: threading.Event, say: Callable[[str], None]) -> dict[int, Any]:
    def handle(signum: int, frame: FrameType | None) -> None:
        if not stop.is_set():
            say(f"received {signal.Signals(signum).name}")
        stop.set()

    previous: dict[int, Any] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, handle)
    return previous


def _restore(previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)
