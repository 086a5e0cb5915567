"""Pagination tokens (`chalicelib.history.tokens`): signed, bounded, bound to their listing,
and a signing key that every process of an environment agrees on (the history table, moto)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.core import history as schema
from chalicelib.history.store import RunStore
from chalicelib.history.tokens import MAX_TOKEN, BadToken, TableKey, Tokens
from tests.support.aws import offline_aws
from tests.support.history import put_runs, run_item

REGION = "us-east-1"


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    offline_aws(monkeypatch, REGION)
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        for table in ("lab-history", "other-history"):
            client.create_table(
                TableName=table,
                KeySchema=[
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                AttributeDefinitions=[
                    {"AttributeName": name, "AttributeType": "S"}
                    for name in ("pk", "sk", "job", "job_time")
                ],
                GlobalSecondaryIndexes=[
                    {
                        "IndexName": schema.BY_JOB,
                        "KeySchema": [
                            {"AttributeName": "job", "KeyType": "HASH"},
                            {"AttributeName": "job_time", "KeyType": "RANGE"},
                        ],
                        "Projection": {"ProjectionType": "ALL"},
                    }
                ],
                BillingMode="PAY_PER_REQUEST",
            )
        yield client


def test_every_process_of_an_environment_signs_with_the_same_key(dynamodb: Any) -> None:
    first, second = TableKey(dynamodb, "lab-history"), TableKey(dynamodb, "lab-history")
    assert first() == second() and len(first()) == 32
    item = dynamodb.get_item(TableName="lab-history", Key=schema.token_key())["Item"]
    assert set(item) == schema.TOKEN_KEY_ATTRIBUTES
    token = Tokens(first).seal("listing", {"key": {"pk": "x"}})
    assert Tokens(second).open(token, "listing") == {"key": {"pk": "x"}}
    with pytest.raises(BadToken):
        Tokens(TableKey(dynamodb, "other-history")).open(token, "listing")


def test_a_key_written_meanwhile_by_another_process_wins(dynamodb: Any) -> None:
    late = TableKey(dynamodb, "lab-history")
    early = TableKey(dynamodb, "lab-history")
    early()
    assert late._create() == early(), "the second creator keeps the first key"


def test_tokens_refuse_alteration_other_listings_and_oversize() -> None:
    tokens = Tokens(lambda: b"k" * 32)
    token = tokens.seal("a", {"since": None, "key": {"pk": "JOB#report"}})
    assert "JOB#report" not in token and len(token) < 200
    version, payload, mac = token.split(".")
    flipped = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    for bad in (
        f"{version}.{flipped}.{mac}",
        f"2.{payload}.{mac}",
        f"{version}.{payload}.",
        f"{version}.{payload}",
        f"{version}.{payload}.{mac}!",
        "é" + token,
        "1.e30.AAAA",
    ):
        with pytest.raises(BadToken):
            tokens.open(bad, "a")
    with pytest.raises(BadToken):
        tokens.open(token, "b")
    with pytest.raises(BadToken, match="longer"):
        tokens.open("1." + "A" * MAX_TOKEN, "a")
    assert tokens.open(token, "a") == {"since": None, "key": {"pk": "JOB#report"}}
    assert tokens.open(None, "a") is None and tokens.open("", "a") is None


def test_the_longest_token_the_store_issues_fits_the_bound(dynamodb: Any) -> None:
    job, run = "j" * 80, "r" * 80
    put_runs(
        dynamodb,
        "lab-history",
        [
            run_item(job, f"{run[:-2]}{i:02d}", "FAILED", "2026-11-22T03:00:00.000Z")
            for i in range(3)
        ],
    )
    page = RunStore(dynamodb, "lab-history").by_job(job, limit=1, since="2026-01-01T00:00:00")
    assert page.next_token is not None and len(page.next_token) < MAX_TOKEN // 4
    # /runs carries one `by_status` position per status: the longest possible state.
    started = "2026-11-22T03:00:00.000Z"
    position = {
        "pk": f"JOB#{job}",
        "sk": f"RUN#{run}",
        "status": "TIMED_OUT",
        "status_time": f"{started}#{job}#{run}",
    }
    state = {"since": "2026-11-22T03:00:00", "cursors": dict.fromkeys(schema.STATUSES, position)}
    assert len(Tokens(lambda: b"k" * 32).seal('["recent","","","24h"]', state)) < MAX_TOKEN


def test_a_caller_that_never_pages_never_loads_the_key(dynamodb: Any) -> None:
    put_runs(
        dynamodb,
        "lab-history",
        [run_item("report", f"r{i}", "FAILED", "2026-11-22T03:00:00.000Z") for i in range(3)],
    )
    page = RunStore(dynamodb, "lab-history").by_job("report", limit=1)
    assert page.items and page.resume is not None
    assert "Item" not in dynamodb.get_item(TableName="lab-history", Key=schema.token_key())
