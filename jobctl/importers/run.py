"""One `jobctl import`: read the inputs, import the jobs, assemble and (maybe) write the output.

Owns the order of the pipeline and what is written where: the registry file, and
`taskdefs/<family>.json` next to it. Invariant: nothing is written when any input is
invalid (`source.InputError`, exit 2), a job would overwrite one without `--replace`, or the
result would not validate; the report is complete in every other case.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from jobctl.importers.merge import Layout, Output, assemble
from jobctl.importers.model import ImportedJob, ImportOptions
from jobctl.importers.report import Entry, ImportReport
from jobctl.importers.source import load_documents, read_inputs

SourceKind = Literal["kubernetes", "copilot", "ecschedule"]


@dataclass
class Result:
    report: ImportReport
    output: Output


def import_texts(
    kind: SourceKind,
    inputs: list[tuple[str, str]],
    layout: Layout,
    options: ImportOptions,
    *,
    existing: str | None = None,
    env: str | None = None,
) -> Result:
    """Import (name, text) inputs; pure: nothing is read or written here."""
    docs = [(doc, text) for name, text in inputs for doc in load_documents(text, name)]
    jobs: list[ImportedJob]
    ignored: list[Entry]
    if kind == "kubernetes":
        from jobctl.importers import kubernetes

        jobs, ignored = kubernetes.import_documents(docs, options)
    elif kind == "copilot":
        from jobctl.importers import copilot

        jobs, ignored = copilot.import_documents(docs, options, env)
    else:
        from jobctl.importers import ecschedule

        jobs, ignored = ecschedule.import_documents(docs, options)
    output = assemble(jobs, existing, layout, options)
    report = ImportReport(
        source=kind,
        registry=layout.registry_file,
        jobs=[job.report for job in jobs],
        ignored=ignored,
        task_definitions=[f"taskdefs/{family}.json" for family in output.task_definitions],
        placeholders=output.placeholders,
    )
    return Result(report, output)


def import_files(
    kind: SourceKind,
    files: list[str],
    layout: Layout,
    options: ImportOptions,
    *,
    env: str | None = None,
    write: bool = True,
) -> Result:
    """Import FILEs (`-` = stdin) into `layout.registry_file`, writing unless `write` is False."""
    registry = Path(layout.registry_file)
    existing = registry.read_text(encoding="utf-8") if registry.is_file() else None
    result = import_texts(kind, read_inputs(files), layout, options, existing=existing, env=env)
    if write and any(job.imported for job in result.report.jobs):
        registry.parent.mkdir(parents=True, exist_ok=True)
        folder = registry.parent / "taskdefs"
        if result.output.task_definitions:
            folder.mkdir(exist_ok=True)
        for family, body in result.output.task_definitions.items():
            (folder / f"{family}.json").write_text(body, encoding="utf-8")
        registry.write_text(result.output.registry_text, encoding="utf-8")
        result.report.written = True
    return result
