"""`POST /slack/actions` (the Re-run button) through chalice.test.Client on moto: signature,
freshness, replay, allowlist, the re-run and the message update on a local Slack server."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from chalicelib.alerts.blocks import render
from chalicelib.alerts.message import parse_alert
from chalicelib.alerts.storm import Notice
from chalicelib.core import history as schema
from chalicelib.ops.errors import Conflict, NotFound
from tests.support.alert_env import ALLOWED, REGION, SIGNING_SECRET, AlertEnv, alert_env
from tests.support.alert_samples import run_alert
from tests.support.slack_server import SlackServer, slack_server_fixture  # noqa: F401

RESPONSE_PATH = "/actions/T0/1234/RESPONSESECRET"


@dataclass(frozen=True)
class Started:
    job: str
    run_id: str
    execution_arn: str
    rerun_of: str | None
    triggered_by: str


class FakeOps:
    """Records re-runs; knows one run, `r1` of daily-report."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def rerun(
        self, run_id: str, *, by: str, reason: str | None = None, trigger: str = "rerun"
    ) -> Started:
        self.calls.append({"run_id": run_id, "by": by, "reason": reason, "trigger": trigger})
        if run_id == "paused":
            raise Conflict("job daily-report is paused: resume it first")
        if run_id != "r1":
            raise NotFound(f"no run {run_id}")
        return Started("daily-report", "r1-rerun-1", "arn:...:r1-rerun-1", run_id, by)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, slack_server: SlackServer) -> Iterator[AlertEnv]:
    with alert_env(monkeypatch, slack_server) as platform:
        yield platform


@pytest.fixture
def ops(env: AlertEnv) -> FakeOps:
    fake = FakeOps()
    env.services.ops = fake  # type: ignore[assignment]
    return fake


def click(env: AlertEnv, user: str = ALLOWED, run_id: str = "r1", **extra: Any) -> bytes:
    message = render(parse_alert(json.dumps(run_alert(run_id=run_id))), Notice("failure", 1, 1))
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": "alice", "name": "alice", "team_id": "T0"},
        "api_app_id": "A0",
        "team": {"id": "T0", "domain": "lab"},
        "channel": {"id": "C0", "name": "alerts"},
        "container": {"type": "message", "message_ts": "1.2", "channel_id": "C0"},
        "trigger_id": "1.2.3",
        "response_url": env.slack.url(RESPONSE_PATH),
        "message": {"type": "message", "ts": "1.2", "blocks": message["blocks"]},
        "actions": [
            {
                "type": "button",
                "action_id": "jobctl_rerun",
                "block_id": "jobctl_actions",
                "value": run_id,
                "action_ts": "1.3",
            }
        ],
        **extra,
    }
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()


def signed(body: bytes, *, secret: str = SIGNING_SECRET, at: int | None = None) -> dict[str, str]:
    timestamp = str(int(time.time()) if at is None else at)
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256)
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": f"v0={digest.hexdigest()}",
    }


def post(env: AlertEnv, body: bytes, headers: dict[str, str]) -> Any:
    return env.client.http.post("/slack/actions", headers=headers, body=body)


def test_a_valid_click_by_an_allowlisted_user_starts_the_rerun_and_updates_the_message(
    env: AlertEnv, ops: FakeOps
) -> None:
    body = click(env)
    started = time.perf_counter()
    response = post(env, body, signed(body))
    elapsed = time.perf_counter() - started
    assert response.status_code == 200
    assert response.json_body == {
        "ok": True,
        "job": "daily-report",
        "run_id": "r1-rerun-1",
        "rerun_of": "r1",
    }
    assert ops.calls == [
        {
            "run_id": "r1",
            "by": f"slack:{ALLOWED}",
            "reason": "re-run from Slack by alice",
            "trigger": "slack",
        }
    ]
    (update,) = env.slack.requests
    assert update.path == RESPONSE_PATH
    blocks = update.json()["blocks"]
    assert update.json()["replace_original"] is True
    assert all(b["type"] != "actions" for b in blocks), "one click, one run: the button goes"
    assert f"<@{ALLOWED}> re-ran this job: run `r1-rerun-1`" in blocks[-1]["elements"][0]["text"]
    assert elapsed < 3.0, f"Slack needs the answer within 3 s (took {elapsed:.3f}s)"


