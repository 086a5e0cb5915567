"""The deployed-job contract (chalicelib.core.deployed) and the one worst-case formula."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chalicelib.core.deployed import DeployedJob, DeployedJobError
from chalicelib.core.runtime import RetryTiming, lease_seconds, worst_case_seconds
from jobctl.compile.compiler import compile_job
from jobctl.deploy.desired import job_config
from jobctl.registry.checks import worst_case_seconds as registry_worst_case
from jobctl.registry.loader import load_registry

ROOT = Path(__file__).resolve().parents[2]
VALUES = {"Partition": "aws", "Region": "us-east-1", "AccountId": "123456789012"}
REGISTRIES = [ROOT / "jobs.yaml", ROOT / "tests" / "data" / "variety.yaml"]


def deployed_jobs() -> list[tuple[object, DeployedJob]]:
    pairs = []
    for path in REGISTRIES:
        registry = load_registry(str(path))
        for target in registry.targets:
            for job in registry.jobs_for(target):
                pairs.append((job, DeployedJob.from_data(job_config(job, VALUES))))
    return pairs


def test_every_job_of_the_test_registries_round_trips_through_the_contract() -> None:
    pairs = deployed_jobs()
    assert len(pairs) > 10
    for job, deployed in pairs:
        text = deployed.to_json()
        assert DeployedJob.from_json(text) == deployed
        assert json.loads(text)["version"] == 1
        assert deployed.job == job.name  # type: ignore[attr-defined]


def test_the_runtime_and_the_registry_compute_the_same_worst_case() -> None:
    for job, deployed in deployed_jobs():
        assert deployed.worst_case_seconds == registry_worst_case(job)  # type: ignore[arg-type]


def test_the_compiled_lock_lease_is_the_worst_case_plus_the_margin() -> None:
    registry = load_registry(str(ROOT / "jobs.yaml"))
    job = next(j for t in registry.targets for j in registry.jobs_for(t) if j.retry.retries)
    definition = json.dumps(compile_job(job).definition)
    lease_ms = lease_seconds(job.timeout, job.retry_timing) * 1000
    assert f"$millis() + {lease_ms}" in definition


def test_the_worst_case_counts_every_retry_wait_capped_by_max_interval() -> None:
    # 3 attempts of 10 min, waits 600 s then 1200 s (capped at 900 s).
    timing = RetryTiming(retries=2, interval=600, backoff_rate=2.0, max_interval=900)
    assert worst_case_seconds(600, timing) == 3 * 600 + 600 + 900
    assert worst_case_seconds(600, RetryTiming()) == 600


def _written_before_versions() -> dict[str, object]:
    config = DeployedJob.from_data(
        {
            "job": "report",
            "project": "lab",
            "schedule": "cron(0 3 * * ? *)",
            "schedule_source": "0 3 * * *",
            "concurrency": "forbid",
            "timeout": 600,
            "retry": {"retries": 2, "interval": 60},
            "cluster": "app",
            "task_definition": "app-batch",
            "container": "app",
            "state_machine_arn": "arn:aws:states:us-east-1:123456789012:stateMachine:lab-report",
            "trigger": "rule",
        }
    ).to_data()
    del config["version"], config["retry"]
    config["retries"] = 2
    return config


def test_an_item_written_before_versions_is_read_with_its_retries() -> None:
    deployed = DeployedJob.from_data(_written_before_versions())
    assert deployed.version == 1
    assert deployed.retries == 2
    assert deployed.worst_case_seconds == 3 * 600


def test_a_newer_version_is_refused_with_what_to_do() -> None:
    config = {**DeployedJob.from_data(_written_before_versions()).to_data(), "version": 2}
    with pytest.raises(DeployedJobError, match="newer jobctl"):
        DeployedJob.from_json(json.dumps(config))


def test_an_unknown_field_or_a_missing_one_is_refused_not_guessed() -> None:
    config = DeployedJob.from_data(_written_before_versions()).to_data()
    with pytest.raises(DeployedJobError, match="surprise"):
        DeployedJob.from_data({**config, "surprise": 1})
    del config["cluster"]
    with pytest.raises(DeployedJobError, match="cluster"):
        DeployedJob.from_data(config)
