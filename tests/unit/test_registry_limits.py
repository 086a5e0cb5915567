"""Registry checks against AWS's documented limits, secret detection, and RE2 patterns.

Issue 12, points 4, 5, 6 and 11. moto enforces none of AWS's size limits, so each limit is
tested against the AWS documentation it comes from, named in the test; where botocore's
service model carries the limit, the test reads it from there too.
"""

from __future__ import annotations

import botocore.session
import pytest

from chalicelib.core import patterns
from jobctl.compile.triggers import compile_trigger
from jobctl.registry import checks, models, secrets
from jobctl.registry.diagnostics import RegistryError
from jobctl.registry.loader import parse_registry
from jobctl.registry.models import ResolvedJob

HEAD = """\
version: 1
project: coin
defaults:
  cluster: app
  task_definition: app-batch
  container: app
  launch_type: FARGATE
  network: {subnets: [subnet-1], security_groups: [sg-1]}
jobs:
  report:
    schedule: cron(0 3 * * ? *)
"""


def problems(extra: str, head: str = HEAD) -> list[str]:
    """The messages validating HEAD + `extra` reports (each `FIELD: message`)."""
    with pytest.raises(RegistryError) as caught:
        parse_registry(head + extra)
    return [
        d.render().split(": ", 1)[1].split("'report': ", 1)[-1] for d in caught.value.diagnostics
    ]


def valid(extra: str) -> ResolvedJob:
    registry = parse_registry(HEAD + extra)
    job = registry.job(None, "report")
    assert job is not None
    return job


# --- point 4: every problem in one run ------------------------------------------------------


def test_an_unknown_key_in_defaults_hides_no_job_problem() -> None:
    head = HEAD.replace("security_groups: [sg-1]", "securityGroups: [sg-1]")
    extra = """\
    cpu: 512
    memory: 8192
    environment: {DB_PASSWORD: hunter2}
    parameters: {DAY: {pattern: '\\d+', default: x}}
"""
    found = problems(extra, head)
    assert len(found) == 4, found
    assert any("unknown key 'securityGroups'" in m for m in found)
    assert any(m.startswith("memory: memory 8192 MiB does not fit") for m in found)
    assert any(m.startswith("environment.DB_PASSWORD: the name") for m in found)
    assert any(m.startswith("parameters.DAY.default: default does not match") for m in found)


# --- point 5: secrets in every text ---------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["PGPASSWORD", "MYSQL_PWD", "SECRET_KEY_BASE", "PASSPHRASE", "SENTRY_DSN", "PRIVATE_KEY_PEM"],
)
def test_common_secret_names_are_found(name: str) -> None:
    assert secrets.secret_name(name)


@pytest.mark.parametrize(
    "name", ["PWD", "DB_SECRET_ARN", "TOKEN_URL", "PASSWORD_FILE", "KEY_PREFIX", "PASSENGERS"]
)
def test_names_that_only_refer_to_a_secret_are_fine(name: str) -> None:
    assert not secrets.secret_name(name)


def test_value_shapes_include_detect_secrets_plugins() -> None:
    names = " ".join(secrets.detector_names())
    for plugin in ("GitLab Token", "Twilio API Key", "SendGrid API Key", "Basic Auth Credentials"):
        assert plugin in names
    assert secrets.secret_shape("glpat-" + "a1B2c3D4e5F6g7H8i9J0") is not None
    assert secrets.secret_shape("SG." + "a" * 22 + "." + "b" * 43) is not None


def test_the_url_with_a_password_check_is_linear() -> None:
    """`[a-z][a-z0-9+.-]*://...` on Python's `re` was quadratic: 100 KB took 18 s, so 1 MB
    took hours. On RE2 both answer at once (asserts the result, not a time)."""
    assert secrets.secret_shape("a" * 1_000_000) is None
    assert secrets.secret_shape("x://" + "a:" * 500_000) is None
    assert secrets.secret_shape("a" * 100_000 + "://u:p@h") == "a URL with a password"


def test_secrets_outside_environment_are_refused_without_echoing_them() -> None:
    extra = """\
    description: see https://hooks.slack.com/services/T0/B0/xyz
    command: [bin/export, --api-token, tok123, "postgres://u:hunter2@db/x"]
    tags: {team: AKIAIOSFODNN7EXAMPLE}
"""
    found = problems(extra)
    assert len(found) == 4, found
    assert not any("hunter2" in m or "tok123" in m or "AKIAIOSFODNN7EXAMPLE" in m for m in found)


# --- point 6: AWS's documented limits ---------------------------------------------------------


def test_tags_follow_aws_tag_rules_as_botocore_models_them() -> None:
    """ECS's Tag shape carries AWS's tag rules: key 1-128, value 0-256 characters of
    `[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*` ("Tagging AWS resources: tag naming limits")."""
    shape = botocore.session.get_session().get_service_model("ecs").shape_for("Tag")
    key, value = shape.members["key"].metadata, shape.members["value"].metadata
    assert (key["max"], value["max"]) == (128, 256)
    assert key["pattern"] == value["pattern"] == f"({models._TAG_CHARACTERS})"
    assert problems("    tags: {'cost#centre': x}\n")[0].startswith("tags.cost#centre: '#'")
    assert "at most 256" in problems(f"    tags: {{team: {'v' * 257}}}\n")[0]
    assert "at most 128" in problems(f"    tags: {{{'k' * 129}: x}}\n")[0]
    assert valid("    tags: {Équipe: 'paiements de nuit', a/b: 'c=d+e@f:g'}\n").tags