def test_wrong_secret_is_refused(env: AlertEnv, ops: FakeOps) -> None:
    body = click(env)
    response = post(env, body, signed(body, secret="not-the-secret"))
    assert (response.status_code, response.json_body["message"]) == (
        401,
        "invalid Slack signature",
    )
    assert ops.calls == [] and env.slack.requests == []


def test_stale_timestamp_is_refused_even_when_correctly_signed(env: AlertEnv, ops: FakeOps) -> None:
    body = click(env)
    response = post(env, body, signed(body, at=int(time.time()) - 301))
    assert response.status_code == 401 and "stale" in response.json_body["message"]
    future = post(env, body, signed(body, at=int(time.time()) + 400))
    assert future.status_code == 401
    assert ops.calls == []


@pytest.mark.parametrize("drop", ["X-Slack-Signature", "X-Slack-Request-Timestamp", "both"])
def test_missing_headers_are_refused(env: AlertEnv, ops: FakeOps, drop: str) -> None:
    body = click(env)
    headers = signed(body)
    for name in ("X-Slack-Signature", "X-Slack-Request-Timestamp"):
        if drop in (name, "both"):
            del headers[name]
    response = post(env, body, headers)
    assert response.status_code == 401 and "missing" in response.json_body["message"]
    assert ops.calls == []


def test_a_replayed_request_is_refused(env: AlertEnv, ops: FakeOps) -> None:
    body = click(env)
    headers = signed(body)
    assert post(env, body, headers).status_code == 200
    replay = post(env, body, headers)
    assert (replay.status_code, replay.json_body["error"]) == (409, "Conflict")
    # The same body and signature under a fresh timestamp: the signature no longer matches.
    moved = {**headers, "X-Slack-Request-Timestamp": str(int(time.time()) + 1)}
    assert post(env, body, moved).status_code == 401
    assert len(ops.calls) == 1, "only the first request started a run"


def test_a_user_not_in_the_allowlist_is_told_and_nothing_runs(env: AlertEnv, ops: FakeOps) -> None:
    body = click(env, user="U0INTRUDER")
    response = post(env, body, signed(body))
    assert response.status_code == 200
    assert response.json_body["error"] == "Forbidden"
    assert ops.calls == []
    (answer,) = env.slack.bodies()
    assert answer["response_type"] == "ephemeral" and answer["replace_original"] is False
    assert "<@U0INTRUDER> is not allowed" in answer["text"]


def test_only_the_valid_allowlisted_request_starts_a_run(env: AlertEnv, ops: FakeOps) -> None:
    """Every variant at once: exactly one run is started, by the one valid request."""
    now = int(time.time())
    good = click(env)
    variants = [
        (good, signed(good, secret="wrong")),
        (good, signed(good, at=now - 600)),
        (good, {"Content-Type": "application/x-www-form-urlencoded"}),
        (click(env, user="U0INTRUDER"), signed(click(env, user="U0INTRUDER"))),
        (good, signed(good)),
    ]
    statuses = [post(env, body, headers).status_code for body, headers in variants]
    replay = post(env, *variants[-1]).status_code
    assert statuses == [401, 401, 401, 200, 200] and replay == 409
    assert [call["by"] for call in ops.calls] == [f"slack:{ALLOWED}"]


def test_an_unknown_run_or_a_refusal_is_explained_to_the_user(env: AlertEnv, ops: FakeOps) -> None:
    body = click(env, run_id="gone")
    response = post(env, body, signed(body))
    assert (response.status_code, response.json_body["error"]) == (200, "NotFound")
    paused = click(env, run_id="paused")
    assert post(env, paused, signed(paused)).json_body["error"] == "Conflict"
    texts = [b["text"] for b in env.slack.bodies()]
    assert texts == [
        "Could not re-run `gone`: no run gone",
        "Could not re-run `paused`: job daily-report is paused: resume it first",
    ]


