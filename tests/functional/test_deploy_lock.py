"""The deploy lock and the registry revision, on moto: `jobctl apply` from two places.

Without them, an older checkout applied after a newer one silently reverts it, and two
`apply --prune` from two branches delete each other's jobs.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from chalicelib.aws.clients import ClientFactory
from chalicelib.core.history import deploy_lock_key
from jobctl.cli.main import main
from jobctl.deploy.lock import DeployLock, DeployLocked, Revision, registry_revision
from jobctl.local.seed import register_task_definition
from tests.support.aws import offline_aws
from tests.support.registries import BASE

REGION = "eu-west-1"
TABLE = "demo-prod-history"
JOBS = """\
environments:
  prod: {}
jobs:
  report:
    schedule: cron(0 3 * * ? *)
"""
ANOTHER_JOB = """\
  sync:
    schedule: rate(5 minutes)
"""


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    offline_aws(monkeypatch, REGION)
    with mock_aws():
        register_task_definition(boto3.client("ecs"))
        yield


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A checkout of the registry with one commit."""
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "jobs.yaml").write_text(BASE + JOBS)
    git(tmp_path, "add", "jobs.yaml")
    git(tmp_path, "commit", "-q", "-m", "report")
    return tmp_path


def apply(path: Path, *extra: str) -> int:
    return main(["apply", "-f", str(path), "--env", "prod", "--yes", "--prune", *extra])


def machines() -> set[str]:
    listed = boto3.client("stepfunctions").list_state_machines()["stateMachines"]
    return {machine["name"] for machine in listed}


def test_a_second_apply_is_refused_while_the_first_holds_the_lock(
    aws: None, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jobs = repo / "jobs.yaml"
    assert apply(jobs) == 0  # the first apply (no table yet) creates the table
    lock = DeployLock(ClientFactory(), TABLE)
    with lock.held(registry_revision(jobs), "alice@ci (pid 1)"):
        capsys.readouterr()
        jobs.write_text(BASE + JOBS + ANOTHER_JOB)
        assert apply(jobs) == 1
        err = capsys.readouterr().err
        assert "the deploy lock is held by alice@ci (pid 1)" in err
        assert "expires at " in err and "Z" in err.split("expires at ")[1]
        assert machines() == {"demo-prod-report"}, "the refused apply wrote nothing"
    # Released when the first apply ends: the second goes through.
    assert apply(jobs) == 0
    assert machines() == {"demo-prod-report", "demo-prod-sync"}
    assert "Item" not in boto3.client("dynamodb").get_item(TableName=TABLE, Key=deploy_lock_key())


def test_applies_racing_for_the_lock_one_wins(aws: None, repo: Path) -> None:
    assert apply(repo / "jobs.yaml") == 0
    revision = registry_revision(repo / "jobs.yaml")
    first, second = DeployLock(ClientFactory(), TABLE), DeployLock(ClientFactory(), TABLE)
    token = first.acquire(revision, "first")
    with pytest.raises(DeployLocked, match="held by first"):
        second.acquire(revision, "second")
    first.release(token)
    second.release(second.acquire(revision, "second"))


def test_a_lock_past_its_lease_is_taken_over(
    aws: None, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jobs = repo / "jobs.yaml"
    assert apply(jobs) == 0
    # An apply that died two hours ago, with a one-hour lease.
    crashed = DeployLock(ClientFactory(), TABLE, clock=lambda: time.time() - 7200)
    crashed.acquire(registry_revision(jobs), "crashed@laptop (pid 9)")
    jobs.write_text(BASE + JOBS + ANOTHER_JOB)
    assert apply(jobs) == 0, capsys.readouterr().err
    assert "demo-prod-sync" in machines()
    assert "Item" not in boto3.client("dynamodb").get_item(TableName=TABLE, Key=deploy_lock_key())


def test_an_older_checkout_is_refused_unless_allowed(
    aws: None, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jobs = repo / "jobs.yaml"
    first = git(repo, "rev-parse", "HEAD")
    assert apply(jobs) == 0
    jobs.write_text(BASE + JOBS + ANOTHER_JOB)
    git(repo, "commit", "-q", "-am", "sync")
    assert apply(jobs) == 0
    assert machines() == {"demo-prod-report", "demo-prod-sync"}

    git(repo, "checkout", "-q", first)  # an older checkout, with --prune
    capsys.readouterr()
    assert apply(jobs) == 1
    err = capsys.readouterr().err
    assert "deployed is revision 2" in err and "--allow-older" in err
    assert machines() == {"demo-prod-report", "demo-prod-sync"}, "nothing was reverted"

    assert apply(jobs, "--allow-older") == 0
    assert machines() == {"demo-prod-report"}


def test_another_branch_cannot_prune_what_this_one_deployed(
    aws: None, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jobs = repo / "jobs.yaml"
    git(repo, "checkout", "-q", "-b", "feature-a")
    jobs.write_text(BASE + JOBS + ANOTHER_JOB)
    git(repo, "commit", "-q", "-am", "sync")
    assert apply(jobs) == 0
    git(repo, "checkout", "-q", "main")
    git(repo, "checkout", "-q", "-b", "feature-b")
    jobs.write_text(BASE + JOBS + ANOTHER_JOB.replace("sync", "pull"))
    git(repo, "commit", "-q", "-am", "pull")
    capsys.readouterr()
    assert apply(jobs) == 1
    assert "does not contain the deployed commit" in capsys.readouterr().err
    assert "demo-prod-sync" in machines()

    # Once merged, the branch contains the deployed commit and applies.
    git(repo, "merge", "-q", "--no-edit", "-X", "theirs", "feature-a")
    assert apply(jobs) == 0


def test_revisions_are_recorded_in_sequence(aws: None, repo: Path) -> None:
    jobs = repo / "jobs.yaml"
    assert apply(jobs) == 0
    assert apply(jobs) == 0  # nothing to change: still recorded
    deployed = DeployLock(ClientFactory(), TABLE).deployed()
    assert deployed is not None
    assert deployed["sequence"] == 2
    assert deployed["commit"] == git(repo, "rev-parse", "HEAD")
    assert deployed["digest"] == registry_revision(jobs).digest


def test_outside_git_the_revision_is_the_files_digest(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(BASE + JOBS)
    revision = registry_revision(jobs)
    assert revision == Revision(None, False, revision.digest) and len(revision.digest) == 64
