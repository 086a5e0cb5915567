"""Registry loading: layering, provenance of errors, YAML features, environment selection."""

from __future__ import annotations

import pytest

from jobctl.registry.diagnostics import RegistryError
from jobctl.registry.loader import load_registry, parse_registry


def rendered(exc: RegistryError) -> list[str]:
    return [d.render().split(":", 1)[1] for d in exc.diagnostics]


def test_overlays_merge_mappings_and_replace_lists(write_registry):
    path = write_registry(
        """\
        environments:
          staging: {cluster: app-stg, network: {subnets: [subnet-s]}}
          production: {network: {assign_public_ip: true}}
        jobs:
          sync:
            schedule: rate(5 minutes)
            environments:
              staging: {enabled: false, timeout: 5m}
        """
    )
    registry = load_registry(path)
    assert registry.targets == ("staging", "production")
    staging = registry.job("staging", "sync")
    production = registry.job("production", "sync")
    assert staging is not None and production is not None
    assert (staging.cluster, staging.enabled, staging.timeout) == ("app-stg", False, 300)
    assert staging.network is not None and staging.network.subnets == ["subnet-s"]
    assert staging.network.security_groups == ["sg-1"]  # merged from defaults
    assert (production.cluster, production.enabled, production.timeout) == ("app", True, 3600)
    assert production.network is not None and production.network.assign_public_ip is True


def test_registry_without_environments_has_one_unnamed_target(write_registry):
    registry = load_registry(write_registry("jobs:\n  a: {schedule: rate(1 hour)}\n"))
    assert registry.targets == (None,)
    job = registry.job(None, "a")
    assert job is not None and job.env is None and job.concurrency == "forbid"


def test_capacity_strategy_in_a_job_clears_inherited_launch_type(write_registry):
    path = write_registry(
        """\
        jobs:
          spot:
            schedule: rate(1 hour)
            capacity_provider_strategy: [{capacity_provider: FARGATE_SPOT, weight: 1}]
        """
    )
    job = load_registry(path).job(None, "spot")
    assert job is not None and job.launch_type is None
    assert job.capacity_provider_strategy is not None and job.is_fargate


def test_inherited_error_is_reported_once_at_its_source(write_registry):
    base = "version: 1\nproject: demo\ndefaults:\n  cluster: app\n  task_definition: app-batch\n  container: app\n  launch_type: FARGATE\n  network: {subnets: [s], security_groups: [g]}\n  cpu: 512\n  memory: 8192\n"
    path = write_registry(
        "jobs:\n  a: {schedule: rate(1 hour)}\n  b: {schedule: rate(2 hours)}\n", base=base
    )
    with pytest.raises(RegistryError) as caught:
        load_registry(path)
    assert rendered(caught.value) == [
        "10:11: defaults.memory: memory 8192 MiB does not fit cpu 512 on Fargate: use 1024-4096 in steps of 1024"
    ]


def test_cross_field_error_points_at_the_jobs_own_line(write_registry):
    path = write_registry(
        "jobs:\n  a:\n    schedule: rate(1 hour)\n    cpu: 256\n    memory: 4096\n"
    )
    with pytest.raises(RegistryError) as caught:
        load_registry(path)
    assert rendered(caught.value) == [
        "13:13: job 'a': memory: memory 4096 MiB does not fit cpu 256 on Fargate: use 512, 1024 or 2048"
    ]


def test_yaml_anchors_and_merge_keys_work(write_registry):
    path = write_registry(
        """\
        jobs:
          a: &common {schedule: rate(1 hour), timeout: 10m, command: [run]}
          b:
            <<: *common
            timeout: 20m
        """
    )
    registry = load_registry(path)
    b = registry.job(None, "b")
    assert b is not None and (b.timeout, b.command) == (1200, ("run",))


def test_all_duplicate_keys_are_reported_with_other_errors(write_registry):
    path = write_registry(
        """\
        jobs:
          a: {schedule: rate(1 hour), timeout: 1m, timeout: 2m}
          a: {schedule: rate(1 hour)}
          c: {schedule: rate(1 hours)}
        """
    )
    with pytest.raises(RegistryError) as caught:
        load_registry(path)
    assert rendered(caught.value) == [
        "10:44: job 'a': duplicate key 'timeout' (first defined on line 10)",
        "11:3: jobs: duplicate key 'a' (first defined on line 10)",
        "12:24: job 'c': schedule: use the singular unit: rate(1 hour)",
    ]


