"""jobctl.local.moto fix 9 (dispatch): concurrent requests no longer corrupt moto's backends.

Without it, DynamoDB's TransactWriteItems (the state machines' claim step) deep-copies a
table while another thread writes to it and fails with "dictionary changed size during
iteration": on the local platform, a run failing at random.
"""

from __future__ import annotations

import threading

import boto3
import pytest
from moto import mock_aws

from jobctl.local.moto import install
from tests.support.aws import offline_aws


def test_concurrent_transactions_and_writes_all_succeed(monkeypatch: pytest.MonkeyPatch) -> None:
    offline_aws(monkeypatch, "us-east-1")
    errors: list[str] = []
    with install(), mock_aws():
        boto3.client("dynamodb").create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )

        def write(worker: int) -> None:
            dynamodb = boto3.client("dynamodb")
            for n in range(60):
                item = {"pk": {"S": f"{worker}-{n}"}, "v": {"S": "x" * 100}}
                try:
                    if worker % 2:
                        dynamodb.transact_write_items(
                            TransactItems=[{"Put": {"TableName": "t", "Item": item}}]
                        )
                    else:
                        dynamodb.put_item(TableName="t", Item=item)
                except Exception as exc:
                    errors.append(repr(exc))

        workers = [threading.Thread(target=write, args=(n,)) for n in range(6)]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()
        count = boto3.client("dynamodb").scan(TableName="t", Select="COUNT")["Count"]
    assert errors == []
    assert count == 6 * 60
