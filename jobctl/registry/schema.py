"""The JSON Schema of jobs.yaml, generated from the registry models, and the starter registry.

Editors validate and complete jobs.yaml with it (the YAML language server reads the
`# yaml-language-server: $schema=...` modeline at the top of the file). It is generated from
`RegistrySpec` (jobctl.registry.models), never written by hand, and committed as
`jobs.schema.json` beside this module; tests/unit/test_registry_schema.py fails when the
committed file is not what the models generate. Regenerate with
`python -m jobctl.registry.schema` (or `jobctl schema > jobctl/registry/jobs.schema.json`).

Invariants: the output is deterministic (sorted keys, 2-space indent, final newline); the
schema describes shapes only (keys, types, enums, name patterns, numeric ranges pydantic
expresses). What needs the whole registry (layers merged, Fargate sizes, secrets, names'
AWS lengths, schedules' syntax, patterns) is `jobctl validate`'s alone: a file the schema
accepts may still be refused, never the reverse for a valid registry.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from chalicelib.core.errors import UsageError

SCHEMA_FILE = "jobs.schema.json"
SCHEMA_PATH = Path(__file__).with_name(SCHEMA_FILE)
STARTER_PATH = Path(__file__).with_name("starter.yaml")
SCHEMA_ID = "https://jobctl.dev/schemas/jobs/1.json"
_PROJECT = "example"  # the starter's project name, replaced by init's


def json_schema() -> dict[str, Any]:
    """The schema of a registry, as the models define it."""
    from jobctl.registry.models import RegistrySpec

    schema = _tidy(RegistrySpec.model_json_schema(mode="validation"))
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "jobctl registry (jobs.yaml)",
        "description": (
            "Scheduled jobs on AWS ECS. Shapes only: `jobctl validate` also checks what spans "
            "fields and layers (Fargate sizes, secrets, AWS name lengths, schedule syntax)."
        ),
        **schema,
    }


def render_schema() -> str:
    """The committed text of jobs.schema.json."""
    return json.dumps(json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def starter_registry(project: str = _PROJECT) -> str:
    """The commented starter jobs.yaml of `jobctl init`, for `project`."""
    from pydantic import TypeAdapter, ValidationError

    from jobctl.registry.models import ProjectName

    try:
        TypeAdapter(ProjectName).validate_python(project)
    except ValidationError:
        raise UsageError(
            f"--project '{project}' is not a project name (lowercase letters, digits, '-')"
        ) from None
    text = STARTER_PATH.read_text(encoding="utf-8")
    # Padded to the same width, so the line's comment stays in its column.
    return text.replace(f"\nproject: {_PROJECT} ", f"\nproject: {project:<{len(_PROJECT)}} ", 1)


def _tidy(node: Any) -> Any:
    """Pydantic's schema without generated titles, with name patterns as `propertyNames`.

    Pydantic writes a constrained dict key as `patternProperties`, which lets any other key
    through; `propertyNames` refuses it, as the models do.
    """
    if isinstance(node, list):
        return [_tidy(item) for item in node]
    if not isinstance(node, dict):
        return node
    result = {}
    for key, value in node.items():
        if key == "title" and isinstance(value, str):
            continue
        # Under these the keys are names (a property may be called `title`), not keywords.
        if key in ("properties", "$defs", "patternProperties"):
            result[key] = {name: _tidy(item) for name, item in value.items()}
        else:
            result[key] = _tidy(value)
    patterns = result.get("patternProperties")
    if isinstance(patterns, dict) and len(patterns) == 1 and "properties" not in result:
        names = dict(result.get("propertyNames") or {})
        names["pattern"] = next(iter(patterns))
        result["propertyNames"] = names
    return result


def main(args: list[str]) -> int:
    """`python -m jobctl.registry.schema [--check]`: write (or check) jobs.schema.json."""
    text = render_schema()
    if args == ["--check"]:
        if SCHEMA_PATH.read_text(encoding="utf-8") != text:
            print(f"{SCHEMA_PATH} is stale: run python -m jobctl.registry.schema")
            return 1
        return 0
    if args:
        print("usage: python -m jobctl.registry.schema [--check]")
        return 2
    SCHEMA_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {SCHEMA_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
