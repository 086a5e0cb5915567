"""Posting to Slack against a real local HTTP server: retries, Retry-After, timeouts,
refusals, and the URL never appearing in logs or errors."""

from __future__ import annotations

import time

import pytest

from chalicelib.alerts.webhook import DeliveryError, WebhookPoster
from tests.support.logs import jobctl_log_fixture  # noqa: F401
from tests.support.slack_server import Reply, SlackServer, slack_server_fixture  # noqa: F401

SECRET_PATH = "/services/T000/B000/XXXXSECRETXXXX"


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def poster(sleeps: Sleeps, **kwargs: float) -> WebhookPoster:
    options: dict[str, float] = {"timeout": 2.0, **kwargs}
    return WebhookPoster(sleep=sleeps, jitter=lambda: 1.0, **options)  # type: ignore[arg-type]


def test_posts_json_once_on_200(slack_server: SlackServer) -> None:
    sleeps = Sleeps()
    poster(sleeps).post(slack_server.url(), {"text": "hi"})
    (request,) = slack_server.requests
    assert request.path == SECRET_PATH and request.json() == {"text": "hi"}
    assert request.headers["Content-Type"].startswith("application/json")
    assert sleeps.waits == []


def test_5xx_is_retried_with_backoff(slack_server: SlackServer) -> None:
    slack_server.script(Reply(500), Reply(503), Reply(200))
    sleeps = Sleeps()
    poster(sleeps).post(slack_server.url(), {"text": "hi"})
    assert len(slack_server.requests) == 3
    assert sleeps.waits == [0.5, 1.0], "exponential backoff (jitter pinned to its maximum)"


def test_429_waits_what_retry_after_says(slack_server: SlackServer) -> None:
    slack_server.script(Reply(429, "rate_limited", {"Retry-After": "7"}), Reply(200))
    sleeps = Sleeps()
    poster(sleeps).post(slack_server.url(), {"text": "hi"})
    assert sleeps.waits == [7.0]
    assert len(slack_server.requests) == 2


def test_retry_after_beyond_the_cap_fails_at_once_for_lambda_to_retry_later(
    slack_server: SlackServer,
) -> None:
    slack_server.script(Reply(429, "rate_limited", {"Retry-After": "120"}))
    sleeps = Sleeps()
    with pytest.raises(DeliveryError) as raised:
        poster(sleeps, max_retry_after=30).post(slack_server.url(), {"text": "hi"})
    assert raised.value.retryable and raised.value.status == 429
    assert "Retry-After 120s" in str(raised.value)
    assert sleeps.waits == [] and len(slack_server.requests) == 1


def test_timeouts_are_retried(slack_server: SlackServer) -> None:
    slack_server.script(Reply(200, delay=2.0), Reply(200))
    sleeps = Sleeps()
    started = time.monotonic()
    poster(sleeps, timeout=0.2).post(slack_server.url(), {"text": "hi"})
    assert len(slack_server.requests) == 2 and len(sleeps.waits) == 1
    assert time.monotonic() - started < 1.5


def test_a_refusal_is_not_retried(slack_server: SlackServer) -> None:
    slack_server.script(Reply(400, "invalid_blocks"))
    with pytest.raises(DeliveryError, match="invalid_blocks") as raised:
        poster(Sleeps()).post(slack_server.url(), {"text": "hi"})
    assert not raised.value.retryable and len(slack_server.requests) == 1


def test_gives_up_after_the_last_attempt(slack_server: SlackServer) -> None:
    slack_server.default = Reply(500, "oops")
    sleeps = Sleeps()
    with pytest.raises(DeliveryError, match="after 5 attempts: HTTP 500 oops"):
        poster(sleeps).post(slack_server.url(), {"text": "hi"})
    assert len(slack_server.requests) == 5 and len(sleeps.waits) == 4


def test_gives_up_when_the_budget_would_be_exceeded(slack_server: SlackServer) -> None:
    slack_server.default = Reply(429, "", {"Retry-After": "20"})
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    sender = WebhookPoster(timeout=2.0, budget=30, sleep=sleep, clock=lambda: now[0])
    with pytest.raises(DeliveryError, match="longer than allowed"):
        sender.post(slack_server.url(), {"text": "hi"})
    assert now[0] == 20.0
    assert len(slack_server.requests) == 2, "20s then another 20s does not fit in 30s"


def test_connection_refused_is_retried_then_reported() -> None:
    sleeps = Sleeps()
    with pytest.raises(DeliveryError, match="no answer"):
        poster(sleeps, attempts=2).post("http://127.0.0.1:9/services/T/B/XXXXSECRETXXXX", {})
    assert len(sleeps.waits) == 1


def test_the_url_never_appears_in_logs_or_errors(
    slack_server: SlackServer, jobctl_log: pytest.LogCaptureFixture
) -> None:
    slack_server.script(Reply(500), Reply(429, "", {"Retry-After": "1"}), Reply(200, delay=2))
    slack_server.default = Reply(404, "no_service")
    with pytest.raises(DeliveryError) as raised:
        poster(Sleeps(), timeout=0.2).post(slack_server.url(), {"text": "hi"}, label="route ops")
    seen = jobctl_log.text + str(raised.value) + repr(raised.value)
    assert "XXXXSECRETXXXX" not in seen and slack_server.base_url not in seen
    assert raised.value.__cause__ is None and raised.value.__context__ is None
    assert "route ops" in jobctl_log.text, "logs name the route instead"
    with pytest.raises(DeliveryError) as bad:
        poster(Sleeps()).post("ftp://XXXXSECRETXXXX", {})
    assert "XXXXSECRETXXXX" not in str(bad.value)