def test_description_fits_the_triggers_512_character_description() -> None:
    """EventBridge PutRule and Scheduler CreateSchedule allow a 512-character Description
    (botocore's models say so); the trigger's is 'jobctl: ' + the job's description."""
    session = botocore.session.get_session()
    for service, operation in (("events", "PutRule"), ("scheduler", "CreateSchedule")):
        shape = session.get_service_model(service).operation_model(operation).input_shape
        assert shape.members["Description"].metadata["max"] == 512
    job = valid(f"    description: {'d' * models.MAX_DESCRIPTION}\n")
    assert compile_trigger(job)["Description"] == f"jobctl: {job.description}"
    assert len(compile_trigger(job)["Description"]) <= 512
    found = problems(f"    description: {'d' * 500_000}\n")
    assert found == [
        "description: allows at most 500 characters (EventBridge rules and Scheduler schedules "
        "allow a 512-character Description, which holds 'jobctl: ' and this text), found 500,000"
    ]


def test_container_overrides_fit_ecs_8192_characters() -> None:
    """ECS RunTask: "A total of 8192 characters are allowed for overrides. This limit includes
    the JSON formatting characters of the override structure." (API Reference, TaskOverride)."""
    assert checks.MAX_ECS_OVERRIDES == 8192
    environment = "".join(f"      PART_{i}: {'z' * 1000}\n" for i in range(8))
    found = problems("    command: [bin/export]\n    environment:\n" + environment)
    assert len(found) == 1 and "8,3" in found[0] and "ECS RunTask allows 8,192" in found[0]
    assert found[0].startswith("environment: ")
    # Just under the limit is fine: the check measures the JSON the state machine sends.
    small = valid("    command: [bin/export]\n    environment:\n" + environment[: 6 * 1012])
    assert checks.ecs_overrides_size(small) <= 8192


def test_parameter_defaults_count_towards_the_overrides() -> None:
    defaults = "".join(
        f"      P{i}: {{enum: ['{c * 1000}'], default: '{c * 1000}'}}\n"
        for i, c in enumerate("abcdefghi")
    )
    found = problems("    parameters:\n" + defaults)
    assert any("command, environment and parameter defaults" in m for m in found), found


def test_the_jobs_record_fits_a_400_kb_dynamodb_item() -> None:
    """DynamoDB: "The maximum item size in DynamoDB is 400 KB" (Service, account, and table
    quotas). The META item holds description, owner and parameters; apply wrote it last, so
    an oversized one failed after the state machine and trigger existed, on every retry."""
    enum = "[" + ", ".join(f"'{i:04d}{'e' * 1000}'" for i in range(100)) + "]"
    parameters = "".join(f"      P{i}: {{enum: {enum}}}\n" for i in range(4))
    found = problems("    parameters:\n" + parameters)
    assert any("a DynamoDB item allows 400 KB (409,600 bytes)" in m for m in found), found
    assert checks.MAX_DYNAMODB_ITEM == 400 * 1024


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('"bin\\0x"', "NUL character (U+0000) at offset 3"),
        ('"\\e[2J"', "control character U+001B at offset 0"),
        ('"\\x85"', "control character U+0085"),
    ],
)
def test_control_characters_cannot_reach_the_container(text: str, words: str) -> None:
    """execve(2) takes C strings: a NUL cannot be in an argument or environment value."""
    assert words in problems(f"    command: [{text}]\n")[0]
    assert words in problems(f"    environment: {{A: {text}}}\n")[0]


def test_tab_and_newline_stay_allowed_in_commands() -> None:
    job = valid('    command: [sh, -c, "set -e\\n\\tbin/a\\r\\n"]\n')
    assert job.command == ("sh", "-c", "set -e\n\tbin/a\r\n")


@pytest.mark.parametrize("version", ["true", "1.0"])
def test_version_must_be_the_integer_1(version: str) -> None:
    found = problems("", HEAD.replace("version: 1", f"version: {version}"))
    assert len(found) == 1 and found[0].startswith("version: "), found


# --- point 11: RE2 patterns -------------------------------------------------------------------


def test_a_redos_pattern_with_its_default_validates_at_once() -> None:
    """The 319-byte registry that hung `jobctl validate` (backtracking on `(a+)+b`)."""
    found = problems(f"    parameters: {{K: {{pattern: '(a+)+b', default: {'a' * 30}}}}}\n")
    assert found == ["parameters.K.default: default does not match pattern"]


def test_full_width_digits_do_not_match_backslash_d() -> None:
    assert patterns.fullmatch(r"\d{4}-\d{2}-\d{2}", "2026-01-01")
    assert not patterns.fullmatch(r"\d{4}-\d{2}-\d{2}", "２０２６-０１-０１")
    found = problems("    parameters: {DAY: {pattern: '\\d{4}', default: '２０２６'}}\n")
    assert found == ["parameters.DAY.default: default does not match pattern"]


@pytest.mark.parametrize(
    ("pattern", "words"),
    [
        ("(?=x)x", "invalid perl operator: (?= (RE2 has no lookaround or backreferences)"),
        ("(a)\\1", "invalid escape sequence: \\1 (RE2 has no lookaround or backreferences)"),
        ("a{1001}", "invalid repetition size"),
        ("a" * 1025, "at most 1024 characters"),
    ],
)
def test_patterns_re2_cannot_run_are_refused(pattern: str, words: str) -> None:
    found = problems(f"    parameters: {{K: {{pattern: '{pattern}'}}}}\n")
    assert len(found) == 1 and words in found[0], found


def test_the_committed_secret_shapes_are_what_the_pinned_detect_secrets_gives() -> None:
    from jobctl.registry import secrets

    generated = secrets.render_shapes(secrets.detect_secrets_shapes())
    assert secrets.SHAPES_FILE.read_text(encoding="utf-8") == generated, (
        "run `python -m jobctl.registry.secrets` and commit jobctl/registry/secret_shapes.json"
    )
    assert len(secrets.detector_names()) > 40
