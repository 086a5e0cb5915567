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
            ["next", "daily-reprot", "--env", "production"],
            "jobctl: unknown job 'daily-reprot' (did you mean 'daily-report'?)",
        ),
        (
            ["render", "nope", "--env", "production"],
            "jobctl: unknown job 'nope'; jobs: backfill-report, daily-report",
        ),
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
    run_task = document["state_machine"]["States"]["RunTask"]
    assert run_task["TimeoutSeconds"] == 240


# Importing any of these costs tenths of a second of CPU before the first line of output.
HEAVY = (
    *("pydantic", "pydantic_core", "rich", "boto3", "botocore", "ruamel", "moto", "chalice"),
    *("jobctl.compile", "jobctl.registry", "jobctl.deploy", "jobctl.local"),
)


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["--version"],
        ["validate", "--help"],
        ["run", "--help"],
        ["init", "--help"],
        ["completion", "--help"],
    ],
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


# --- issue 13: --env, build's directory, --version, completion, init ------------------------


@pytest.mark.parametrize("verb", [["next"], ["next", "daily-report"], ["render", "ledger-sync"]])
def test_one_environment_verbs_need_env_when_the_registry_declares_environments(
    project: Path, capsys: pytest.CaptureFixture[str], verb: list[str]
) -> None:
    # `next` used to show the first environment's times and `render` every environment's.
    assert main(verb) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "jobctl: this registry declares environments (staging, production): choose one with --env"
    ]


