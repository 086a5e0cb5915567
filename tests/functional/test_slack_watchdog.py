"""The watchdog (`watch_missed_runs`) on moto: deployed jobs from the history table's `jobs`
index, runs from `by_job`, alerts published to the SNS topic, then rendered by the notifier
and posted to the local Slack server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from tests.support.alert_env import ACCOUNT, REGION, TABLE, AlertEnv, alert_env, job_config
from tests.support.slack_server import SlackServer, slack_server_fixture  # noqa: F401


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, slack_server: SlackServer) -> Iterator[AlertEnv]:
    with alert_env(monkeypatch, slack_server) as platform:
        yield platform


@pytest.fixture
def queue(env: AlertEnv) -> str:
    """The alert topic's messages, as the notifier's subscription would receive them."""
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="alerts")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    boto3.client("sns", region_name=REGION).subscribe(
        TopicArn=f"arn:aws:sns:{REGION}:{ACCOUNT}:lab-alerts",
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    return url  # type: ignore[no-any-return]


def published(queue: str) -> list[str]:
    sqs = boto3.client("sqs", region_name=REGION)
    found = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    for message in found:
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return [m["Body"] for m in found]


def put_run(env: AlertEnv, job: str, run_id: str, status: str, started_at: str) -> None:
    env.dynamodb.put_item(
        TableName=TABLE,
        Item={
            "pk": {"S": f"JOB#{job}"},
            "sk": {"S": f"RUN#{run_id}"},
            "run_id": {"S": run_id},
            "job": {"S": job},
            "status": {"S": status},
            "started_at": {"S": started_at},
            "ended_at": {"S": started_at},
            "job_time": {"S": f"{started_at}#{run_id}"},
            "status_time": {"S": f"{started_at}#{job}#{run_id}"},
        },
    )


def tick(env: AlertEnv, now: str) -> Any:
    env.services.watchdog.clock = lambda: datetime.fromisoformat(now).replace(tzinfo=UTC)
    event = env.client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    return env.client.lambda_.invoke("watch_missed_runs", event).payload


def test_a_missed_run_reaches_slack_once_and_its_recovery_too(env: AlertEnv, queue: str) -> None:
    env.put_meta("report", job_config("report"), last_run="r2", last_status="FAILED")
    env.put_meta("fine", job_config("fine", schedule="rate(1 day)"))
    put_run(env, "report", "r1", "SUCCEEDED", "2026-03-01T03:00:01.000Z")
    put_run(env, "report", "r2", "FAILED", "2026-03-02T03:00:01.000Z")
    put_run(env, "fine", "f1", "SUCCEEDED", "2026-03-02T04:00:00.000Z")

    assert tick(env, "2026-03-02T05:00:00") == {"missed": 1, "ok": 1}
    assert tick(env, "2026-03-02T05:05:00") == {"missed": 1, "ok": 1}
    (missed,) = published(queue)
    context = json.loads(missed)["metadata"]["additionalContext"]
    assert (context["job"], context["last_run_id"], context["last_status"]) == (
        "report",
        "r2",
        "FAILED",
    )
    assert env.notify(missed)["kind"] == "missed"

    put_run(env, "report", "r3", "SUCCEEDED", "2026-03-02T06:00:00.000Z")
    assert tick(env, "2026-03-02T06:10:00") == {"resumed": 1, "ok": 1}
    (resumed,) = published(queue)
    assert env.notify(resumed)["kind"] == "resumed"
    headers = [body["blocks"][0]["text"]["text"] for body in env.slack.bodies()]
    assert headers == [
        ":warning: lab report missed its schedule",
        ":large_green_circle: lab report is back on schedule",
    ]
    assert env.state("report", "WATCHDOG")["missing"] is False


def test_without_a_topic_the_watchdog_fails_loudly_and_alerts_later(
    env: AlertEnv, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env.put_meta("report", job_config("report"))
    put_run(env, "report", "r1", "SUCCEEDED", "2026-03-01T03:00:01.000Z")
    monkeypatch.delenv("JOBCTL_ALERT_TOPIC_ARN")
    monkeypatch.delenv("JOBCTL_PREFIX", raising=False)  # nothing to derive the topic from
    env.reread_settings()
    with pytest.raises(Exception, match="not checked: report"):
        tick(env, "2026-03-02T05:00:00")
    assert env.state("report", "WATCHDOG")["pending"] is not None, "kept for the next tick"
    monkeypatch.setenv("JOBCTL_ALERT_TOPIC_ARN", f"arn:aws:sns:{REGION}:{ACCOUNT}:lab-alerts")
    env.reread_settings()
    assert tick(env, "2026-03-02T05:05:00") == {"republished": 1}
    assert len(published(queue)) == 1


def test_without_a_topic_arn_the_topic_is_derived_from_the_prefix(
    env: AlertEnv, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env.put_meta("report", job_config("report"))
    put_run(env, "report", "r1", "SUCCEEDED", "2026-03-01T03:00:01.000Z")
    monkeypatch.delenv("JOBCTL_ALERT_TOPIC_ARN")
    monkeypatch.setenv("JOBCTL_PREFIX", "lab")
    env.reread_settings()
    tick(env, "2026-03-02T05:00:00")
    assert len(published(queue)) == 1
