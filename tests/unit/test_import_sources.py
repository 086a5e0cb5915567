"""`jobctl import copilot` and `jobctl import ecschedule` on inline manifests."""

from __future__ import annotations

from jobctl.importers.merge import Layout
from jobctl.importers.model import ImportOptions
from jobctl.importers.run import Result, import_texts
from jobctl.registry.loader import parse_registry

COPILOT = """\
name: report
type: Scheduled Job
on: {schedule: "@every 1h30m"}
retries: 2
timeout: 30m
image: {location: example/report:1}
cpu: 512
memory: 1000
variables: {LOG_LEVEL: info}
secrets:
  TOKEN: /app/token
  DB: {secretsmanager: app/db}
environments:
  prod:
    on: {schedule: "0 9 * * 1-5"}
    memory: 2048
  test:
    on: {schedule: none}
"""

ECSCHEDULE = """\
region: us-east-1
cluster: app
role: ecsEventsRole
rules:
- name: Nightly_Task
  scheduleExpression: cron(30 15 ? * MON-FRI *)
  taskDefinition: app-batch
  containerOverrides:
  - name: app
    command: [bin/nightly]
  disabled: true
"""


def run(kind: str, text: str) -> Result:
    return import_texts(
        kind,  # type: ignore[arg-type]
        [("in.yaml", text)],
        Layout(registry_file="jobs.yaml"),
        ImportOptions(),
    )


def test_copilot_with_environment_overrides() -> None:
    result = run("copilot", COPILOT)
    assert result.report.exit_status == 0, result.report.text()
    registry = parse_registry(result.output.registry_text, env="prod")
    prod = registry.jobs_for("prod")[0]
    assert prod.schedule.expression == "cron(0 9 ? * 2-6 *)"
    assert prod.task_definition == "report-prod" and prod.retry.retries == 2
    assert prod.timeout == 1800 and prod.concurrency == "allow"
    test = parse_registry(result.output.registry_text, env="test").jobs_for("test")[0]
    assert not test.enabled
    base = parse_registry(result.output.registry_text).jobs_for("prod")
    assert base
    definitions = result.output.task_definitions
    assert '"memory": "1024"' in definitions["report"]
    assert '"memory": "2048"' in definitions["report-prod"]
    assert "parameter/app/token" in definitions["report"]
    assert "secret:app/db" in definitions["report"]


def test_ecschedule_rule_keeps_its_eventbridge_schedule() -> None:
    result = run("ecschedule", ECSCHEDULE)
    job = parse_registry(result.output.registry_text).jobs_for(None)[0]
    assert job.name == "nightly-task" and job.cluster == "app"
    assert job.schedule.expression == "cron(30 15 ? * MON-FRI *)"
    assert not job.enabled and job.task_definition == "app-batch"
    assert result.report.jobs[0].schedules[0].equivalent
    assert result.output.task_definitions == {}
    assert result.report.exit_status == 0, result.report.text()
