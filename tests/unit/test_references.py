"""The reference grammar and its validation: no AWS, no environment."""

from __future__ import annotations

import pytest

from jobctl.registry.diagnostics import RegistryError
from jobctl.registry.loader import parse_registry
from jobctl.registry.references import ReferenceSyntaxError, parse_reference

HEADER = """\
version: 1
project: demo
defaults:
  container: app
  launch_type: FARGATE
  task_definition: app-batch
  network: {subnets: [subnet-1], security_groups: [sg-1]}
jobs:
  report:
    schedule: rate(1 day)
"""


def test_grammar() -> None:
    env = parse_reference("${env:SUBNET_IDS:-subnet-a,subnet-b}")
    assert env is not None and (env.name, env.default) == ("SUBNET_IDS", "subnet-a,subnet-b")
    resource = parse_reference('${tfstate:module.vpc[0].aws_subnet.this["a"].tags.Name}')
    assert resource is not None
    assert (resource.module, resource.type, resource.name, resource.index, resource.path) == (
        "module.vpc[0]",
        "aws_subnet",
        "this",
        "a",
        ("tags", "Name"),
    )
    output = parse_reference("${tfstate:output.subnets[1]}")
    assert output is not None and (output.output, output.path) == ("subnets", (1,))
    tag = parse_reference("${aws:security-group:team=data jobs}")
    assert tag is not None and (tag.kind, tag.tag) == ("security-group", ("team", "data jobs"))
    # Not references: other placeholders and text that merely contains one.
    assert parse_reference("${Region}") is None
    assert parse_reference("prefix-${env:X}") is None


@pytest.mark.parametrize(
    "text, message",
    [
        ("${env:}", "not an environment reference"),
        ("${env:A-B}", "not an environment reference"),
        ("${tfstate:output}", "expected ${tfstate:output.NAME}"),
        ("${tfstate:aws_subnet.private}", "expected ${tfstate:output.NAME}"),
        ("${tfstate:aws_subnet.private[x].id}", "is not a name with optional"),
        ("${aws:subnet:private-a}", "looked up by tag"),
        ("${aws:cluster:a/b}", "cluster name"),
        ("${aws:bucket:x}", "unknown AWS lookup 'bucket'"),
        ("${env:A}-suffix", "does not end with '}'"),
    ],
)
def test_syntax_errors(text: str, message: str) -> None:
    with pytest.raises(
        ReferenceSyntaxError,
        match=message.replace("$", r"\$").replace("{", r"\{").replace("[", r"\["),
    ):
        parse_reference(text)


def _problems(text: str) -> list[str]:
    with pytest.raises(RegistryError) as raised:
        parse_registry(text, "jobs.yaml")
    return [d.render() for d in raised.value.diagnostics]


def test_validate_reports_bad_references_at_file_line() -> None:
    problems = _problems(
        HEADER
        + '    cluster: "${aws:subnet:Name=x}"\n'
        + '    network: {subnets: ["${aws:subnt:Name=a}"], security_groups: [sg-1]}\n'
        + '    task_definition: "${env:1TD}"\n'
    )
    assert problems[0].startswith("jobs.yaml:11:15: job 'report': cluster: '${aws:subnet:Name=x}'")
    assert (
        "cannot be used for cluster: it accepts ${env:...}, ${tfstate:...}, ${aws:cluster:...}"
        in problems[0]
    )
    assert problems[1].startswith("jobs.yaml:12:26: job 'report': network.subnets[0]:")
    assert "unknown AWS lookup 'subnt'" in problems[1]
    assert problems[2].startswith("jobs.yaml:13:23: job 'report': task_definition:")


def test_references_stay_as_written_and_only_where_accepted() -> None:
    registry = parse_registry(
        HEADER
        + '    cluster: "${aws:cluster:jobs}"\n'
        + '    network: {subnets: "${env:SUBNETS}", security_groups: ["$${env:LITERAL}"]}\n'
        + '    environment: {CLUSTER: "${env:CLUSTER}"}\n'
        + '    command: [echo, "${aws:cluster:jobs}"]\n'
    )
    (job,) = registry.jobs_for(None)
    assert job.cluster == "${aws:cluster:jobs}"
    assert job.network is not None and job.network.subnets == ["${env:SUBNETS}"]
    assert job.network.security_groups == ["$${env:LITERAL}"]  # the escape, unescaped at plan
    # Elsewhere the same text is a literal that reaches the container as written.
    assert job.environment == {"CLUSTER": "${env:CLUSTER}"}
    assert job.command == ("echo", "${aws:cluster:jobs}")


def test_environment_account_and_tfstate() -> None:
    registry = parse_registry(
        HEADER.replace(
            "jobs:\n",
            "environments:\n  prod:\n    account: '${env:ACCOUNT}'\n    tfstate: s3://states/prod.tfstate\njobs:\n",
        )
        + "    cluster: '${tfstate:output.cluster}'\n"
    )
    assert registry.pins["prod"] == ("${env:ACCOUNT}", None)
    problems = _problems(
        HEADER.replace(
            "jobs:\n",
            "environments:\n  prod:\n    account: '${aws:cluster:x}'\n    tfstate: s3://states\njobs:\n",
        )
        + "    cluster: c\n"
    )
    assert any("account" in p and "it accepts ${env:...}, ${tfstate:...}" in p for p in problems)
    assert any("tfstate" in p and "not an S3 location" in p for p in problems)
