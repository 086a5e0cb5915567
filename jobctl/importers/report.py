"""The import report: what became of every source field, and the exit status it implies.

Owns the `Entry`/`JobReport`/`ImportReport` contract (pydantic, printed as text or JSON) and
the `Ledger` a source module records its decisions in. Invariant: `Ledger.entries()` holds one
entry per source leaf (or a recorded parent of it): a field nobody recorded is reported as
unsupported ("not known to the importer"), so nothing disappears silently. Exit status: 0 when
every job was imported and nothing needs the user, 1 when something does (an unsupported field,
a refused schedule); invalid input never reaches a report (exit 2, `source.InputError`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from jobctl.importers.source import SourceDoc, render_path

Status = Literal["mapped", "defaulted", "unsupported", "dropped"]
# Statuses that leave something for the user to do.
NEEDS_USER = ("unsupported",)


class Entry(BaseModel):
    """One source field and what the import made of it."""

    field: str
    line: int | None = None
    status: Status
    target: str | None = None
    note: str = ""


class ScheduleCheck(BaseModel):
    """The equivalence proof (or refusal) of one job's schedule."""

    source: str
    source_zone: str
    generated: str | None
    generated_zone: str | None
    compared: int
    equivalent: bool
    first_difference: str | None = None
    split: list[str] | None = None
    note: str = ""


class JobReport(BaseModel):
    """One source job (a CronJob, a Copilot manifest, an ecschedule rule)."""

    name: str
    file: str
    line: int
    source: str
    imported: bool
    task_definition: str | None = None
    schedules: list[ScheduleCheck] = []
    entries: list[Entry] = []

    @property
    def needs_user(self) -> bool:
        return not self.imported or any(e.status in NEEDS_USER for e in self.entries)


class ImportReport(BaseModel):
    """Everything one `jobctl import` did."""

    source: Literal["kubernetes", "copilot", "ecschedule"]
    registry: str
    jobs: list[JobReport] = []
    ignored: list[Entry] = []
    task_definitions: list[str] = []
    placeholders: list[str] = []
    written: bool = False

    @property
    def exit_status(self) -> int:
        return 1 if any(job.needs_user for job in self.jobs) or not self.jobs else 0

    def text(self) -> str:
        """The human report: per job, its schedule proof, then each field."""
        lines: list[str] = []
        for job in self.jobs:
            state = "imported" if job.imported else "NOT imported"
            lines.append(f"{job.file}:{job.line}: {job.source} '{job.name}': {state}")
            if job.task_definition:
                lines.append(f"  task definition: {job.task_definition}")
            for check in job.schedules:
                lines.extend(_schedule_lines(check))
            for entry in job.entries:
                where = f"{job.file}:{entry.line}" if entry.line else "(unset)"
                target = f" -> {entry.target}" if entry.target else ""
                note = f" ({entry.note})" if entry.note else ""
                lines.append(f"  {entry.status:<11} {entry.field}{target}{note}  [{where}]")
        for entry in self.ignored:
            lines.append(f"ignored: {entry.field}: {entry.note}")
        for placeholder in self.placeholders:
            lines.append(f"fill in: {placeholder}")
        todo = sum(1 for job in self.jobs if job.needs_user)
        imported = sum(1 for job in self.jobs if job.imported)
        lines.append(
            f"{imported} of {len(self.jobs)} jobs imported into {self.registry}"
            + ("" if self.written else " (not written)")
            + (f"; {todo} need{'s' if todo == 1 else ''} you (see 'unsupported')" if todo else "")
        )
        if not self.jobs:
            lines.append("no scheduled job found in the input")
        return "\n".join(lines)


def _schedule_lines(check: ScheduleCheck) -> list[str]:
    source = f"'{check.source}' ({check.source_zone})"
    if check.equivalent:
        generated = f"'{check.generated}' ({check.generated_zone})"
        lines = [
            f"  schedule    {source} -> {generated}: identical next {check.compared} fire times"
        ]
    else:
        lines = [f"  schedule    {source}: REFUSED: {check.note}"]
        if check.first_difference:
            lines.append(f"              first differing fire time: {check.first_difference}")
        if check.split:
            lines.append(
                "              offered split (equivalent together; rerun with --split): "
                + ", ".join(f"'{part}'" for part in check.split)
            )
        return lines
    if check.note:
        lines.append(f"              {check.note}")
    return lines


class Ledger:
    """Records what became of each field under `root` of a source document."""

    def __init__(self, doc: SourceDoc, root: tuple[str | int, ...] = ()) -> None:
        self._doc = doc
        self._root = root
        self._entries: list[tuple[tuple[str | int, ...], Entry]] = []

    def get(self, *path: str | int) -> Any:
        """The value at `path` (relative to the root), None when absent."""
        return self._doc.get(self._root + path)

    def line(self, *path: str | int) -> int:
        return self._doc.line_of(self._root + path)

    def _record(
        self, path: tuple[str | int, ...], status: Status, target: str | None, note: str
    ) -> None:
        full = self._root + path
        present = self._doc.get(full) is not None or self._doc.has(full)
        entry = Entry(
            field=render_path(full),
            line=self._doc.line_of(full) if present else None,
            status=status,
            target=target,
            note=note,
        )
        self._entries.append((full, entry))

    def mapped(self, path: tuple[str | int, ...], target: str, note: str = "") -> None:
        self._record(path, "mapped", target, note)

    def defaulted(self, path: tuple[str | int, ...], target: str, note: str) -> None:
        self._record(path, "defaulted", target, note)

    def unsupported(self, path: tuple[str | int, ...], note: str) -> None:
        self._record(path, "unsupported", None, note)

    def unsupported_items(self, path: tuple[str | int, ...], note: str, *, start: int = 0) -> None:
        """`unsupported` for each item of the list at `path`, from index `start` on."""
        for index in range(start, len(self.get(*path) or [])):
            self.unsupported((*path, index), note)

    def dropped(self, path: tuple[str | int, ...], note: str) -> None:
        self._record(path, "dropped", None, note)

    def recorded(self, path: tuple[str | int, ...]) -> bool:
        full = self._root + path
        return any(full[: len(done)] == done for done, _ in self._entries)

    def entries(self) -> list[Entry]:
        """Every recorded entry, then every leaf nobody recorded (as unsupported)."""
        for leaf in self._doc.leaves(self._root):
            if not any(leaf[: len(done)] == done for done, _ in self._entries):
                self._entries.append(
                    (
                        leaf,
                        Entry(
                            field=render_path(leaf),
                            line=self._doc.line_of(leaf),
                            status="unsupported",
                            note="not known to the importer: check what it does and set "
                            "the equivalent by hand",
                        ),
                    )
                )
        return [entry for _, entry in self._entries]
