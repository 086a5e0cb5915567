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
container for `ttl` seconds (Powertools parameters' providers keep the cache), so a rotated
secret is picked up within that time, and `invalidate` forces a re-read (after Slack says a
webhook is gone).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider

SECRET_TTL_SECONDS = 300
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


class SecretCache:
    """Secret values by reference, fetched on first use and kept for `ttl` seconds.

    Powertools' `SecretsProvider` / `SSMProvider` fetch and cache, on the factory's clients
    (created, like the providers, on first use).
    """

    def __init__(self, clients: ClientSource, *, ttl: int = SECRET_TTL_SECONDS) -> None:
        self._clients = clients
        self._ttl = ttl
        self._secrets: SecretsProvider | None = None
        self._ssm: SSMProvider | None = None
        self._stale: set[SecretRef] = set()  # invalidated: the next `get` asks AWS again
        self._lock = threading.Lock()

    def get(self, ref: SecretRef) -> str:
        # Imported here: importing app.py must not pay for boto3 (cold starts).
        from chalicelib.aws.clients import describe_error

        with self._lock:
            fresh = ref in self._stale
            self._stale.discard(ref)
        try:
            value = self._read(ref, fresh)
        except Exception as exc:
            # describe_error gives AWS's code and message, which never carry the value.
            cause = _unwrapped(exc)
            raise SecretError(f"cannot read {ref}: {describe_error(cause)}") from None
        if not isinstance(value, str) or not value.strip():
            self.invalidate(ref)  # the provider cached it: a fixed secret is read next time
            raise SecretError(f"{ref} is empty (or binary): store the value as a string")
        return value.strip()

    def invalidate(self, ref: SecretRef) -> None:
        with self._lock:
            self._stale.add(ref)

    def _read(self, ref: SecretRef, fresh: bool) -> object:
        from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider

        if ref.kind == "secretsmanager":
            with self._lock:
                if self._secrets is None:
                    client = self._clients.client("secretsmanager")
                    self._secrets = SecretsProvider(boto3_client=client)
                secrets = self._secrets
            return secrets.get(ref.name, max_age=self._ttl, force_fetch=fresh)
        with self._lock:
            if self._ssm is None:
                self._ssm = SSMProvider(boto3_client=self._clients.client("ssm"))
            ssm = self._ssm
        return ssm.get(ref.name, max_age=self._ttl, decrypt=True, force_fetch=fresh)


def _unwrapped(exc: BaseException) -> BaseException:
    """AWS's own error for Powertools' GetParameterError (raised while handling it)."""
    from aws_lambda_powertools.utilities.parameters import GetParameterError

    if isinstance(exc, GetParameterError) and exc.__context__ is not None:
        return exc.__context__
    return exc
