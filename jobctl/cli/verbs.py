"""The one way to register a `jobctl` verb, and the `--env` rule every verb follows.

Each verb-group module (`authoring`, `deploy`, `ops`, `local`) exposes `register(verbs)` and
calls `verbs.add(...)` once per verb: that gives the subcommand its common options (`-f`/
`--file`, `--env`; `--profile` for verbs that call AWS; `--json` where asked) and its
handler, `handler(args, out) -> exit status`. `registry_of(args)` loads the registry a verb
acts on and applies the `--env` rule; no verb reads `-f` or `--env` itself.

Invariant: building the parser is cheap. This module and everything `register` touches
import only the standard library and `chalicelib.core.errors`; handlers import the
registry, the compiler, rich, pydantic and boto3 inside their bodies, so `jobctl --help`
and `jobctl --version` pay for none of them (tests/unit/test_cli.py guards the list).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from chalicelib.core.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from jobctl.registry.loader import Registry

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2
DEFAULT_FILE = "jobs.yaml"
ENV_HELP = "the environment to act on (required when the registry declares environments)"
# validate and build act on the whole registry: without --env, every declared environment.
ENV_ALL_HELP = "only this environment (default: every declared environment)"

Handler = Callable[[argparse.Namespace, "Console"], int]


class Verbs:
    """Adds subcommands to the root parser, each with the options every verb shares."""

    def __init__(self, commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        self._commands = commands

    def add(
        self,
        name: str,
        help_text: str,
        handler: Handler,
        *,
        aws: bool = False,
        json_help: str | None = None,
        env_help: str = ENV_HELP,
        registry: bool = True,
    ) -> argparse.ArgumentParser:
        """A subcommand `name` running `handler`; `aws` adds `--profile`, `json_help` `--json`.

        `registry=False` is for the verbs that read no registry (`schema`, `completion`):
        they get neither `-f` nor `--env`.
        """
        sub = self._commands.add_parser(name, help=help_text, description=help_text)
        if registry:
            sub.add_argument(
                "-f",
                "--file",
                default=os.environ.get("JOBCTL_FILE", DEFAULT_FILE),
                help="the registry (default: $JOBCTL_FILE or jobs.yaml)",
            )
            env = sub.add_argument("--env", help=env_help)
            # argcomplete reads this attribute; the completer imports nothing until it runs.
            env.completer = complete_environments  # type: ignore[attr-defined]
        if aws:
            sub.add_argument("--profile", help="AWS profile (default: $AWS_PROFILE)")
        if json_help is not None:
            sub.add_argument("--json", action="store_true", help=json_help)
        sub.set_defaults(handler=handler)
        return sub


def registry_of(args: argparse.Namespace, *, one_env: bool = True) -> Registry:
    """The registry of `-f` (or validate's PATH) with the `--env` overlay applied.

    A verb that acts on one environment (`one_env`: next, render, deploy, ops, local) needs
    `--env` when the registry declares environments: there is no default, so that nothing
    shows or touches one environment by omission (`next` used to pick the first one
    silently). Only `validate` and `build`, which act on the whole registry, pass
    `one_env=False`: without `--env` they cover every declared environment.
    """
    from jobctl.registry.loader import load_registry

    registry = load_registry(getattr(args, "path", None) or args.file, env=args.env)
    if one_env and args.env is None and registry.environments:
        raise UsageError(
            f"this registry declares environments ({', '.join(registry.environments)}): "
            "choose one with --env"
        )
    return registry


def complete_environments(prefix: str, parsed_args: argparse.Namespace, **_: object) -> list[str]:
    """`--env` completions: the environments the registry declares (see `completion`)."""
    from jobctl.cli.completion import registry_names

    return [name for name in registry_names(parsed_args)[1] if name.startswith(prefix)]


def complete_jobs(prefix: str, parsed_args: argparse.Namespace, **_: object) -> list[str]:
    """JOB completions: the jobs the registry declares (see `completion`)."""
    from jobctl.cli.completion import registry_names

    return [name for name in registry_names(parsed_args)[0] if name.startswith(prefix)]


def positive(text: str) -> int:
    """An argparse type: a whole number from 1 to 1000."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError("must be between 1 and 1000")
    return value
