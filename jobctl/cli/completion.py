"""`jobctl completion bash|zsh|fish`, and the names shell completion offers (argcomplete).

The script printed is argcomplete's: sourced, it makes the shell call `jobctl` itself with
`_ARGCOMPLETE` set, which `jobctl.cli.main` hands to `argcomplete.autocomplete` before
parsing. Commands and flags come from the parser; JOB arguments and `--env` values come from
the registry the command line names (`-f`, else `$JOBCTL_FILE`, else ./jobs.yaml).

Invariants: completion never prints an error or a traceback into the user's shell (any
problem with the registry means no names); the registry is read with the same bounded
loader as `validate` (size, nesting, aliases), never evaluated, and not validated: a
half-written jobs.yaml still completes the names it spells.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from jobctl.cli.verbs import DEFAULT_FILE, EXIT_OK, Verbs

if TYPE_CHECKING:
    from rich.console import Console

SHELLS = ("bash", "zsh", "fish")
_SETUP = {
    "bash": 'add to ~/.bashrc:  eval "$(jobctl completion bash)"',
    "zsh": 'add to ~/.zshrc:  eval "$(jobctl completion zsh)"',
    "fish": "run once:  jobctl completion fish > ~/.config/fish/completions/jobctl.fish",
}


def register(verbs: Verbs) -> None:
    completion = verbs.add(
        "completion",
        "print the shell completion script for bash, zsh or fish (commands, flags, job "
        "names, environments)",
        _completion,
        registry=False,
    )
    completion.add_argument("shell", choices=SHELLS, help="; ".join(_SETUP.values()))


def _completion(args: argparse.Namespace, out: Console) -> int:
    from argcomplete.shell_integration import shellcode

    sys.stdout.write(shellcode(["jobctl"], shell=args.shell))
    return EXIT_OK


def registry_names(parsed_args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """(job names, environment names) of the registry named on the command line, or empty."""
    file = (
        getattr(parsed_args, "path", None)
        or getattr(parsed_args, "file", None)
        or os.environ.get("JOBCTL_FILE")
        or DEFAULT_FILE
    )
    try:
        from jobctl.registry.yamldoc import MAX_FILE_BYTES, load_document

        with open(file, "rb") as stream:
            content = stream.read(MAX_FILE_BYTES + 1)
        data = load_document(content.decode("utf-8"), str(file)).data
        return _keys(data.get("jobs")), _keys(data.get("environments"))
    except Exception:  # completion must fail silently: no names is the answer
        return [], []


def _keys(section: object) -> list[str]:
    return sorted(str(key) for key in section) if isinstance(section, dict) else []
