"""DynamoDB values <-> Python (boto3's serializer, numbers as int or float), and the store's
records keep their shapes."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.history.items import attribute, item, plain, value
from chalicelib.history.store import RunStore

BIG = 2**60 + 1  # not a float: float(BIG) == 2**60


def test_integral_numbers_come_back_as_exact_ints() -> None:
    assert attribute(BIG) == {"N": "1152921504606846977"}
    for stored in (BIG, 2**60, -BIG, 3, 0):
        back = value(attribute(stored))
        assert back == stored and type(back) is int
    assert float(BIG) != BIG, "a float would have lost the last digit"
    assert value({"N": "3.0"}) == 3 and type(value({"N": "3.0"})) is int


def test_fractional_numbers_come_back_as_floats() -> None:
    assert value({"N": "1.5"}) == 1.5 and type(value({"N": "1.5"})) is float
    assert attribute(1.5) == {"N": "1.5"}, "floats are written although boto3 refuses them"


def test_every_type_the_history_stores_round_trips() -> None:
    values: dict[str, Any] = {
        "status": "FAILED",
        "exit_code": 3,
        "paused": False,
        "cause": None,
        "empty": "",
        "nested": {"list": [1, "a", True, None], "map": {"n": BIG}},
    }
    typed = item(values)
    assert typed["status"] == {"S": "FAILED"}
    assert typed["paused"] == {"BOOL": False}
    assert typed["cause"] == {"NULL": True}
    assert plain(typed) == values


def test_what_dynamodb_cannot_hold_is_refused() -> None:
    with pytest.raises(TypeError):
        attribute(object())


class _OneItem:
    """A DynamoDB client holding one item (what get_item finds, what put_item was given)."""

    def __init__(self, found: dict[str, Any]) -> None:
        self.found = found
        self.put: dict[str, Any] = {}

    def get_item(self, **_: Any) -> dict[str, Any]:
        return {"Item": self.found}

    def put_item(self, **request: Any) -> dict[str, Any]:
        self.put = request["Item"]
        return {}


def test_the_stores_records_keep_their_shape() -> None:
    client = _OneItem(
        {
            "pk": {"S": "JOB#report"},
            "sk": {"S": "RUN#r1"},
            "status": {"S": "FAILED"},
            "exit_code": {"N": "3"},
            "attempts": {"N": str(BIG)},
            "stopped_reason": {"NULL": True},
        }
    )
    store = RunStore(client, "lab-history")
    assert store.get("report", "r1") == {
        "pk": "JOB#report",
        "sk": "RUN#r1",
        "status": "FAILED",
        "exit_code": 3,
        "attempts": BIG,
        "stopped_reason": None,
    }
    assert store.put_running("report", "r2", {"trigger": "manual", "status": "FAILED"})
    assert client.put == {
        "pk": {"S": "JOB#report"},
        "sk": {"S": "RUN#r2"},
        "trigger": {"S": "manual"},
        "status": {"S": "RUNNING"},
    }