def test_next_and_render_need_no_env_without_environments(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    shutil.copy(ROOT / "tests" / "data" / "variety.yaml", project / "jobs.yaml")
    assert main(["next", "replay", "-n", "1", "--after", "2026-01-01T00:00:00Z"]) == 0
    assert "2026-01-31" in capsys.readouterr().out
    assert main(["render", "replay"]) == 0
    assert json.loads(capsys.readouterr().out)["names"]["state_machine"] == "lab-replay"


def _help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines


def test_help_says_which_verbs_need_env_and_what_they_cover(
    capsys: pytest.CaptureFixture[str],
) -> None:
    required = "the environment to act on (required when the registry declares environments)"
    for verb in ("next", "render", "plan", "destroy"):
        assert required in _help([verb], capsys), verb
    for verb in ("validate", "build"):
        text = _help([verb], capsys)
        assert "only this environment (default: every declared environment)" in text, verb
        assert "every environment (or --env's)" in text, verb
    assert "in one environment" in _help(["next"], capsys)
    assert "statemachines/ next to the registry" in _help(["build"], capsys)


def test_build_of_another_registry_writes_next_to_it_and_leaves_this_one_alone(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["build"]) == 0
    committed = sorted(p.name for p in (project / "statemachines").glob("*.asl.json"))
    assert len(committed) == 10
    other = project / "lab"
    other.mkdir()
    shutil.copy(ROOT / "tests" / "data" / "variety.yaml", other / "jobs.yaml")
    assert main(["build", "-f", str(other / "jobs.yaml")]) == 0
    # Before: lab's files went into ./statemachines and coin's ten were deleted.
    assert sorted(p.name for p in (project / "statemachines").glob("*.asl.json")) == committed
    assert sorted(p.name for p in (other / "statemachines").glob("*.asl.json")) == [
        "ec2-nightly.asl.json",
        "replay.asl.json",
        "spot-crunch.asl.json",
    ]
    assert main(["build", "--check"]) == 0
    assert main(["build", "--check", "-f", str(other / "jobs.yaml")]) == 0


def test_build_never_deletes_files_another_registry_generated(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["build"]) == 0
    shutil.copy(ROOT / "tests" / "data" / "variety.yaml", project / "lab.yaml")
    capsys.readouterr()
    # The same directory on purpose: coin's files are another registry's, not lab's to remove.
    assert main(["build", "-f", "lab.yaml", "--out", "statemachines"]) == 0
    captured = capsys.readouterr()
    assert "statemachines/: 3 written, 0 removed" in captured.out
    assert len(list((project / "statemachines").glob("*.asl.json"))) == 13
    assert (
        "statemachines/daily-report.production.asl.json: left alone (generated from another "
        "registry)" in captured.err
    )
    assert main(["build", "--check", "-f", "lab.yaml", "--out", "statemachines"]) == 0
    capsys.readouterr()
    # Nor are lab's files coin's to judge: coin's check passes and names them.
    assert main(["build", "--check"]) == 0
    err = capsys.readouterr().err
    assert "statemachines/replay.asl.json: left alone (generated from another registry)" in err
    assert "no longer produced" not in err


def test_version_is_the_installed_distributions_version() -> None:
    import tomllib
    from importlib.metadata import version

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert __version__ == declared == version("jobctl")


def _complete(line: str, cwd: Path, tmp_path: Path, **env: str) -> list[str]:
    """What argcomplete offers for `line` (the cursor at its end) but flags, as a shell asks."""
    import os

    out = tmp_path / "completions"
    environ = {
        **{k: v for k, v in os.environ.items() if k != "JOBCTL_FILE"},
        "_ARGCOMPLETE": "1",
        "_ARGCOMPLETE_IFS": "\n",
        "_ARGCOMPLETE_STDOUT_FILENAME": str(out),
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
        **env,
    }
    result = subprocess.run(
        [sys.executable, "-m", "jobctl"], cwd=cwd, env=environ, capture_output=True, text=True
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
    return sorted(word for word in out.read_text().split("\n") if word and word[0] != "-")


def test_completion_offers_job_names_and_environments_of_the_registry(
    project: Path, tmp_path: Path
) -> None:
    jobs = ["backfill-report", "daily-report", "ledger-sync", "legacy-export", "weekly-cleanup"]
    assert _complete("jobctl nex", project, tmp_path) == ["next "]
    assert _complete("jobctl render ", project, tmp_path) == jobs
    assert _complete("jobctl run le", project, tmp_path) == ["ledger-sync", "legacy-export"]
    assert _complete("jobctl next --env ", project, tmp_path) == ["production", "staging"]
    assert _complete("jobctl plan --env p", project, tmp_path) == ["production "]
    # -f and $JOBCTL_FILE name the registry to read the names from.
    shutil.copy(ROOT / "tests" / "data" / "variety.yaml", project / "lab.yaml")
    assert _complete("jobctl next -f lab.yaml r", project, tmp_path) == ["replay "]
    assert _complete("jobctl pause s", project, tmp_path, JOBCTL_FILE="lab.yaml") == [
        "spot-crunch "
    ]


@pytest.mark.parametrize("content", [None, "jobs: [unclosed", "\t:", "jobs: {a: *nope}"])
def test_completion_fails_silently_without_a_readable_registry(
    tmp_path: Path, content: str | None
) -> None:
    if content is not None:
        (tmp_path / "jobs.yaml").write_text(content)
    assert _complete("jobctl render ", tmp_path, tmp_path) == []
    assert _complete("jobctl next --env ", tmp_path, tmp_path) == []


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_the_script_to_source(
    shell: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["completion", shell]) == 0
    script = capsys.readouterr().out
    assert "_ARGCOMPLETE" in script and "jobctl" in script


def test_completion_of_an_unknown_shell_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["completion", "tcsh"])
    assert exited.value.code == 2
    assert "invalid choice: 'tcsh'" in capsys.readouterr().err


def test_init_writes_a_starter_that_validates_and_refuses_to_overwrite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from jobctl.registry.schema import SCHEMA_PATH

    directory = tmp_path / "Billing_Service"
    directory.mkdir()
    monkeypatch.chdir(directory)
    monkeypatch.delenv("JOBCTL_FILE", raising=False)
    assert main(["init"]) == 0
    assert "project 'billing-service'" in capsys.readouterr().out
    assert (directory / "jobs.schema.json").read_text() == SCHEMA_PATH.read_text()
    assert main(["validate"]) == 0
    assert "jobs.yaml: valid in staging, production" in capsys.readouterr().out
    assert main(["next", "--env", "staging", "-n", "1"]) == 0
    capsys.readouterr()

    (directory / "jobs.yaml").write_text("mine\n")
    assert main(["init"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "jobctl: jobs.yaml and jobs.schema.json already exist: use --force to overwrite"
    ]
    assert (directory / "jobs.yaml").read_text() == "mine\n"
    assert main(["init", "--force", "--project", "billing"]) == 0
    assert "\nproject: billing " in (directory / "jobs.yaml").read_text()


def test_init_into_another_file_and_a_bad_project_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "ops" / "batch.yaml"
    assert main(["init", "-f", str(target), "--project", "batch"]) == 0
    assert target.exists() and (tmp_path / "ops" / "jobs.schema.json").exists()
    assert main(["validate", str(target)]) == 0
    capsys.readouterr()
    assert main(["init", "-f", str(tmp_path / "x.yaml"), "--project", "Batch_1"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "jobctl: --project 'Batch_1' is not a project name (lowercase letters, digits, '-')"
    ]
    assert not (tmp_path / "x.yaml").exists()