@pytest.mark.parametrize(
    "body",
    [b"payload=not-json", b"nothing=here", b"payload=%5B%5D", "payload=\u00e9".encode()],
)
def test_malformed_payloads_are_400_not_500(env: AlertEnv, ops: FakeOps, body: bytes) -> None:
    response = post(env, body, signed(body))
    assert response.status_code == 400 and response.json_body["error"] == "BadRequest"
    assert ops.calls == []


def test_garbage_headers_and_bodies_never_give_a_500(env: AlertEnv, ops: FakeOps) -> None:
    body = b"\xff\xfe payload"
    headers = signed(b"x")
    assert post(env, body, headers).status_code == 401
    assert post(env, b"x", {**headers, "X-Slack-Request-Timestamp": "soon"}).status_code == 401
    assert ops.calls == []


def test_other_interactions_are_acknowledged_and_ignored(env: AlertEnv, ops: FakeOps) -> None:
    body = click(env, actions=[{"type": "button", "action_id": "something_else", "value": "x"}])
    response = post(env, body, signed(body))
    assert response.status_code == 200 and response.json_body["ignored"] == "block_actions"
    shortcut = click(env, type="shortcut")
    assert post(env, shortcut, signed(shortcut)).json_body == {"ok": True, "ignored": "shortcut"}
    assert ops.calls == []


def test_a_response_url_outside_slack_is_not_called(env: AlertEnv, ops: FakeOps) -> None:
    # Refused before anything starts: the user would see no answer, and click again.
    body = click(env, response_url="https://attacker.example/collect")
    response = post(env, body, signed(body))
    assert (response.status_code, response.json_body["error"]) == (400, "BadRequest")
    assert env.slack.requests == [] and ops.calls == []


def test_an_unreadable_signing_secret_is_a_503_in_json(env: AlertEnv, ops: FakeOps) -> None:
    boto3.client("ssm", region_name=REGION).delete_parameter(Name="/lab/slack/signing-secret")
    body = click(env)
    response = post(env, body, signed(body))
    assert response.status_code == 503 and response.json_body["error"] == "Unavailable"
    assert ops.calls == []


# ---------------------------------------------------------------- hostile input (issue 12)


@pytest.mark.parametrize(
    "timestamp",
    ["\u00b2", "\u0661\u0662", "1" * 5000, "9" * 40, " 1", "+1", "-1"],
    ids=lambda text: f"{text[:6]!r}x{len(text)}",
)
def test_malformed_timestamps_are_401_for_unauthenticated_callers(
    env: AlertEnv, ops: FakeOps, timestamp: str
) -> None:
    body = click(env)
    headers = {**signed(body), "X-Slack-Request-Timestamp": timestamp}
    response = post(env, body, headers)
    assert (response.status_code, response.json_body["error"]) == (401, "Unauthorized")
    assert ops.calls == []


@pytest.mark.parametrize(
    "signature",
    ["v0=\u00e9" * 20, "v0=" + "a" * 5000, "", "v1=" + "a" * 64],
    ids=lambda text: f"{text[:6]!r}x{len(text)}",
)
def test_malformed_signatures_are_401(env: AlertEnv, ops: FakeOps, signature: str) -> None:
    body = click(env)
    headers = {**signed(body), "X-Slack-Signature": signature}
    response = post(env, body, headers)
    assert response.status_code == 401
    assert ops.calls == []


@pytest.mark.parametrize(
    "suffix",
    [
        "/actions/T0/1 2/X",  # a space: urllib refuses it, after the run had started
        "/actions/T0/\u00e9/X",
        "/actions/T0/\x00/X",
    ],
)
def test_an_unusable_response_url_is_refused_before_anything_starts(
    env: AlertEnv, ops: FakeOps, suffix: str
) -> None:
    body = click(env, response_url=env.slack.base_url + suffix)
    response = post(env, body, signed(body))
    assert (response.status_code, response.json_body["error"]) == (400, "BadRequest")
    assert "response_url" in response.json_body["message"]
    assert ops.calls == [] and env.slack.requests == []


