"""The jobctl command line: exit codes, output streams, build --check."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from jobctl.cli.main import main

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
    assert document["state_machine"]["States"]["RunTask"]["TimeoutSeconds"] == 240
