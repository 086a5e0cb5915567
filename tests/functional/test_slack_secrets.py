"""SecretCache on moto: values are cached for their ttl, `invalidate` forces a re-read, and
errors name the reference and AWS's error, never a value."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from chalicelib.alerts.config import SecretCache, SecretError, SecretRef
from chalicelib.aws.clients import ClientFactory
from tests.support.aws import offline_aws

REGION = "us-east-1"
VALUE = "https://hooks.slack.com/services/T0/B0/XXXXSECRETXXXX"
SECRET = SecretRef("secretsmanager", "lab/slack-webhooks")
PARAMETER = SecretRef("ssm", "/lab/slack/webhooks")


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """Every API call the cache's clients make, by operation."""
    offline_aws(monkeypatch, REGION)
    seen: Counter[str] = Counter()
    with mock_aws():
        boto3.client("secretsmanager", region_name=REGION).create_secret(
            Name=SECRET.name, SecretString=f" {VALUE}\n"
        )
        boto3.client("ssm", region_name=REGION).put_parameter(
            Name=PARAMETER.name, Value=VALUE, Type="SecureString"
        )
        yield seen


def cache(calls: Counter[str], **kwargs: int) -> SecretCache:
    factory = ClientFactory(region=REGION, hooks=[lambda _, operation: calls.update([operation])])
    return SecretCache(factory, **kwargs)


@pytest.mark.parametrize("ref", [SECRET, PARAMETER], ids=["secretsmanager", "ssm"])
def test_a_value_is_read_once_then_served_from_the_cache(
    calls: Counter[str], ref: SecretRef
) -> None:
    secrets = cache(calls)
    assert secrets.get(ref) == VALUE and secrets.get(ref) == VALUE
    assert sum(calls.values()) == 1


def test_invalidate_forces_the_next_read(calls: Counter[str]) -> None:
    secrets = cache(calls)
    secrets.get(SECRET)
    secrets.invalidate(SECRET)
    secrets.get(SECRET)
    secrets.get(SECRET)
    assert calls == {"GetSecretValue": 2}


def test_a_zero_ttl_reads_every_time(calls: Counter[str]) -> None:
    secrets = cache(calls, ttl=0)
    secrets.get(PARAMETER)
    secrets.get(PARAMETER)
    assert calls == {"GetParameter": 2}


def test_a_missing_secret_names_the_reference_and_awss_error(calls: Counter[str]) -> None:
    with pytest.raises(SecretError) as raised:
        cache(calls).get(SecretRef("secretsmanager", "lab/nothing"))
    assert str(raised.value).startswith(
        "cannot read secretsmanager:lab/nothing: ResourceNotFoundException:"
    )
    assert raised.value.__cause__ is None


def test_an_empty_secret_is_an_error_and_is_read_again_once_fixed(calls: Counter[str]) -> None:
    client = boto3.client("secretsmanager", region_name=REGION)
    client.put_secret_value(SecretId=SECRET.name, SecretString="  ")
    secrets = cache(calls)
    with pytest.raises(SecretError, match="is empty"):
        secrets.get(SECRET)
    client.put_secret_value(SecretId=SECRET.name, SecretString=VALUE)
    assert secrets.get(SECRET) == VALUE


def test_no_value_in_errors(calls: Counter[str]) -> None:
    boto3.client("secretsmanager", region_name=REGION).put_secret_value(
        SecretId=SECRET.name, SecretBinary=VALUE.encode()
    )
    with pytest.raises(SecretError) as raised:
        cache(calls).get(SECRET)
    assert "XXXXSECRETXXXX" not in str(raised.value) + repr(raised.value)
