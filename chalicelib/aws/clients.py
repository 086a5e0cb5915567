"""The only place jobctl creates boto3 clients.

Owns sessions, retry configuration and the caller's identity. Clients are created lazily
(Lambda cold starts and CLI start-up pay only for what they use) and cached per service.
Every client retries throttling and transient errors with botocore's adaptive mode.
`AWS_ENDPOINT_URL`, `AWS_REGION`/`AWS_DEFAULT_REGION` and profiles work as in any AWS tool,
because boto3 reads them; a local moto server is just another endpoint.
Invariant: setup problems (no credentials, no region, bad profile) surface as one
`AwsSetupError` with a one-line message, never as a traceback.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.exceptions
from botocore.config import Config

from chalicelib.core.errors import JobctlError

DEFAULT_MAX_ATTEMPTS = 10


def _retries() -> dict[str, object]:
    """Adaptive retries; AWS_MAX_ATTEMPTS / AWS_RETRY_MODE override as in other AWS tools."""
    attempts = os.environ.get("AWS_MAX_ATTEMPTS", "")
    return {
        "mode": os.environ.get("AWS_RETRY_MODE") or "adaptive",
        "max_attempts": int(attempts) if attempts.isdigit() else DEFAULT_MAX_ATTEMPTS,
    }


# Called as hook(service, operation) before every API call: counting, fault injection.
CallHook = Callable[[str, str], None]


class AwsSetupError(JobctlError):
    """Credentials, region or profile are missing or wrong: a one-line message, exit 1."""


@dataclass(frozen=True)
class AwsContext:
    """Where commands act: filled into `${Partition}`, `${Region}`, `${AccountId}`."""

    account: str
    region: str
    partition: str

    def placeholders(self) -> dict[str, str]:
        return {"Partition": self.partition, "Region": self.region, "AccountId": self.account}


class ClientFactory:
    """Lazily creates and caches one client per service, all sharing one session."""

    def __init__(
        self,
        *,
        profile: str | None = None,
        region: str | None = None,
        max_pool: int = 16,
        hooks: list[CallHook] | None = None,
    ) -> None:
        self._profile = profile
        self._region = region
        self._config = Config(retries=_retries(), max_pool_connections=max_pool)
        self._hooks = list(hooks or [])
        self._session: boto3.session.Session | None = None
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def session(self) -> boto3.session.Session:
        if self._session is None:
            try:
                # AWS CLI v2 precedence: explicit, AWS_REGION, then AWS_DEFAULT_REGION/profile
                # (boto3 itself reads only the latter two).
                region = self._region or os.environ.get("AWS_REGION") or None
                self._session = boto3.session.Session(
                    profile_name=self._profile, region_name=region
                )
            except botocore.exceptions.ProfileNotFound as exc:
                raise AwsSetupError(str(exc)) from None
        return self._session

    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                region = self.session.region_name
                if not region:
                    raise AwsSetupError(
                        "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION) or use a profile "
                        "with a region"
                    )
                client = self.session.client(service, region_name=region, config=self._config)
                for hook in self._hooks:
                    client.meta.events.register(
                        "before-call", _call_hook(hook, service), unique_id=f"jobctl-{id(hook)}"
                    )
                self._clients[service] = client
            return self._clients[service]

    def context(self) -> AwsContext:
        """The caller's account, region and partition (one STS call)."""
        identity = self._identity()
        arn = identity["Arn"]
        return AwsContext(
            account=identity["Account"],
            region=self.session.region_name or "",
            partition=arn.split(":")[1],
        )

    def caller(self) -> str:
        """The caller's IAM principal ARN (recorded on the runs an operator starts)."""
        return str(self._identity()["Arn"])

    def _identity(self) -> dict[str, Any]:
        try:
            return self.client("sts").get_caller_identity()  # type: ignore[no-any-return]
        except botocore.exceptions.NoCredentialsError:
            raise AwsSetupError(
                "no AWS credentials: configure a profile (--profile / AWS_PROFILE) or "
                "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            ) from None
        except botocore.exceptions.ClientError as exc:
            raise AwsSetupError(f"AWS rejected the credentials: {describe_error(exc)}") from None
        except botocore.exceptions.BotoCoreError as exc:
            raise AwsSetupError(f"cannot reach AWS: {exc}") from None


def _call_hook(hook: CallHook, service: str) -> Callable[..., None]:
    def on_call(model: Any, **_: Any) -> None:
        hook(service, model.name)

    return on_call


def error_code(exc: BaseException) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def describe_error(exc: BaseException) -> str:
    """`Code: message` for AWS errors, the text otherwise; one line."""
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'Error')}: {error.get('Message', '')}".strip()
    return " ".join(str(exc).split()) or type(exc).__name__