def test_schedule_error_column_points_inside_the_expression(write_registry):
    path = write_registry('jobs:\n  a: {schedule: "cron(0 24 * * ? *)"}\n')
    with pytest.raises(RegistryError) as caught:
        load_registry(path)
    (diagnostic,) = caught.value.diagnostics
    line = path.read_text().splitlines()[diagnostic.line - 1]
    assert line[diagnostic.column - 1 :].startswith("24")


def test_unknown_environment_is_a_located_error_with_suggestion(write_registry):
    path = write_registry("environments: {production: {}}\njobs:\n  a: {schedule: rate(1 hour)}\n")
    with pytest.raises(RegistryError) as caught:
        load_registry(path, env="prod")
    assert "unknown environment 'prod' (did you mean 'production'?)" in str(caught.value)


def test_numbers_become_text_in_environment_and_command(write_registry):
    path = write_registry(
        "jobs:\n  a: {schedule: rate(1 hour), command: [sleep, 5], environment: {N: 3}}\n"
    )
    job = load_registry(path).job(None, "a")
    assert job is not None and job.command == ("sleep", "5") and job.environment == {"N": "3"}


def test_unreadable_inputs_give_one_located_error(tmp_path):
    with pytest.raises(RegistryError) as caught:
        load_registry(tmp_path / "missing.yaml")
    assert caught.value.diagnostics[0].message == "no such file"
    with pytest.raises(RegistryError) as caught:
        parse_registry("a: [1,\n", "x.yaml")
    assert caught.value.diagnostics[0].render().startswith("x.yaml:2:1: not valid YAML")


def test_history_retention_is_validated_and_reaches_every_job(write_registry):
    base = "version: 1\nproject: demo\nhistory: {retention: 12h}\n"
    path = write_registry(
        "jobs:\n  a: {schedule: rate(1 hour), cluster: c, task_definition: t, container: x}\n",
        base=base,
    )
    with pytest.raises(RegistryError) as caught:
        load_registry(path)
    assert rendered(caught.value) == [
        "3:22: history.retention: must be between 1d and 3650d, found 12h"
    ]
    path.write_text(path.read_text().replace("12h", "30d"))
    job = load_registry(path).job(None, "a")
    assert job is not None and job.history_retention == 30 * 86400


# --- issue 13: required parameters, YAML slips, Kubernetes names ----------------------------


def problems(path) -> list[str]:
    with pytest.raises(RegistryError) as caught:
        load_registry(path)
    return rendered(caught.value)


def test_a_scheduled_job_may_not_require_a_parameter_without_a_default(write_registry):
    # Its trigger starts every run with no parameters: each would fail before its task ran.
    path = write_registry(
        """\
        jobs:
          replay:
            schedule: rate(1 day)
            parameters:
              FROM: {pattern: '\\d+', required: true}
              MODE: {enum: [a, b], default: a}
        """
    )
    assert problems(path) == [
        "13:30: job 'replay': parameters.FROM.required: parameter 'FROM' is required and has "
        "no default, but the schedule starts runs without parameters: give it a default "
        "instead of required, or make the job manual-only with enabled: false"
    ]


def test_a_manual_only_job_may_require_a_parameter(write_registry):
    path = write_registry(
        """\
        environments:
          staging: {}
          production: {}
        jobs:
          backfill:
            schedule: rate(1 day)
            enabled: false
            parameters:
              DAY: {pattern: '\\d{4}-\\d{2}-\\d{2}', required: true}
        """
    )
    job = load_registry(path).job("production", "backfill")
    assert job is not None and job.parameters["DAY"].required and not job.enabled