def test_response_url_scheme_and_host_are_compared_exactly(env: AlertEnv, ops: FakeOps) -> None:
    from chalicelib.alerts.slack_actions import SlackActions

    actions = SlackActions(
        signing_secret=lambda: "s",
        allowed_users=frozenset(),
        rerunner=lambda: ops,
        nonces=env.services.slack_actions.nonces,
        response_url_prefix="https://hooks.slack.com",  # no trailing slash
    )
    good = "https://hooks.slack.com/actions/T0/1/X"
    assert actions.is_slack_url(good)
    for bad in (
        "https://hooks.slack.com.evil.example/actions/T0/1/X",
        "https://hooks.slack.com@evil.example/actions/",
        "https://evil.example@hooks.slack.com/actions/",
        "http://hooks.slack.com/actions/T0/1/X",
        "https://hooks.slack.com:8443/actions/T0/1/X",
        "https://HOOKS.slack.com.evil.example/",
        "https://hooks.slack.com/actions/T0/1 2/X",
        "https://hooks.slack.com/actions/\r\nHost: x",
        "javascript:alert(1)",
        "",
    ):
        assert not actions.is_slack_url(bad), bad


def test_a_double_click_starts_one_rerun_and_names_it_the_second_time(
    env: AlertEnv, ops: FakeOps
) -> None:
    body = click(env)
    now = int(time.time())
    first = post(env, body, signed(body, at=now))
    assert first.status_code == 200 and first.json_body["run_id"] == "r1-rerun-1"
    # Same button, same message, a new request (new timestamp and signature).
    second = post(env, body, signed(body, at=now + 1))
    assert second.status_code == 200
    assert (second.json_body["run_id"], second.json_body["duplicate"]) == ("r1-rerun-1", True)
    assert len(ops.calls) == 1, "a double click starts one re-run"
    answer = env.slack.bodies()[-1]
    assert answer["response_type"] == "ephemeral"
    assert "already re-run as `r1-rerun-1`" in answer["text"]
    # Another user clicking the same button of the same message gets the same answer.
    other = click(env, user="U0OTHER")
    assert post(env, other, signed(other, at=now + 2)).json_body["duplicate"] is True
    assert len(ops.calls) == 1


def test_a_click_that_could_not_start_a_rerun_may_be_clicked_again(
    env: AlertEnv, ops: FakeOps
) -> None:
    body = click(env, run_id="paused")
    now = int(time.time())
    assert post(env, body, signed(body, at=now)).json_body["error"] == "Conflict"
    assert post(env, body, signed(body, at=now + 1)).json_body["error"] == "Conflict"
    assert len(ops.calls) == 2, "a refused re-run does not hold the button"


def test_a_claim_whose_run_was_never_recorded_lapses(env: AlertEnv) -> None:
    from chalicelib.alerts.slack_actions import CLAIM_SECONDS, DynamoNonceStore, PriorClick
    from tests.support.alert_env import TABLE

    store = DynamoNonceStore(env.dynamodb, TABLE)
    assert store.claim_click("button", "U1", 1000) is None
    assert store.claim_click("button", "U2", 1000 + CLAIM_SECONDS) == PriorClick("U1", "")
    # The function that claimed it died before recording a run: the button frees itself.
    assert store.claim_click("button", "U2", 1001 + CLAIM_SECONDS) is None
    store.record_click("button", "r1-rerun-1")
    assert store.claim_click("button", "U3", 10**6) == PriorClick("U2", "r1-rerun-1")
    item = env.dynamodb.get_item(TableName=TABLE, Key=schema.click_key("button"))["Item"]
    assert set(item) <= schema.CLICK_ATTRIBUTES
