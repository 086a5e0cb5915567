"""The JSON Schema of jobs.yaml: generated from the models, committed, and true to them.

Every registry the models accept, the schema accepts (an editor must never flag a valid
jobs.yaml); the invalid corpus files refused for their shape (unknown keys, wrong types,
names, enums) the schema refuses too. Semantic checks (Fargate sizes, secrets, schedule
syntax, ranges checked by validators) are `jobctl validate`'s only.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from jobctl.cli.main import main
from jobctl.registry.loader import load_registry
from jobctl.registry.schema import SCHEMA_PATH, STARTER_PATH, render_schema, starter_registry
from jobctl.registry.yamldoc import load_document
from tests.support.registries import BASE

ROOT = Path(__file__).resolve().parents[2]
INVALID = ROOT / "tests" / "data" / "invalid"
VALIDATOR = Draft202012Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))
VALID = [ROOT / "jobs.yaml", *sorted((ROOT / "tests" / "data").glob("*.yaml")), STARTER_PATH]


def data_of(path: Path) -> Any:
    """What the loader reads from `path`: the data an editor's YAML 1.2 parser sees too."""
    return load_document(path.read_text(encoding="utf-8"), str(path)).data


def test_the_committed_schema_is_the_one_generated_from_the_models() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render_schema(), (
        "jobs.schema.json is stale: run python -m jobctl.registry.schema"
    )
    Draft202012Validator.check_schema(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


def test_the_schema_command_prints_the_committed_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    assert capsys.readouterr().out == SCHEMA_PATH.read_text(encoding="utf-8")


def test_the_example_points_editors_at_the_committed_schema() -> None:
    first = (ROOT / "jobs.yaml").read_text(encoding="utf-8").splitlines()[0]
    match = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
    assert match, first
    assert (ROOT / match.group(1)).resolve() == SCHEMA_PATH.resolve()


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_every_valid_registry_is_valid_for_the_schema(path: Path) -> None:
    load_registry(path)  # the models accept it...
    assert [error.message for error in VALIDATOR.iter_errors(data_of(path))] == []  # ...so must it


def test_a_registry_of_every_kind_of_text_value_is_valid_for_the_schema(tmp_path: Path) -> None:
    # Numbers in text fields, durations in seconds, null layers: what the models take.
    path = tmp_path / "jobs.yaml"
    path.write_text(
        BASE
        + "jobs:\n  a:\n    schedule: '@daily'\n    timeout: 3600\n    command: [app, 1.10, 7]\n"
        "    environment: {VERSION: 2}\n    tags: {release: 2.5}\n    retry:\n"
        "    parameters:\n      N: {enum: [1, 2], default: 1}\n"
    )
    load_registry(path)
    assert [error.message for error in VALIDATOR.iter_errors(data_of(path))] == []


# Refused by the models for their shape, so by the schema too: unknown keys (and Kubernetes
# names), wrong types, enums, names, required top-level keys, `version`.
SHAPE_ERRORS = [
    "01-unknown-top-level-key.yaml",
    "03-unknown-key-in-job.yaml",
    "04-unknown-key-in-network.yaml",
    "06-unknown-key-in-parameter.yaml",
    "08-kubernetes-concurrency-policy.yaml",
    "15-cpu-as-text.yaml",
    "16-cluster-as-list.yaml",
    "17-environment-value-boolean.yaml",
    "18-command-as-mapping.yaml",
    "19-command-as-string.yaml",
    "20-concurrency-not-allowed.yaml",
    "50-job-name-uppercase.yaml",
    "55-version-2.yaml",
    "56-missing-version.yaml",
    "70-parameter-lowercase-name.yaml",
    "110-version-true.yaml",
    "147-alerts-on-key.yaml",
]


@pytest.mark.parametrize("name", SHAPE_ERRORS)
def test_the_schema_refuses_what_the_models_refuse_for_its_shape(name: str) -> None:
    assert list(VALIDATOR.iter_errors(data_of(INVALID / name))), name


# Not every check can be a schema's: these need the whole job (layers merged, Fargate
# sizes, schedule syntax, secrets), so an editor accepts them and `jobctl validate` does not.
@pytest.mark.parametrize(
    "name",
    [
        "25-fargate-memory-does-not-fit-cpu.yaml",
        "28-cron-five-fields.yaml",
        "63-secret-name-db-password.yaml",
    ],
)
def test_semantic_checks_are_validates_alone(name: str) -> None:
    assert list(VALIDATOR.iter_errors(data_of(INVALID / name))) == []


def test_the_starter_names_the_project_it_is_given() -> None:
    text = starter_registry("billing")
    assert "\nproject: billing " in text and text.startswith("# yaml-language-server: $schema=")
