"""Shared fixtures: paths and a tiny registry builder."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.support.registries import BASE

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def write_registry(tmp_path: Path):
    """Write BASE + `jobs_yaml` (dedented) to a file and return its path."""

    def write(jobs_yaml: str, base: str = BASE) -> Path:
        path = tmp_path / "jobs.yaml"
        path.write_text(base + textwrap.dedent(jobs_yaml), encoding="utf-8")
        return path

    return write
