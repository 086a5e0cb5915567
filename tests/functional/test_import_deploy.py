"""An imported registry deploys: its task definitions register on moto, plan and apply succeed."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from chalicelib.aws.clients import ClientFactory
from jobctl.cli.main import main
from jobctl.deploy.service import DeployService
from jobctl.registry.loader import load_registry
from tests.support.aws import offline_aws

REGION, ACCOUNT = "eu-west-1", "123456789012"
CRONJOB = """\
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "0 3 * * 1-5"
  timeZone: Europe/Paris
  concurrencyPolicy: Forbid
  jobTemplate:
    spec:
      backoffLimit: 2
      template:
        spec:
          restartPolicy: Never
          containers:
          - name: app
            image: example/nightly:1
            args: [bin/nightly]
            env:
            - name: TOKEN
              valueFrom: {secretKeyRef: {name: app, key: token}}
"""


def test_imported_registry_plans_and_applies_on_moto(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "cronjob.yaml"
    source.write_text(CRONJOB)
    registry = tmp_path / "jobs.yaml"
    argv = ["import", "kubernetes", str(source), "-f", str(registry), "--project", "demo"]
    argv += ["--region", REGION, "--account", ACCOUNT, "--subnets", "subnet-1"]
    argv += ["--security-groups", "sg-1", "--cluster", "app"]
    assert main(argv) == 0
    assert main(["validate", str(registry)]) == 0
    offline_aws(monkeypatch, REGION)
    with mock_aws():
        ecs = boto3.client("ecs")
        ecs.create_cluster(clusterName="app")
        for path in sorted((tmp_path / "taskdefs").glob("*.json")):
            ecs.register_task_definition(**json.loads(path.read_text()))
        service = DeployService(ClientFactory(), load_registry(registry), None)
        plan = service.plan(prune=False, destroy=False)
        assert plan.actions
        result = service.apply(plan)
        assert result.ok, result.failed
        assert not service.plan(prune=False, destroy=False).actions
