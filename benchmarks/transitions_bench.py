"""State transitions per run: what a run costs on Step Functions Standard ($0.025 / 1,000).

Run: `.venv/bin/python benchmarks/transitions_bench.py` (also in `make bench`). Deploys the
e2e registry into moto with jobctl's apply, executes runs of each kind with the ECS double,
and counts from each execution's history: billed transitions (every state entered, plus
every retry attempt), DynamoDB items written (each item of a TransactWriteItems counts;
refused transactions included, as DynamoDB bills them) and SNS publishes.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from moto import mock_aws

from jobctl.local.moto import ecs_double, install, set_time_speed
from tests.e2e.conftest import REGION, Platform

PRICE_PER_TRANSITION = 0.025 / 1000


def writes_and_publishes(platform: Platform, arn: str) -> tuple[int, int]:
    """DynamoDB items written and SNS messages published by the run's Task states."""
    writes = publishes = 0
    for event in platform.events(arn):
        if event["type"] != "TaskScheduled":
            continue
        details = event["taskScheduledEventDetails"]
        resource = details["resource"]
        if resource == "transactWriteItems":
            writes += len(json.loads(details["parameters"])["TransactItems"])
        elif resource in ("putItem", "updateItem"):
            writes += 1
        elif resource == "publish":
            publishes += 1
    return writes, publishes


def main() -> None:
    os.environ.update(
        AWS_DEFAULT_REGION=REGION, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench"
    )
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_REGION"):
        os.environ.pop(name, None)
    install()
    set_time_speed(0.001)
    # moto logs every failed state (a refusal, a Fail state) with its whole parse tree.
    logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
    scheduled = time.strftime("%Y-%m-%dT%H:%M:00Z", time.gmtime())
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        platform = Platform()
        cases = []
        ecs_double.script("ok", 0)
        cases.append(
            (
                "success",
                platform.run("ok", "success", {"trigger": "schedule", "scheduled_time": scheduled}),
            )
        )
        ecs_double.script("flaky", 1, 0)
        cases.append(("success after 1 retry", platform.run("flaky", "retried")))
        ecs_double.script("broken", 1, 1, 1)
        cases.append(("failure, 2 retries, alert", platform.run("broken", "failed")))
        ecs_double.script("broken", 0)
        cases.append(
            ("success after failure (recovery alert)", platform.run("broken", "recovered"))
        )
        cases.append(
            (
                "skip: duplicate delivery",
                platform.run(
                    "ok", "duplicate", {"trigger": "schedule", "scheduled_time": scheduled}
                ),
            )
        )
        ecs_double.script("deadline", 0)
        cases.append(
            (
                "success, job with a starting deadline",
                platform.run(
                    "deadline", "on-time", {"trigger": "schedule", "scheduled_time": scheduled}
                ),
            )
        )
        cases.append(
            (
                "skip: late start",
                platform.run(
                    "deadline",
                    "late",
                    {"trigger": "schedule", "scheduled_time": "2020-01-01T08:00:00Z"},
                ),
            )
        )
        cases.append(
            (
                "failure: input the API refuses, alert",
                platform.run("params", "invalid", {"trigger": "manual", "parameters": []}),
            )
        )
        print(
            f"{'run':<40} {'transitions':>11} {'$ per 1M runs':>13} {'ddb items':>9}"
            f" {'sns':>3}  states"
        )
        for label, ended in cases:
            count, names = platform.transitions(ended["executionArn"])
            writes, publishes = writes_and_publishes(platform, ended["executionArn"])
            print(
                f"{label:<40} {count:>11} {count * PRICE_PER_TRANSITION * 1e6:>13.2f}"
                f" {writes:>9} {publishes:>3}  {' > '.join(names)}"
            )
        platform.stop_all()


if __name__ == "__main__":
    main()
