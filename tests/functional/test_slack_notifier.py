"""The Slack notifier (`notify_slack`, SNS) on moto, posting to a real local HTTP server."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from chalicelib.alerts.routing import RoutingError
from chalicelib.alerts.webhook import DeliveryError
from tests.support.alert_env import AlertEnv, alert_env, job_config
from tests.support.alert_samples import run_alert, watch
from tests.support.logs import jobctl_log_fixture  # noqa: F401
from tests.support.slack_server import Reply, SlackServer, slack_server_fixture  # noqa: F401

DEFAULT = "/services/T0/B0/DEFAULTSECRET"
DATA = "/services/T0/B1/DATASECRET"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, slack_server: SlackServer) -> Iterator[AlertEnv]:
    with alert_env(monkeypatch, slack_server) as platform:
        yield platform


def failure(n: int, **kwargs: str) -> dict:
    return run_alert(run_id=f"r{n}", ended_at=f"2026-03-01T{n:02d}:00:00Z", **kwargs)


def headers(env: AlertEnv) -> list[str]:
    return [body["blocks"][0]["text"]["text"] for body in env.slack.bodies()]


def test_a_failure_is_posted_as_block_kit_with_a_log_link_from_the_deployed_config(
    env: AlertEnv,
) -> None:
    env.put_meta("daily-report", job_config("daily-report"))
    assert env.notify(failure(1)) == {"result": "posted", "job": "daily-report", "kind": "failure"}
    (request,) = env.slack.requests
    assert request.path == DEFAULT
    body = request.json()
    assert body["text"] == "coin/production daily-report: FAILED (exit code 3)"
    links = next(b for b in body["blocks"] if ":mag:" in b.get("text", {}).get("text", ""))
    assert (
        "cloudwatch/home?region=us-east-1#logsV2:log-groups/log-group/$252Fecs$252Fapp"
        "/log-events/batch$252Fapp$252F0123456789abcdef0123456789abcdef"
    ) in links["text"]["text"]
    (button,) = next(b for b in body["blocks"] if b["type"] == "actions")["elements"]
    assert button["value"] == "r1"
    assert env.state("daily-report")["pending"] == "", "confirmed after Slack took it"


def test_repeated_failures_collapse_into_one_message_then_a_count_then_a_recovery(
    env: AlertEnv,
) -> None:
    guard = env.services.notifier.guard
    now = [1_000_000.0]
    guard.clock = lambda: now[0]
    results = []
    for n in range(1, 6):
        now[0] += 60
        results.append(env.notify(failure(n))["result"])
    assert results == ["posted", "suppressed", "suppressed", "suppressed", "suppressed"]
    assert len(env.slack.requests) == 1, "a storm of five failures is one message"
    now[0] += 3600
    env.notify(failure(6))
    env.notify(run_alert("recovery", run_id="r7", ended_at="2026-03-01T07:00:00Z"))
    assert headers(env) == [
        ":red_circle: coin/production daily-report failed",
        ":red_circle: coin/production daily-report is still failing",
        ":large_green_circle: coin/production daily-report recovered",
    ]
    still, recovered = env.slack.bodies()[1:]
    assert still["blocks"][1]["text"]["text"].startswith("*6* failed runs since")
    assert "*5* since the last message" in still["blocks"][1]["text"]["text"]
    assert "succeeded after *6* failed runs" in recovered["blocks"][1]["text"]["text"]


def test_an_sns_redelivery_posts_nothing_new(env: AlertEnv) -> None:
    env.notify(failure(1))
    assert env.notify(failure(1))["result"] == "duplicate"
    assert len(env.slack.requests) == 1


def test_429_is_retried_after_retry_after(env: AlertEnv) -> None:
    env.slack.script(Reply(429, "rate_limited", {"Retry-After": "3"}), Reply(200))
    assert env.notify(failure(1))["result"] == "posted"
    assert len(env.slack.requests) == 2 and env.sleeps == [3.0]


def test_an_undeliverable_alert_fails_the_invocation_and_is_posted_on_redelivery(
    env: AlertEnv, jobctl_log: pytest.LogCaptureFixture
) -> None:
    """Nothing is dropped silently: the invocation fails (Lambda retries, then the DLQ)."""
    env.slack.default = Reply(500, "internal_error")
    with pytest.raises(DeliveryError, match="after 5 attempts"):
        env.notify(failure(1))
    assert len(env.slack.requests) == 5
    assert env.state("daily-report")["pending"] == "r1", "claimed, not confirmed"
    assert "not delivered" in jobctl_log.text
    env.slack.default = Reply(200)
    assert env.notify(failure(1))["result"] == "redelivered"
    assert len(env.slack.requests) == 6 and env.state("daily-report")["pending"] == ""
    assert "SECRET" not in jobctl_log.text and env.slack.base_url not in jobctl_log.text


def test_a_revoked_webhook_fails_at_once_and_the_webhook_map_is_read_again(
    env: AlertEnv,
) -> None:
    reads: list[str] = []
    # Every read of the webhook map that reaches Secrets Manager (not the cache).
    env.services.factory.client("secretsmanager").meta.events.register(
        "before-call.secrets-manager.GetSecretValue", lambda **_: reads.append("read")
    )
    env.slack.script(Reply(404, "no_service"))
    with pytest.raises(DeliveryError, match="no_service"):
        env.notify(failure(1))
    assert len(env.slack.requests) == 1, "a 404 is not retried"
    assert env.notify(failure(1))["result"] == "redelivered"
    assert len(reads) == 2, "the cached map was dropped after Slack said the webhook is gone"


def test_jobs_are_routed_by_their_slack_route(
    env: AlertEnv, jobctl_log: pytest.LogCaptureFixture
) -> None:
    env.notify(failure(1, slack_route="#data-alerts", job="ingest"))
    env.notify(failure(2, slack_route="nowhere", job="export"))
    assert [r.path for r in env.slack.requests] == [DATA, DEFAULT]
    assert "Slack route 'nowhere' is not in secretsmanager:lab/slack-webhooks" in jobctl_log.text


def test_a_missed_run_alert_is_posted(env: AlertEnv) -> None:
    assert env.notify(watch("missed"))["kind"] == "missed"
    assert env.notify(watch("missed"))["result"] == "duplicate"
    assert env.notify(watch("resumed"))["kind"] == "resumed"
    assert headers(env) == [
        ":warning: coin/production daily-report missed its schedule",
        ":large_green_circle: coin/production daily-report is back on schedule",
    ]


def test_a_malformed_message_is_rejected_without_retry(
    env: AlertEnv, jobctl_log: pytest.LogCaptureFixture
) -> None:
    result = env.notify("{not json")
    assert result["result"] == "rejected" and "not JSON" in result["reason"]
    broken = failure(1)
    broken["metadata"]["additionalContext"]["attempts"] = 3
    assert env.notify(json.dumps(broken))["result"] == "rejected"
    assert env.slack.requests == []
    assert "rejected an alert" in jobctl_log.text


def test_webhooks_from_an_ssm_secure_string(
    monkeypatch: pytest.MonkeyPatch, slack_server: SlackServer
) -> None:
    with alert_env(monkeypatch, slack_server, webhooks="ssm") as env:
        env.notify(failure(1, slack_route="data-alerts"))
        assert [r.path for r in env.slack.requests] == [DATA]


def test_no_default_route_is_an_error_not_a_drop(
    monkeypatch: pytest.MonkeyPatch, slack_server: SlackServer
) -> None:
    with alert_env(monkeypatch, slack_server) as env:
        import boto3

        boto3.client("secretsmanager", region_name="us-east-1").put_secret_value(
            SecretId="lab/slack-webhooks",
            SecretString=json.dumps({"data-alerts": slack_server.url(DATA)}),
        )
        with pytest.raises(RoutingError, match="no 'default' route"):
            env.notify(failure(1))
        assert env.state("daily-report")["pending"] == "r1"


TASK = "arn:aws:ecs:us-east-1:123456789012:task/app/0123456789abcdef0123456789abcdef"
STREAM = "batch/app/0123456789abcdef0123456789abcdef"


def _log(env: AlertEnv, lines: list[str]) -> None:
    logs = env.services.factory.client("logs")
    now = int(time.time() * 1000)
    logs.create_log_group(logGroupName="/ecs/app")
    logs.create_log_stream(logGroupName="/ecs/app", logStreamName=STREAM)
    logs.put_log_events(
        logGroupName="/ecs/app",
        logStreamName=STREAM,
        # Now: CloudWatch rejects events older than 14 days.
        logEvents=[{"timestamp": now + n, "message": m} for n, m in enumerate(lines)],
    )


def _section(body: dict, title: str) -> str:
    return next(
        b["text"]["text"]
        for b in body["blocks"]
        if b.get("text", {}).get("text", "").startswith(title)
    )


def test_a_failure_carries_the_tasks_last_lines_with_secrets_redacted(env: AlertEnv) -> None:
    env.put_meta("daily-report", job_config("daily-report", secret_names=["DB_PASSWORD"]))
    token = "xoxb-" + "1234567890-abcdefghijkl"  # split: no secret-shaped literal in the repo
    lines = [f"line {n}" for n in range(1, 13)]
    lines += [f"using {token} for slack", "DB_PASSWORD=hunter2 oops", "exiting with 3"]
    _log(env, lines)
    env.notify(failure(1, task=TASK))
    body = env.slack.bodies()[0]
    assert "container app exited with code 3" in body["blocks"][1]["text"]["text"]
    tail = _section(body, "*Last output*")
    # The newest 10 lines, oldest first; the token and the declared secret's value gone.
    assert tail == (
        "*Last output* (10 lines)\n```line 6\nline 7\nline 8\nline 9\nline 10\nline 11\n"
        "line 12\nusing [redacted] for slack\nDB_PASSWORD=[redacted] oops\nexiting with 3```"
    )
    assert token not in json.dumps(body) and "hunter2" not in json.dumps(body)


def test_a_failure_whose_logs_cannot_be_read_is_still_posted_and_says_so(
    env: AlertEnv,
) -> None:
    env.put_meta("daily-report", job_config("daily-report"))

    class Denied:
        def get_log_events(self, **_: object) -> None:
            raise RuntimeError("AccessDeniedException")

    env.services.notifier.logs = Denied
    assert env.notify(failure(1, task=TASK))["kind"] == "failure"
    body = env.slack.bodies()[0]
    assert _section(body, "*Last output*") == (
        "*Last output*\n_Not available: the logs could not be read (RuntimeError)._"
    )


def test_a_task_that_logged_nothing_says_so(env: AlertEnv) -> None:
    env.put_meta("daily-report", job_config("daily-report"))
    assert env.notify(failure(1, task=TASK))["kind"] == "failure"  # no log group at all
    body = env.slack.bodies()[0]
    assert (
        _section(body, "*Last output*")
        == "*Last output*\n_Not available: the task logged nothing._"
    )
