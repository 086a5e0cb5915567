"""Configuration of the alert functions: environment variables and secrets.

Owns the one place the alert handlers read their environment (validated into
`AlertSettings`) and the fetching of secrets (the Slack webhook map, the signing secret)
from Secrets Manager or SSM Parameter Store.

Variables (set per stage in .chalice/config.json):
  JOBCTL_HISTORY_TABLE         history table: storm state, watchdog state, replay guard
  JOBCTL_PREFIX                `<project>[-<env>]`: default alert topic name
  JOBCTL_ALERT_TOPIC_ARN       topic the watchdog publishes missed-run alerts to
  JOBCTL_SLACK_WEBHOOKS        `secretsmanager:<secret id>` or `ssm:<parameter name>`
  JOBCTL_SLACK_SIGNING_SECRET  `secretsmanager:<secret id>` or `ssm:<parameter name>`
  JOBCTL_SLACK_ALLOWED_USERS   Slack user ids allowed to re-run, comma separated
  JOBCTL_ALERT_WINDOW          seconds in which repeated failures collapse (default 3600)
  JOBCTL_WATCHDOG_GRACE        seconds added to a job's worst-case run time (default 900)
  JOBCTL_SLACK_RESPONSE_URL_PREFIX  where response_url may point (default https://hooks.slack.com/)

Invariants: a secret's value never appears in a log line, an exception message or a repr
(`SecretRef` names where a secret lives, never what it is); values are cached per Lambda
container for `ttl` seconds, so a rotated secret is picked up within that time, and
`invalidate` forces a re-read (after Slack says a webhook is gone).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

SECRET_TTL_SECONDS = 300.0
DEFAULT_WINDOW = 3600
DEFAULT_GRACE = 900
SLACK_RESPONSE_PREFIX = "https://hooks.slack.com/"


class ConfigError(RuntimeError):
    """The function's configuration is missing or wrong: one line, no secret in it."""


class SecretError(RuntimeError):
    """A secret could not be read (names the reference and AWS's error code only)."""


class ClientSource(Protocol):
    """What `chalicelib.aws.clients.ClientFactory` offers (tests pass the same object)."""

    def client(self, service: str) -> Any: ...


@dataclass(frozen=True)
class SecretRef:
    """Where a secret lives: Secrets Manager (SecretString) or an SSM SecureString."""

    kind: Literal["secretsmanager", "ssm"]
    name: str

    @classmethod
    def parse(cls, text: str, variable: str) -> SecretRef:
        kind, _, name = text.partition(":")
        if kind not in ("secretsmanager", "ssm") or not name:
            raise ConfigError(
                f"{variable} must be 'secretsmanager:<secret id>' or 'ssm:<parameter name>'"
            )
        return cls(kind, name)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


class AlertSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    history_table: str
    prefix: str = ""
    topic_arn: str = ""
    webhooks: SecretRef | None = None
    signing_secret: SecretRef | None = None
    allowed_users: frozenset[str] = frozenset()
    storm_window: int = DEFAULT_WINDOW
    watchdog_grace: int = DEFAULT_GRACE
    response_url_prefix: str = SLACK_RESPONSE_PREFIX

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> AlertSettings:
        env = os.environ if environ is None else environ
        table = env.get("JOBCTL_HISTORY_TABLE", "")
        if not table:
            raise ConfigError("the function's environment lacks JOBCTL_HISTORY_TABLE")

        def ref(name: str) -> SecretRef | None:
            text = env.get(name, "")
            return SecretRef.parse(text, name) if text else None

        def seconds(name: str, default: int) -> int:
            text = env.get(name, "")
            if not text:
                return default
            if not text.isdigit():
                raise ConfigError(f"{name} must be a whole number of seconds, not {text!r}")
            return int(text)

        users = env.get("JOBCTL_SLACK_ALLOWED_USERS", "")
        return cls(
            history_table=table,
            prefix=env.get("JOBCTL_PREFIX", ""),
            topic_arn=env.get("JOBCTL_ALERT_TOPIC_ARN", ""),
            webhooks=ref("JOBCTL_SLACK_WEBHOOKS"),
            signing_secret=ref("JOBCTL_SLACK_SIGNING_SECRET"),
            allowed_users=frozenset(u.strip() for u in users.split(",") if u.strip()),
            storm_window=seconds("JOBCTL_ALERT_WINDOW", DEFAULT_WINDOW),
            watchdog_grace=seconds("JOBCTL_WATCHDOG_GRACE", DEFAULT_GRACE),
            response_url_prefix=env.get("JOBCTL_SLACK_RESPONSE_URL_PREFIX")
            or SLACK_RESPONSE_PREFIX,
        )


def alert_topic_name(environ: Mapping[str, str] | None = None) -> str:
    """The topic `on_sns_message` subscribes to, decided when app.py is imported.

    Chalice reads it at deploy time (`chalice deploy`/`package` import app.py in the
    deployer's shell, where the stage's environment_variables are not set), so set
    JOBCTL_ALERT_TOPIC (or JOBCTL_PREFIX) there. At run time the value is not used.
    """
    env = os.environ if environ is None else environ
    if env.get("JOBCTL_ALERT_TOPIC"):
        return env["JOBCTL_ALERT_TOPIC"]
    if env.get("JOBCTL_PREFIX"):
        return f"{env['JOBCTL_PREFIX']}-alerts"
    return "jobctl-alerts"


class SecretCache:
    """Secret values by reference, fetched on first use and kept for `ttl` seconds."""

    def __init__(
        self,
        clients: ClientSource,
        *,
        ttl: float = SECRET_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clients = clients
        self._ttl = ttl
        self._clock = clock
        self._values: dict[SecretRef, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def get(self, ref: SecretRef) -> str:
        with self._lock:
            cached = self._values.get(ref)
            if cached is not None and self._clock() - cached[0] < self._ttl:
                return cached[1]
        value = self._fetch(ref)
        with self._lock:
            self._values[ref] = (self._clock(), value)
        return value

    def invalidate(self, ref: SecretRef) -> None:
        with self._lock:
            self._values.pop(ref, None)

    def _fetch(self, ref: SecretRef) -> str:
        # Imported here: importing app.py must not pay for boto3 (cold starts).
        from chalicelib.aws.clients import describe_error

        try:
            if ref.kind == "secretsmanager":
                found = self._clients.client("secretsmanager").get_secret_value(SecretId=ref.name)
                value = found.get("SecretString")
            else:
                found = self._clients.client("ssm").get_parameter(
                    Name=ref.name, WithDecryption=True
                )
                value = found["Parameter"]["Value"]
        except Exception as exc:
            # describe_error gives AWS's code and message, which never carry the value.
            raise SecretError(f"cannot read {ref}: {describe_error(exc)}") from None
        if not isinstance(value, str) or not value.strip():
            raise SecretError(f"{ref} is empty (or binary): store the value as a string")
        return value.strip()
