"""The Slack interactivity endpoint (`POST /slack/actions`): the Re-run button.

Slack signs each request (HMAC-SHA256 of `v0:<timestamp>:<body>` with the app's signing
secret); this endpoint has no IAM auth, the signature is its authentication.

Order of checks, each answered without a traceback:
  1. both signature headers present, timestamp a number within 5 minutes  -> else 401
  2. signature valid (slack_sdk's SignatureVerifier: constant-time compare)  -> else 401
  3. a `payload` form field holding a JSON object                             -> else 400
  4. not seen before (the signature is recorded for 10 minutes)               -> else 409
  5. a block_actions click on the Re-run button                   -> else 200, ignored
  6. the clicking user is in JOBCTL_SLACK_ALLOWED_USERS  -> else 200 + ephemeral refusal
  7. start the re-run (trigger `slack`, by `slack:<user id>`)   -> 200 + message updated
     (an unknown run, a paused job... -> 200 + ephemeral reason: the user gets an answer)

Invariants:
- Only a valid, fresh, first-seen, signed request from an allowlisted user starts a run.
- Slack wants an answer within 3 seconds: the work here is a few AWS calls and one
  short, single-attempt POST to `response_url` (bounded by RESPOND_TIMEOUT); the HTTP
  answer is a small JSON body.
- `response_url` is posted to only when it starts with the configured Slack prefix (the
  signature already proves Slack sent it; the prefix keeps a leaked secret from turning
  this function into a proxy).
- The signing secret and response URLs are never logged.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, ValidationError
from slack_sdk.signature import Clock, SignatureVerifier

from chalicelib.alerts.blocks import RERUN_ACTION
from chalicelib.alerts.webhook import DeliveryError, WebhookPoster
from chalicelib.core import history as schema
from chalicelib.core.history import PK, TTL

LOG = logging.getLogger("jobctl.alerts")
WINDOW_SECONDS = 300  # Slack's recommendation; also what SignatureVerifier enforces
NONCE_TTL_SECONDS = 2 * WINDOW_SECONDS
RESPOND_TIMEOUT = 1.5


class StartedRun(Protocol):
    @property
    def job(self) -> str: ...

    @property
    def run_id(self) -> str: ...


class Rerunner(Protocol):
    """What `chalicelib.ops.service.OpsService` offers."""

    def rerun(
        self, run_id: str, *, by: str, reason: str | None = None, trigger: str = "rerun"
    ) -> StartedRun: ...


class NonceStore(Protocol):
    def claim(self, signature: str, timestamp: int) -> bool:
        """True the first time a signature is seen (within its lifetime)."""
        ...


class DynamoNonceStore:
    """Seen signatures in the history table: `SLACK#REQUEST` / `SIG#<signature>`, with TTL
    (`chalicelib.core.history.signature_key`)."""

    def __init__(self, dynamodb: Any, table: str) -> None:
        self.dynamodb = dynamodb
        self.table = table

    def claim(self, signature: str, timestamp: int) -> bool:
        try:
            self.dynamodb.put_item(
                TableName=self.table,
                Item={
                    **schema.signature_key(signature),
                    TTL: {"N": str(timestamp + NONCE_TTL_SECONDS)},
                },
                ConditionExpression=f"attribute_not_exists({PK})",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True


# Slack's payloads carry many more fields and Slack adds new ones: read only what is
# needed and ignore the rest (a forbid model would break on Slack's next release).
class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class SlackUser(_Loose):
    id: str
    username: str = ""
    name: str = ""


class SlackAction(_Loose):
    action_id: str
    value: str = ""


class SlackMessage(_Loose):
    blocks: list[dict[str, Any]] = []


class SlackPayload(_Loose):
    type: str
    user: SlackUser
    response_url: str = ""
    actions: list[SlackAction] = []
    message: SlackMessage | None = None


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


class _FixedClock(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


def _reject(status: int, error: str, message: str) -> Answer:
    return Answer(status, {"ok": False, "error": error, "message": message})


@dataclass
class SlackActions:
    signing_secret: Callable[[], str]
    allowed_users: frozenset[str]
    rerunner: Callable[[], Rerunner]
    nonces: NonceStore
    response_url_prefix: str = "https://hooks.slack.com/"
    poster: WebhookPoster = field(
        default_factory=lambda: WebhookPoster(attempts=1, timeout=RESPOND_TIMEOUT)
    )
    clock: Callable[[], float] = time.time
    # Errors of the rerun that carry a message for the user (ops.errors.OpsError).
    user_errors: tuple[type[Exception], ...] = ()

    def handle(self, body: bytes, headers: Mapping[str, str]) -> Answer:
        lowered = {name.lower(): value for name, value in headers.items()}
        timestamp = lowered.get("x-slack-request-timestamp")
        signature = lowered.get("x-slack-signature")
        if not timestamp or not signature:
            return _reject(401, "Unauthorized", "missing Slack signature headers")
        if not timestamp.isdigit():
            return _reject(401, "Unauthorized", "malformed Slack request timestamp")
        now = self.clock()
        if abs(now - int(timestamp)) > WINDOW_SECONDS:
            return _reject(401, "Unauthorized", "stale Slack request (more than 5 minutes)")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return _reject(401, "Unauthorized", "invalid Slack signature")  # Slack sends UTF-8
        verifier = SignatureVerifier(self.signing_secret(), clock=_FixedClock(now))
        if not verifier.is_valid(body=text, timestamp=timestamp, signature=signature):
            return _reject(401, "Unauthorized", "invalid Slack signature")
        payload = self._payload(text)
        if payload is None:
            return _reject(400, "BadRequest", "expected a form field 'payload' with Slack JSON")
        if not self.nonces.claim(signature, int(timestamp)):
            return _reject(409, "Conflict", "this request was already handled")
        clicks = [a for a in payload.actions if a.action_id == RERUN_ACTION]
        if payload.type != "block_actions" or not clicks:
            return Answer(200, {"ok": True, "ignored": payload.type})
        user = payload.user.id
        if user not in self.allowed_users:
            LOG.warning("Slack user %s is not allowed to re-run (not in the allowlist)", user)
            self._respond(
                payload,
                {
                    "response_type": "ephemeral",
                    "replace_original": False,
                    "text": (
                        f"<@{user}> is not allowed to re-run jobs from Slack. Ask an operator "
                        "to add your Slack user id to JOBCTL_SLACK_ALLOWED_USERS."
                    ),
                },
            )
            return _reject(200, "Forbidden", "user not in the allowlist")
        return self._rerun(payload, clicks[0].value, user)

    def _rerun(self, payload: SlackPayload, run_id: str, user: str) -> Answer:
        name = payload.user.username or payload.user.name or user
        try:
            started = self.rerunner().rerun(
                run_id, by=f"slack:{user}", reason=f"re-run from Slack by {name}", trigger="slack"
            )
        except self.user_errors as exc:
            message = str(getattr(exc, "message", exc))
            self._respond(payload, _ephemeral(f"Could not re-run `{run_id}`: {message}"))
            return _reject(200, type(exc).__name__, message)
        except Exception as exc:
            LOG.error("re-run of %s from Slack failed: %s", run_id, exc)
            self._respond(payload, _ephemeral(f"Could not re-run `{run_id}`; try `jobctl rerun`."))
            return _reject(200, "Internal", "the re-run could not be started")
        LOG.info("Slack user %s re-ran %s as %s", user, run_id, started.run_id)
        note = {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": (
                        f":repeat: <@{user}> re-ran this job: run `{started.run_id}` started "
                        f"(<!date^{int(self.clock())}^{{time_secs}}|now>)."
                    ),
                }
            ],
        }
        if payload.message and payload.message.blocks:
            # The button goes (one click, one run); everything else in the message stays.
            blocks = [b for b in payload.message.blocks if b.get("type") != "actions"] + [note]
            self._respond(payload, {"replace_original": True, "blocks": blocks})
        else:
            self._respond(
                payload,
                {
                    "response_type": "in_channel",
                    "replace_original": False,
                    "text": f"<@{user}> re-ran `{run_id}`: run `{started.run_id}` started.",
                },
            )
        return Answer(
            200, {"ok": True, "job": started.job, "run_id": started.run_id, "rerun_of": run_id}
        )

    def _payload(self, body: str) -> SlackPayload | None:
        try:
            form = urllib.parse.parse_qs(body)
            return SlackPayload.model_validate(json.loads(form["payload"][0]))
        except (KeyError, IndexError, ValueError, ValidationError):
            return None

    def _respond(self, payload: SlackPayload, message: dict[str, Any]) -> None:
        url = payload.response_url
        if not url.startswith(self.response_url_prefix):
            LOG.warning("response_url is not a Slack URL; the message was not updated")
            return
        try:
            self.poster.post(url, message, label="response_url")
        except DeliveryError as exc:
            # The run (if any) started; only the message update is lost. Say so in the log.
            LOG.warning("could not update the Slack message: %s", exc)


def _ephemeral(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "replace_original": False, "text": text}
