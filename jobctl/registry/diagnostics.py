"""Located validation errors for jobs.yaml.

Owns the `Diagnostic` record and its one rendering, `FILE:LINE:COL: job 'NAME': field: message`.
Invariants: lines and columns are 1-based; a report is sorted by position and holds each
(position, message) once, so an error in `defaults` inherited by many jobs prints once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from chalicelib.core.errors import JobctlError


def render_field(path: tuple[Any, ...]) -> str:
    """`('network', 'subnets', 0)` -> `network.subnets[0]`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def subject_of(path: tuple[Any, ...]) -> tuple[str | None, tuple[Any, ...]]:
    """Split a document path into (job name, field path inside the job)."""
    if len(path) >= 2 and path[0] == "jobs":
        return str(path[1]), tuple(path[2:])
    return None, tuple(path)


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem in the registry, located at the node that caused it."""

    line: int
    column: int
    message: str
    job: str | None = None
    field: str = ""
    file: str = dataclasses.field(default="jobs.yaml", compare=False)

    def render(self) -> str:
        subject = f"job '{self.job}': " if self.job else ""
        where = f"{self.field}: " if self.field else ""
        return f"{self.file}:{self.line}:{self.column}: {subject}{where}{self.message}"


class RegistryError(JobctlError):
    """Raised when a registry has one or more problems; carries all of them. Exit 2."""

    exit_status = 2

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        unique: dict[tuple[str, int, int, str], Diagnostic] = {}
        for diagnostic in diagnostics:
            key = (diagnostic.file, diagnostic.line, diagnostic.column, diagnostic.message)
            unique.setdefault(key, diagnostic)
        self.diagnostics = sorted(unique.values(), key=lambda d: (d.line, d.column, d.message))
        super().__init__("\n".join(d.render() for d in self.diagnostics))

    def lines(self) -> list[str]:
        """Every problem as `FILE:LINE:COL: ...`, then how many (no `jobctl:` prefix)."""
        count = len(self.diagnostics)
        summary = f"{count} problem{'s' if count != 1 else ''} found"
        return [diagnostic.render() for diagnostic in self.diagnostics] + [summary]
