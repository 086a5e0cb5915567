"""Golden test: `jobctl import` over every real manifest in tests/data/import/.

For each file: the exit status (0 all mapped, 1 something needs the user, 2 not a valid
manifest), the jobs.yaml, task definitions and text report (or the refusal) equal
tests/golden/import/<kind>/<file>/ (rewritten with JOBCTL_UPDATE_GOLDEN=1), and every
generated registry passes `jobctl validate`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from jobctl.cli.main import main
from jobctl.importers.merge import Layout
from jobctl.importers.model import ImportOptions
from jobctl.importers.run import import_texts
from jobctl.importers.source import InputError

CORPUS = Path(__file__).parents[1] / "data" / "import"
GOLDEN = Path(__file__).parents[1] / "golden" / "import"
FILES = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name != "PROVENANCE.md")
UPDATE = os.environ.get("JOBCTL_UPDATE_GOLDEN") == "1"


def _outputs(path: Path) -> dict[str, str]:
    kind = path.relative_to(CORPUS).parts[0]
    shown = str(path.relative_to(CORPUS))
    layout = Layout(registry_file="jobs.yaml", project="imported")
    try:
        result = import_texts(
            kind,  # type: ignore[arg-type]
            [(shown, path.read_text(encoding="utf-8"))],
            layout,
            ImportOptions(),
        )
    except InputError as exc:
        return {"exit": "2\n", "report.txt": "\n".join(exc.lines()) + "\n"}
    files = {
        "exit": f"{result.report.exit_status}\n",
        "report.txt": result.report.text() + "\n",
        "report.json": result.report.model_dump_json(indent=2) + "\n",
    }
    if any(job.imported for job in result.report.jobs):
        files["jobs.yaml"] = result.output.registry_text
        for family, body in result.output.task_definitions.items():
            files[f"taskdefs/{family}.json"] = body
    return files


def test_corpus_is_large_enough() -> None:
    assert len(FILES) >= 40


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(CORPUS)))
def test_import_matches_golden(path: Path, tmp_path: Path) -> None:
    outputs = _outputs(path)
    folder = GOLDEN / path.relative_to(CORPUS)
    if UPDATE:
        for name, body in outputs.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(body, encoding="utf-8")
    expected = {
        str(p.relative_to(folder)): p.read_text(encoding="utf-8")
        for p in folder.rglob("*")
        if p.is_file()
    }
    assert outputs == expected, "rerun with JOBCTL_UPDATE_GOLDEN=1 and review the diff"
    if "jobs.yaml" in outputs:
        registry = tmp_path / "jobs.yaml"
        registry.write_text(outputs["jobs.yaml"])
        assert main(["validate", str(registry)]) == 0
        for name in outputs:
            if name.startswith("taskdefs/"):
                assert json.loads(outputs[name])["containerDefinitions"]
