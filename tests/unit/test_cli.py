"""The jobctl command line: exit codes, output streams, build --check, start-up imports."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from chalicelib.core.errors import JobctlError, UsageError
from chalicelib.ops.errors import (
    Conflict,
    InvalidRequest,
    NotFound,
    OpsError,
    TooLarge,
    Unavailable,
)
from jobctl import __version__
from jobctl.cli import authoring
from jobctl.cli.main import main
from jobctl.registry.diagnostics import RegistryError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copy(ROOT / "jobs.yaml", tmp_path / "jobs.yaml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_validate_ok_prints_a_summary(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate"]) == 0
    out = capsys.readouterr().out
    assert "jobs.yaml: valid in staging, production" in out
    assert "0 2 * * 0 -> cron(0 2 ? * 1 *)" in out  # conversions are shown


def test_validate_errors_go_to_stderr_with_status_2(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "jobs.yaml").write_text(
        "version: 1\nproject: x\njobs:\n  a: {schedule: rate(5 minute)}\n"
    )
    assert main(["validate", "jobs.yaml"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "jobs.yaml:4:3: job 'a': cluster is not set: set it in defaults or the job",
        "jobs.yaml:4:3: job 'a': container is not set: set it in defaults or the job",
        "jobs.yaml:4:3: job 'a': task_definition is not set: set it in defaults or the job",
        "jobs.yaml:4:24: job 'a': schedule: use the plural unit: rate(5 minutes)",
        "4 problems found",
    ]


def test_build_writes_then_check_passes_and_detects_staleness(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["build", "--check"]) == 1  # nothing built yet
    assert main(["build"]) == 0
    assert len(list((project / "statemachines").glob("*.asl.json"))) == 10
    assert main(["build", "--check"]) == 0
    (project / "statemachines" / "daily-report.production.asl.json").write_text("{}")
    (project / "statemachines" / "gone.production.asl.json").write_text("{}")
    capsys.readouterr()
    assert main(["build", "--check"]) == 1
    err = capsys.readouterr().err
    assert "daily-report.production.asl.json: stale or missing" in err
    assert "gone.production.asl.json: no longer produced by jobs.yaml" in err
    assert main(["build"]) == 0
    assert not (project / "statemachines" / "gone.production.asl.json").exists()
    assert main(["build", "--check"]) == 0


def test_committed_statemachines_are_current(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    assert main(["build", "--check"]) == 0


def test_next_prints_utc_and_local_times(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "next",
        "daily-report",
        "-n",
        "2",
        "--env",
        "production",
        "--after",
        "2026-03-07T00:00:00Z",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "2026-03-07 18:00 Sat" in out and "2026-03-08 03:00 Sun JST" in out
    assert "2026-03-08 18:00 Sun" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["next", "daily-reprot"],
            "jobctl: unknown job 'daily-reprot' (did you mean 'daily-report'?)",
        ),
        (["render", "nope"], "jobctl: unknown job 'nope'; jobs: backfill-report, daily-report"),
        (["validate", "--env", "prod"], "unknown environment 'prod' (did you mean 'production'?)"),
        (["validate", "missing.yaml"], "missing.yaml:1:1: no such file"),
    ],
)
def test_bad_input_is_one_clear_line_and_status_2(
    project: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv", [["next", "-n", "0"], ["next", "--after", "yesterday"], ["frobnicate"], []]
)
def test_bad_flags_exit_2_without_traceback(
    project: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "usage: jobctl" in err and "Traceback" not in err


def test_render_prints_one_job_document(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["render", "ledger-sync", "--env", "staging"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["names"]["state_machine"] == "coin-staging-ledger-sync"
    assert document["trigger"]["State"] == "DISABLED"
    run_task = document["state_machine"]["States"]["RunTask"]["Branches"][0]["States"]
    assert run_task["EcsRunTask"]["TimeoutSeconds"] == 240


# Importing any of these costs tenths of a second of CPU before the first line of output.
HEAVY = (
    *("pydantic", "pydantic_core", "rich", "boto3", "botocore", "ruamel", "moto", "chalice"),
    *("jobctl.compile", "jobctl.registry", "jobctl.deploy", "jobctl.local"),
)


@pytest.mark.parametrize(
    "argv", [["--help"], ["--version"], ["validate", "--help"], ["run", "--help"]]
)
def test_help_and_version_import_nothing_heavy(argv: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "jobctl", *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    imported = {
        line.rsplit("|", 1)[1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }
    assert "jobctl.cli.main" in imported  # the probe sees the CLI's own imports
    heavy = [n for n in imported if any(n == p or n.startswith(f"{p}.") for p in HEAVY)]
    assert sorted(heavy) == []


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"jobctl {__version__}\n"


def _conflict() -> JobctlError:
    from jobctl.deploy.plan import ConflictError

    return ConflictError("role coin-staging-a: not tagged\nrule coin-staging-a: not tagged")


@pytest.mark.parametrize(
    "error, status, lines",
    [
        (lambda: UsageError("bad flag"), 2, ["jobctl: bad flag"]),
        (lambda: NotFound("no run 'x'"), 2, ["jobctl: no run 'x'"]),
        (lambda: InvalidRequest("--param DAY: no"), 2, ["jobctl: --param DAY: no"]),
        (lambda: Conflict("job 'a' is paused"), 1, ["jobctl: job 'a' is paused"]),
        (lambda: Unavailable("retry later"), 1, ["jobctl: retry later"]),
        (
            _conflict,
            1,
            [
                "jobctl: conflict:",
                "role coin-staging-a: not tagged",
                "rule coin-staging-a: not tagged",
            ],
        ),
    ],
)
def test_every_jobctl_error_prints_its_lines_and_exits_with_its_status(
    project: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    error: Callable[[], JobctlError],
    status: int,
    lines: list[str],
) -> None:
    def fail(args: object, out: object) -> int:
        raise error()

    monkeypatch.setattr(authoring, "_validate", fail)
    assert main(["validate"]) == status
    captured = capsys.readouterr()
    assert captured.err.splitlines() == lines and captured.out == ""


def test_ops_errors_keep_their_http_status_and_map_to_the_cli_exit_status() -> None:
    for cls in (OpsError, InvalidRequest, NotFound, Conflict, TooLarge, Unavailable):
        assert issubclass(cls, JobctlError) and cls.http_status == cls.status
        # What the ops CLI always did: bad input for a 4xx but 409, refused otherwise.
        assert cls.exit_status == (2 if cls.status < 500 and cls.status != 409 else 1)
    assert UsageError.exit_status == RegistryError.exit_status == 2
    assert UsageError.http_status is None
