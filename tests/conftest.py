"""Shared fixtures: paths, a tiny registry builder, fresh Lambda services per test, one
botocore model loader per test process."""

from __future__ import annotations

import functools
import textwrap
from collections.abc import Iterator
from pathlib import Path

import botocore.loaders
import botocore.session
import pytest

from chalicelib import services
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


@pytest.fixture(scope="session", autouse=True)
def shared_botocore_models() -> Iterator[None]:
    """Every boto3 session in the test process reads botocore's service models through one
    loader (per search path).

    Each CLI command and each Lambda service built anew makes its own session, as a real
    invocation does, and a new session parses the models' JSON again: much of the suite's
    CPU. The models are read-only data files that botocore already shares between the
    clients of one session, so sharing the loader changes nothing the code under test does.
    """
    create_loader = functools.cache(botocore.loaders.create_loader)
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(botocore.session, "create_loader", create_loader)
        yield


@pytest.fixture(autouse=True)
def fresh_services() -> Iterator[None]:
    """Each test builds the Lambda's services anew from its own environment (the composition
    root caches them per process, as a warm Lambda does)."""
    services.reset()
    yield
    services.reset()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say so, visibly, when the browser tests did not run (no Chromium on this machine)."""
    skipped = terminalreporter.stats.get("skipped", [])
    reasons = [str(getattr(report, "longrepr", "")) for report in skipped]
    if any("browser tests skipped" in reason for reason in reasons):
        terminalreporter.write_sep(
            "!",
            "browser tests skipped: no Chromium (apt-get install chromium; .ci/run installs it)",
            yellow=True,
            bold=True,
        )
