"""The alerts the deployed state machines really publish (executed on moto) follow the
documented schema, and the notifier turns them into Slack messages."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
from jsonschema import Draft202012Validator

from chalicelib.alerts.message import parse_alert
from chalicelib.alerts.notifier import Notifier
from chalicelib.alerts.routing import SingleWebhook
from chalicelib.alerts.state import MemoryStateStore
from chalicelib.alerts.storm import StormGuard
from chalicelib.alerts.webhook import WebhookPoster
from chalicelib.history.store import RunStore
from jobctl.local.moto import TaskExit, ecs_double
from tests.support.slack_server import SlackServer, slack_server_fixture  # noqa: F401

from .conftest import REGION, Platform

SCHEMA = json.loads(
    (
        Path(__file__).resolve().parents[2] / "chalicelib" / "alerts" / "alert-schema.json"
    ).read_text()
)


def test_published_alerts_follow_the_schema_and_reach_slack(
    platform: Platform, slack_server: SlackServer
) -> None:
    ecs_double.script("broken", 1, 1, TaskExit(3, "OutOfMemoryError: Container killed"), 0)
    platform.run("broken", "broken-1")
    platform.run("broken", "broken-2")
    platform.run("slow", "slow-1")
    alerts = platform.alerts()
    assert sorted(a["metadata"]["additionalContext"]["event"] for a in alerts) == [
        "failure",
        "failure",
        "recovery",
    ]
    validator = Draft202012Validator(SCHEMA)
    for alert in alerts:
        assert [e.message for e in validator.iter_errors(alert)] == [], alert
    failure = next(a for a in alerts if a["id"] == "broken-1")["metadata"]["additionalContext"]
    assert failure["exit_code"] == "3" and failure["task_arn"].startswith("arn:aws:ecs:")
    assert failure["console_url"].startswith(f"https://{REGION}.console.aws.amazon.com/states/")
    timeout = next(a for a in alerts if a["id"] == "slow-1")["metadata"]["additionalContext"]
    assert (timeout["status"], timeout["exit_code"]) == ("TIMED_OUT", "")

    store = RunStore(boto3.client("dynamodb", region_name=REGION), "e2e-history")
    notifier = Notifier(
        StormGuard(MemoryStateStore(), window=3600),
        SingleWebhook(slack_server.url()),
        WebhookPoster(sleep=lambda _: None),
        meta=store.meta,
    )
    order = {"broken-1": 0, "broken-2": 1, "slow-1": 2}
    for alert in sorted(alerts, key=lambda a: order[a["id"]]):
        parsed = parse_alert(json.dumps(alert))
        assert parsed.id == alert["id"]
        assert parsed.to_message() == alert, "exactly the model's message, nothing defaulted"
        notifier.handle(json.dumps(alert))
    headers = [b["blocks"][0]["text"]["text"] for b in slack_server.bodies()]
    assert headers == [
        ":red_circle: e2e broken failed",
        ":large_green_circle: e2e broken recovered",
        ":hourglass: e2e slow timed out",
    ]
