"""The error base class every failure a user can cause or fix derives from.

`JobctlError` carries what the `jobctl` CLI exits with (`exit_status`), what the operator API
answers with where it maps the error (`http_status`, None where it does not) and a
`message` for people. The CLI has one handler for all of them: it prints `lines()` to stderr
and exits with `exit_status`. Subclasses live with the code that raises them (the registry,
ops, deploy, AWS setup); this module imports nothing, so the CLI's start-up and Lambda's
cold start pay nothing for it.

Invariants: a message names what was wrong and what to do, and never carries a secret or a
stack trace; exit statuses follow the README: 1 the command ran but AWS or the platform
refused, 2 invalid input.
"""

from __future__ import annotations

from typing import ClassVar


class JobctlError(Exception):
    """A failure with a message for users, an exit status and (maybe) an HTTP status."""

    exit_status: ClassVar[int] = 1
    http_status: ClassVar[int | None] = None

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message

    def lines(self) -> list[str]:
        """What the CLI prints to stderr, one string per line."""
        return [f"jobctl: {self.message}"]


class UsageError(JobctlError):
    """Bad input to a command (not to the registry): one line, exit 2."""

    exit_status = 2