def test_the_required_parameter_rule_follows_each_environments_trigger(write_registry):
    path = write_registry(
        """\
        environments:
          staging: {}
          production: {}
        jobs:
          backfill:
            schedule: rate(1 day)
            enabled: false
            environments:
              production: {enabled: true}
            parameters:
              DAY: {pattern: '\\d+', required: true}
        """
    )
    assert problems(path) == [
        "19:29: job 'backfill': parameters.DAY.required: parameter 'DAY' is required and has "
        "no default, but the schedule starts runs without parameters: give it a default "
        "instead of required, or make the job manual-only with enabled: false"
    ]
    assert load_registry(path, env="staging").job("staging", "backfill") is not None


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "jobs:\n  a:\n\tschedule: rate(1 hour)\n",
            "11:1: not valid YAML: a tab indents this line: YAML indents with spaces only "
            "(jobs.yaml uses 2 per level); replace the tab with spaces",
        ),
        (
            "jobs:\n  a:\n    schedule: rate(1 hour)\n   command: [x]\n",
            "12:4: not valid YAML: this line is indented 3 spaces, which matches no level above "
            "it (4 ('schedule'), 2 ('a'), 0 ('jobs')): indent it like the key it belongs "
            "beside, by the same number of spaces per level",
        ),
        (
            "jobs:\n  a:\n    schedule: rate(1 hour)\n      command: [x]\n",
            "12:7: not valid YAML: this line is indented deeper than 'schedule' above it, so "
            "YAML reads it as the rest of that value: indent it 4 spaces like 'schedule'",
        ),
        (
            "jobs:\n  a:\n    schedule: rate(1 hour)\n    description: Note: nightly\n",
            "12:22: not valid YAML: a value that contains ': ' must be quoted: \"...\" or '...'",
        ),
    ],
    ids=["tab", "three-spaces", "continued-value", "colon-in-value"],
)
def test_common_yaml_slips_get_a_plain_message_at_their_line(write_registry, text, expected):
    assert problems(write_registry(text)) == [expected]


@pytest.mark.parametrize(
    "line, expected",
    [
        (
            "command: bin/sync --full",
            "12:14: job 'a': command: expected a list, found the text 'bin/sync --full': write "
            "it as a list, e.g. [bin/sync, --full]",
        ),
        (
            "command: bin/export --cols a,b --out out.csv",
            "12:14: job 'a': command: expected a list, found the text 'bin/export --cols a,b "
            "--out out.csv': write it as a list, e.g. [bin/export, --cols, 'a,b', --out, out.csv]",
        ),
        (
            "command: bin/sync > /tmp/log",
            "12:14: job 'a': command: expected a list, found the text 'bin/sync > /tmp/log': "
            "write it as a list of arguments (exec form, no shell), or [sh, -c, '...']",
        ),
        (
            "restartPolicy: OnFailure",
            "12:5: job 'a': unknown key 'restartPolicy': Kubernetes' restartPolicy is 'retry' "
            "here (e.g. retry: {retries: 2}): a failed attempt starts a new task",
        ),
        (
            "resources: {limits: {cpu: 500m}}",
            "12:5: job 'a': unknown key 'resources': Kubernetes' resources.requests/limits are "
            "'cpu' and 'memory' here (e.g. cpu: 512, memory: 1024; Fargate sizes are checked)",
        ),
        (
            "image: registry.example.com/app:1.2",
            "12:5: job 'a': unknown key 'image': the image belongs in the ECS task definition: "
            "register it there and name the task definition with 'task_definition'",
        ),
        (
            "successfulJobsHistoryLimit: 3",
            "12:5: job 'a': unknown key 'successfulJobsHistoryLimit': Kubernetes' "
            "successfulJobsHistoryLimit is 'history: {retention: 90d}' here (every run is kept "
            "for the retention)",
        ),
    ],
    ids=[
        "command",
        "command-comma",
        "command-shell",
        "restartPolicy",
        "resources",
        "image",
        "history",
    ],
)
def test_kubernetes_habits_get_the_jobctl_equivalent(write_registry, line, expected):
    path = write_registry(f"jobs:\n  a:\n    schedule: rate(1 hour)\n    {line}\n")
    assert problems(path) == [expected]


def test_a_cron_tz_prefix_names_the_timezone_key(write_registry):
    path = write_registry('jobs:\n  a:\n    schedule: "CRON_TZ=Asia/Tokyo 0 3 * * *"\n')
    assert problems(path) == [
        "11:16: job 'a': schedule: 'CRON_TZ=' is not part of a schedule here: write "
        "'timezone: Asia/Tokyo' beside 'schedule: \"0 3 * * *\"'"
    ]
