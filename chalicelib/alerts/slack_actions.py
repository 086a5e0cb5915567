"""The Slack interactivity endpoint (`POST /slack/actions`): the Re-run button.

Slack signs each request (HMAC-SHA256 of `v0:<timestamp>:<body>` with the app's signing
secret); this endpoint has no IAM auth, the signature is its authentication.

Order of checks, each answered without a traceback:
  1. both signature headers present, the timestamp 1-12 ASCII digits within 5 minutes,
     the signature `v0=` and 64 hex digits                                  -> else 401
  2. signature valid (slack_sdk's SignatureVerifier: constant-time compare)  -> else 401
  3. a `payload` form field holding a JSON object                             -> else 400
  4. its `response_url` (if any) a Slack URL (below)                          -> else 400
  5. not seen before (the signature is recorded for 10 minutes)               -> else 409
  6. a block_actions click on the Re-run button                   -> else 200, ignored
  7. the clicking user is in JOBCTL_SLACK_ALLOWED_USERS  -> else 200 + ephemeral refusal
  8. this button of this message not clicked before  -> else 200 + ephemeral "already
     re-run as <run>" (a double click is two requests with two timestamps: step 5 cannot
     see it)
  9. start the re-run (trigger `slack`, by `slack:<user id>`)   -> 200 + message updated
     (an unknown run, a paused job... -> 200 + ephemeral reason: the user gets an answer,
     and the button may be clicked again)

Invariants:
- Only a valid, fresh, first-seen, signed request from an allowlisted user starts a run,
  and one button of one message starts at most one run (the click is claimed in the
  nonce store before the run starts; a re-run that could not start releases it, and a
  claim whose run never got recorded, because the function died, lapses after
  CLAIM_SECONDS).
- Nothing is started before everything the answer needs was checked: a payload whose
  `response_url` would be refused gets its 400 first, so the user is never left without
  an answer to click again.
- Slack wants an answer within 3 seconds: the work here is a few AWS calls and one
  short, single-attempt POST to `response_url` (bounded by RESPOND_TIMEOUT); the HTTP
  answer is a small JSON body.
- `response_url` is posted to only when its scheme, host and port equal the configured
  Slack prefix's (parsed, compared exactly: `hooks.slack.com.evil.example` is another
  host), it has no user info, its path is under the prefix's path, and it holds only
  printable ASCII (the signature already proves Slack sent it; the check keeps a leaked
  secret from turning this function into a proxy). The prefix must be https, except on a
  loopback host (`jobctl local`, the tests).
- The signing secret and response URLs are never logged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
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
from chalicelib.core.text import UNSAFE

LOG = logging.getLogger("jobctl.alerts")
WINDOW_SECONDS = 300  # Slack's recommendation; also what SignatureVerifier enforces
NONCE_TTL_SECONDS = 2 * WINDOW_SECONDS
RESPOND_TIMEOUT = 1.5
# How long a clicked button stays answered with its run (buttons outlive their requests).
CLICK_TTL_SECONDS = 7 * 24 * 3600
# A claimed click whose run was never recorded (the function died) frees the button after.
CLAIM_SECONDS = 60
# Slack's timestamps are epoch seconds; 12 digits last until the year 33658. `isdigit()`
# would also accept '²' and Arabic-Indic digits, which int() then refuses.
_TIMESTAMP = re.compile(r"[0-9]{1,12}", re.ASCII)
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}", re.ASCII)
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_URL = 2048


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


@dataclass(frozen=True)
class PriorClick:
    """Who clicked a button first, and the run it started ("" while it is being started)."""

    user: str
    rerun_id: str


class NonceStore(Protocol):
    def claim(self, signature: str, timestamp: int) -> bool:
        """True the first time a signature is seen (within its lifetime)."""
        ...

    def claim_click(self, click: str, user: str, now: int) -> PriorClick | None:
        """None when this click is the button's first (it is now claimed), else the first."""
        ...

    def record_click(self, click: str, rerun_id: str) -> None:
        """The run the claimed click started."""
        ...

    def release_click(self, click: str) -> None:
        """The claimed click started nothing: the button may be clicked again."""
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

    def claim_click(self, click: str, user: str, now: int) -> PriorClick | None:
        key = schema.click_key(click)
        try:
            self.dynamodb.put_item(
                TableName=self.table,
                Item={
                    **key,
                    "slack_user": {"S": user},
                    "claimed_at": {"N": str(now)},
                    TTL: {"N": str(now + CLICK_TTL_SECONDS)},
                },
                # A lapsed claim (no run recorded after CLAIM_SECONDS) may be taken over.
                ConditionExpression=(
                    f"attribute_not_exists({PK}) OR "
                    "(attribute_not_exists(rerun_id) AND claimed_at < :lapsed)"
                ),
                ExpressionAttributeValues={":lapsed": {"N": str(now - CLAIM_SECONDS)}},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            found = self.dynamodb.get_item(TableName=self.table, Key=key, ConsistentRead=True)
            item = found.get("Item", {})
            return PriorClick(
                user=item.get("slack_user", {}).get("S", ""),
                rerun_id=item.get("rerun_id", {}).get("S", ""),
            )
        return None

    def record_click(self, click: str, rerun_id: str) -> None:
        self.dynamodb.update_item(
            TableName=self.table,
            Key=schema.click_key(click),
            UpdateExpression="SET rerun_id = :run",
            ExpressionAttributeValues={":run": {"S": rerun_id}},
        )

    def release_click(self, click: str) -> None:
        # An update, not a delete (the API function may not delete items): a claim at 0
        # has lapsed, so the next click takes it over.
        self.dynamodb.update_item(
            TableName=self.table,
            Key=schema.click_key(click),
            UpdateExpression="SET claimed_at = :zero",
            ConditionExpression="attribute_not_exists(rerun_id)",
            ExpressionAttributeValues={":zero": {"N": "0"}},
        )


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
    action_ts: str = ""


class SlackMessage(_Loose):
    ts: str = ""
    blocks: list[dict[str, Any]] = []


class SlackContainer(_Loose):
    message_ts: str = ""
    channel_id: str = ""


class SlackPayload(_Loose):
    type: str
    user: SlackUser
    response_url: str = ""
    actions: list[SlackAction] = []
    message: SlackMessage | None = None
    container: SlackContainer | None = None


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

    def __post_init__(self) -> None:
        allowed = urllib.parse.urlsplit(self.response_url_prefix)
        host = allowed.hostname or ""
        if not host or not (
            allowed.scheme == "https" or (allowed.scheme == "http" and host in _LOOPBACK)
        ):
            raise ValueError(
                "JOBCTL_SLACK_RESPONSE_URL_PREFIX must be an https URL (http only on loopback)"
            )
        self._allowed = (allowed.scheme, host, _port(allowed))
        # The path prefix ends at a segment boundary: `/actions` allows `/actions/...`.
        self._allowed_path = allowed.path.rstrip("/") + "/"

    def is_slack_url(self, url: str) -> bool:
        """Whether `url` may be posted to: the configured scheme, host and port exactly, no
        user info, a path under the configured one, printable ASCII only."""
        if not url or len(url) > MAX_URL or not url.isascii() or not url.isprintable():
            return False
        if " " in url or "\\" in url:
            return False
        try:
            parts = urllib.parse.urlsplit(url)
            port = _port(parts)
        except ValueError:
            return False
        segments = parts.path.split("/")
        return (
            (parts.scheme, parts.hostname or "", port) == self._allowed
            and parts.username is None
            and parts.password is None
            and parts.path.startswith(self._allowed_path)
            and ".." not in segments
        )

    def handle(self, body: bytes, headers: Mapping[str, str]) -> Answer:
        lowered = {name.lower(): value for name, value in headers.items()}
        timestamp = lowered.get("x-slack-request-timestamp")
        signature = lowered.get("x-slack-signature")
        if not timestamp or not signature:
            return _reject(401, "Unauthorized", "missing Slack signature headers")
        if not _TIMESTAMP.fullmatch(timestamp):
            return _reject(401, "Unauthorized", "malformed Slack request timestamp")
        if not _SIGNATURE.fullmatch(signature):
            # compare_digest refuses non-ASCII text with a TypeError: check the shape first.
            return _reject(401, "Unauthorized", "invalid Slack signature")
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
        if payload.response_url and not self.is_slack_url(payload.response_url):
            LOG.warning("response_url is not a Slack URL: the request was refused")
            return _reject(400, "BadRequest", "response_url is not a Slack URL")
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
        if UNSAFE.search(name):
            name = user  # the reason is printed on operators' terminals
        click = _click(payload, run_id)
        prior = self.nonces.claim_click(click, user, int(self.clock()))
        if prior is not None:
            return self._already(payload, run_id, prior)
        try:
            started = self.rerunner().rerun(
                run_id, by=f"slack:{user}", reason=f"re-run from Slack by {name}", trigger="slack"
            )
        except self.user_errors as exc:
            self.nonces.release_click(click)
            message = str(getattr(exc, "message", exc))
            self._respond(payload, _ephemeral(f"Could not re-run `{run_id}`: {message}"))
            return _reject(200, type(exc).__name__, message)
        except Exception as exc:
            self.nonces.release_click(click)
            LOG.error("re-run of %s from Slack failed: %s", run_id, exc)
            self._respond(payload, _ephemeral(f"Could not re-run `{run_id}`; try `jobctl rerun`."))
            return _reject(200, "Internal", "the re-run could not be started")
        self.nonces.record_click(click, started.run_id)
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

    def _already(self, payload: SlackPayload, run_id: str, prior: PriorClick) -> Answer:
        by = f" by <@{prior.user}>" if prior.user else ""
        if prior.rerun_id:
            text = f"`{run_id}` was already re-run as `{prior.rerun_id}`{by}."
        else:
            text = f"A re-run of `{run_id}` is already being started{by}."
        self._respond(payload, _ephemeral(text))
        return Answer(
            200,
            {"ok": True, "duplicate": True, "run_id": prior.rerun_id or None, "rerun_of": run_id},
        )

    def _payload(self, body: str) -> SlackPayload | None:
        try:
            form = urllib.parse.parse_qs(body)
            return SlackPayload.model_validate(json.loads(form["payload"][0]))
        except (KeyError, IndexError, ValueError, ValidationError):
            return None

    def _respond(self, payload: SlackPayload, message: dict[str, Any]) -> None:
        url = payload.response_url
        if not self.is_slack_url(url):
            # handle() refused a non-Slack URL already: here it can only be missing.
            LOG.warning("no Slack response_url; the message was not updated")
            return
        try:
            self.poster.post(url, message, label="response_url")
        except DeliveryError as exc:
            # The run (if any) started; only the message update is lost. Say so in the log.
            LOG.warning("could not update the Slack message: %s", exc)
        except Exception as exc:
            # Never let the update turn a started run into an error answer (the user would
            # click again). The type only: messages may quote the URL.
            LOG.warning("could not update the Slack message: %s", type(exc).__name__)


def _ephemeral(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "replace_original": False, "text": text}


def _port(parts: urllib.parse.SplitResult) -> int:
    """The URL's port, the scheme's default when it names none (ValueError if invalid)."""
    return parts.port or {"https": 443, "http": 80}.get(parts.scheme, 0)


def _click(payload: SlackPayload, run_id: str) -> str:
    """The button a click is on: the message (channel and ts) and the run it re-runs.

    Not the user: a second operator clicking before the message lost its button would
    start a second run just the same. Without a message (none is sent for some surfaces)
    the action's own timestamp is all there is. Hashed: the parts are Slack's input."""
    container = payload.container or SlackContainer()
    message_ts = container.message_ts or (payload.message.ts if payload.message else "")
    action_ts = payload.actions[0].action_ts if payload.actions else ""
    parts = (container.channel_id, message_ts or f"action:{action_ts}", run_id)
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
