"""The `jobctl` command line: the root parser, dispatch, and the one place errors become exit
statuses.

Owns argument parsing, exit codes and what is printed for failures. The verbs live in
their groups (`authoring`, `deploy`, `ops`, `local`), each registered through
`jobctl.cli.verbs.Verbs`. Exit status: 0 success, 1 the command ran but found a difference
(`build --check`) or AWS or the platform refused, 2 invalid input (registry errors, bad
flags, unknown job, run or environment); a handler may return others (`--wait`).

Invariants: every failure a user can cause is a `JobctlError`, printed as its `lines()`
(one `jobctl: ...` line, or `FILE:LINE:COL: ...` lines for registry problems) with its
`exit_status`, never a traceback; AWS client failures (botocore) are one line and exit 1.
`--help` and `--version` import no heavy module (see `jobctl.cli.verbs`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from chalicelib.core.errors import JobctlError
from jobctl import __version__
from jobctl.cli.verbs import EXIT_FAILED, EXIT_OK, Verbs, complete_jobs


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:  # a shell asking for completions (`jobctl completion`)
        import argcomplete

        argcomplete.autocomplete(parser)  # prints them and exits; returns when not asked
    args = parser.parse_args(argv)
    from rich.console import Console

    # Pipes and CI logs get a wide fixed width instead of rich's 80-column fallback.
    out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    try:
        result: int = args.handler(args, out)
        return result
    except JobctlError as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("jobctl: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        return EXIT_OK
    except Exception as exc:
        message = aws_failure(exc)
        if message is None:
            raise
        print(f"jobctl: {message}", file=sys.stderr)
        return EXIT_FAILED


def build_parser() -> argparse.ArgumentParser:
    """The root parser with every verb; imports only the light verb-group modules."""
    from jobctl.cli import authoring, completion, console, deploy, export, importing, local, ops

    parser = argparse.ArgumentParser(
        prog="jobctl", description="Scheduled jobs on AWS ECS, declared in jobs.yaml."
    )
    parser.add_argument("--version", action="version", version=f"jobctl {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    verbs = Verbs(commands)
    for group in (authoring, importing, deploy, export, ops, console, local):  # --help order
        group.register(verbs)
    completion.register(verbs)
    _complete_job_arguments(commands)
    return parser


def _complete_job_arguments(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Every verb's JOB argument (`job`, `local --fire`) completes the registry's job names."""
    for sub in commands.choices.values():
        for action in sub._actions:
            if action.dest in ("job", "fire"):
                action.completer = complete_jobs  # type: ignore[attr-defined]


def aws_failure(exc: BaseException) -> str | None:
    """A one-line message for AWS client failures, None for anything else (a bug)."""
    if "botocore" not in sys.modules:  # nothing talked to AWS: not an AWS failure
        return None
    import botocore.exceptions

    if isinstance(exc, botocore.exceptions.NoRegionError):
        return (
            "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION) or use a profile with a region"
        )
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return (
            "no AWS credentials: configure a profile or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
        )
    if isinstance(exc, botocore.exceptions.ClientError | botocore.exceptions.BotoCoreError):
        from chalicelib.aws.clients import describe_error

        return f"AWS error: {describe_error(exc)}"
    return None


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
