"""`jobctl import kubernetes` on small inline manifests: mapping, defaults, refusals, merge."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobctl.cli.main import main
from jobctl.importers.merge import ConflictError, Layout
from jobctl.importers.model import ImportOptions
from jobctl.importers.run import import_texts
from jobctl.importers.source import InputError
from jobctl.registry.loader import parse_registry

CRONJOB = """\
apiVersion: v1
kind: ServiceAccount
metadata: {name: runner}
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly.report
  labels: {app: report}
spec:
  schedule: "0 3 * * *"
  timeZone: Europe/Paris
  startingDeadlineSeconds: 30
  successfulJobsHistoryLimit: 3
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: app
            image: example/report:1
            command: [bin/report]
            args: [--day, today]
            env:
            - {name: MODE, value: nightly}
            - name: DB_PASSWORD
              valueFrom: {secretKeyRef: {name: db, key: password}}
            resources: {limits: {cpu: 300m, memory: 700Mi}}
          volumes: [{name: cache, persistentVolumeClaim: {claimName: c}}]
"""


def run(text: str, existing: str | None = None, **layout: object):  # type: ignore[no-untyped-def]
    return import_texts(
        "kubernetes",
        [("cj.yaml", text)],
        Layout(registry_file="jobs.yaml", **layout),  # type: ignore[arg-type]
        ImportOptions(),
        existing=existing,
    )


def entry(result, field: str):  # type: ignore[no-untyped-def]
    return next(e for job in result.report.jobs for e in job.entries if e.field == field)


def test_maps_fields_keeps_kubernetes_defaults_and_validates() -> None:
    result = run(CRONJOB)
    job = result.report.jobs[0]
    assert job.imported and job.name == "nightly-report"
    registry = parse_registry(result.output.registry_text)
    resolved = registry.jobs_for(None)[0]
    assert resolved.timezone == "Europe/Paris" and resolved.concurrency == "allow"
    assert resolved.retry.retries == 6 and resolved.starting_deadline == 60
    assert resolved.command == ("--day", "today")
    assert entry(result, "spec.concurrencyPolicy").status == "defaulted"
    assert entry(result, "spec.jobTemplate.spec.backoffLimit").status == "defaulted"
    assert entry(result, "spec.successfulJobsHistoryLimit").status == "dropped"
    assert entry(result, "spec.jobTemplate.spec.template.spec.volumes[0]").status == "unsupported"
    definition = result.output.task_definitions["nightly-report"]
    assert '"cpu": "512"' in definition and '"memory": "1024"' in definition
    assert "secret:db:password::" in definition and '"entryPoint"' in definition
    assert job.schedules[0].equivalent
    assert result.report.exit_status == 1  # the volume needs the user
    assert any("ServiceAccount" in e.field for e in result.report.ignored)


def test_every_leaf_is_accounted_for() -> None:
    text = CRONJOB.replace("restartPolicy: OnFailure", "restartPolicy: OnFailure\n          foo: 1")
    found = entry(run(text), "spec.jobTemplate.spec.template.spec.foo")
    assert found.status == "unsupported" and "not known" in found.note


def test_both_day_fields_are_refused_with_a_split_and_split_imports_it() -> None:
    text = CRONJOB.replace('"0 3 * * *"', '"0 3 1 * 1"')
    result = run(text)
    check = result.report.jobs[0].schedules[0]
    assert not result.report.jobs[0].imported and check.split == ["0 3 1 * *", "0 3 * * 1"]
    assert result.report.exit_status == 1
    split = import_texts(
        "kubernetes",
        [("cj.yaml", text)],
        Layout(registry_file="jobs.yaml"),
        ImportOptions(split=True),
    )
    names = [job.name for job in split.report.jobs if job.imported]
    assert names == ["nightly-report-by-date", "nightly-report-by-weekday"]


def test_fall_back_hour_differs_and_is_refused_with_the_first_difference() -> None:
    text = CRONJOB.replace('"0 3 * * *"', '"30 2 * * *"')  # Paris repeats 02:30 in October
    check = run(text).report.jobs[0].schedules[0]
    assert not check.equivalent
    assert check.first_difference and check.first_difference.startswith("2026-10-25T02:30+01:00")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("image: {{ .Values.image }}\n", "render it first"),
        ("apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: x}\nspec: {}\n", "schedule"),
        ("a: [\n", "not valid YAML"),
        (CRONJOB.replace('"0 3 * * *"', '"61 3 * * *"'), "spec.schedule"),
    ],
)
def test_invalid_input_is_exit_2_with_file_and_line(text: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        run(text)
    assert caught.value.exit_status == 2
    assert caught.value.message.startswith("cj.yaml:") and message in caught.value.message


def test_merge_keeps_comments_and_refuses_to_overwrite_without_replace() -> None:
    existing = (
        "# my registry\nversion: 1\nproject: demo\ndefaults:\n  cluster: app\n"
        "  task_definition: app\n  container: app\njobs:\n"
        "  nightly-report:  # keep me\n    schedule: rate(1 day)\n"
    )
    with pytest.raises(ConflictError):
        run(CRONJOB, existing)
    merged = run(CRONJOB, existing, replace=True).output.registry_text
    assert merged.startswith("# my registry") and "task_definition: nightly-report" in merged
    other = run(CRONJOB.replace("nightly.report", "other"), existing).output.registry_text
    assert "# keep me" in other and other.index("nightly-report:") < other.index("other:")


def test_cli_writes_registry_and_taskdefs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "cj.yaml"
    source.write_text(
        CRONJOB.replace(
            "          volumes: [{name: cache, persistentVolumeClaim: {claimName: c}}]\n", ""
        )
    )
    registry = tmp_path / "out" / "jobs.yaml"
    status = main(["import", "kubernetes", str(source), "-f", str(registry), "--project", "demo"])
    assert status == 0, capsys.readouterr().out
    assert (tmp_path / "out" / "taskdefs" / "nightly-report.json").is_file()
    assert main(["validate", str(registry)]) == 0
    assert main(["import", "kubernetes", str(source), "-f", str(registry)]) == 2
