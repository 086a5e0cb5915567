"""The composition root of the Lambda functions: every handler's services, built in one place.

`app.py`'s routes and event handlers and the alerts blueprint ask `services()` for what
they need; this module alone reads the function's environment (set per stage in
`.chalice/config.json`) and wires the services on one `ClientFactory`, so every service of
a function shares its boto3 session and clients. Constructors receive clients; nothing
else in the runtime creates a factory or reads the environment for wiring.

Invariants: importing this module costs nothing (boto3, pydantic and the services load
when a handler first asks for one); each service is built once per process and cached
(`functools.cached_property`); `reset(services)` replaces the process's services (tests
build theirs on a moto-backed factory). A missing setting is an error naming the variable
when the service that needs it is first built, not at import.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

from chalicelib.core.names import alert_topic

if TYPE_CHECKING:
    from chalicelib.alerts.config import AlertSettings, SecretCache
    from chalicelib.alerts.notifier import Notifier
    from chalicelib.alerts.slack_actions import SlackActions
    from chalicelib.alerts.watchdog import Watchdog
    from chalicelib.aws.clients import ClientFactory
    from chalicelib.history.service import HistoryService
    from chalicelib.history.store import RunStore
    from chalicelib.ops.service import OpsService

# Every service a handler builds (tests/unit/test_architecture.py builds each).
HANDLER_SERVICES = ("ops", "history", "notifier", "watchdog", "slack_actions")


class Services:
    """The services of one Lambda function process, built on first use."""

    def __init__(
        self, environ: Mapping[str, str] | None = None, factory: ClientFactory | None = None
    ) -> None:
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self._factory = factory

    @cached_property
    def factory(self) -> ClientFactory:
        if self._factory is not None:
            return self._factory
        from chalicelib.aws.clients import ClientFactory

        return ClientFactory()

    def _setting(self, name: str) -> str:
        value = self.environ.get(name, "")
        if not value:
            raise RuntimeError(f"the function's environment lacks {name}")
        return value

    # ------------------------------------------------------------------ history and ops

    @cached_property
    def store(self) -> RunStore:
        from chalicelib.history.store import RunStore

        return RunStore(self.factory.client("dynamodb"), self._setting("JOBCTL_HISTORY_TABLE"))

    @cached_property
    def ops(self) -> OpsService:
        from chalicelib.ops.service import OpsService

        factory = self.factory
        return OpsService(
            self.store,
            lambda: factory.client("stepfunctions"),
            lambda: factory.client("logs"),
            # No ECS client: the function's policy has no ecs:StopTask; StopExecution
            # stops a .sync task itself.
        )

    @cached_property
    def history(self) -> HistoryService:
        from chalicelib.history.service import HistoryService

        factory = self.factory
        return HistoryService(
            self.store,
            lambda: factory.client("stepfunctions"),
            self._setting("JOBCTL_PREFIX"),
            # The recorder trusts only this function's own account and region.
            factory.context,
        )

    # ------------------------------------------------------------------ alerts

    @cached_property
    def alert_settings(self) -> AlertSettings:
        from chalicelib.alerts.config import AlertSettings

        return AlertSettings.from_environment(self.environ)

    @cached_property
    def secrets(self) -> SecretCache:
        from chalicelib.alerts.config import SecretCache

        return SecretCache(self.factory)

    @cached_property
    def notifier(self) -> Notifier:
        from chalicelib.alerts.notifier import Notifier
        from chalicelib.alerts.routing import WebhookRoutes
        from chalicelib.alerts.state import DynamoStateStore
        from chalicelib.alerts.storm import StormGuard
        from chalicelib.alerts.webhook import WebhookPoster

        config = self.alert_settings  # first: it names what the environment lacks
        dynamodb = self.factory.client("dynamodb")
        return Notifier(
            StormGuard(
                DynamoStateStore(dynamodb, config.history_table), window=config.storm_window
            ),
            WebhookRoutes(self.secrets, config.webhooks),
            WebhookPoster(),
            meta=self.store.meta,
            logs=lambda: self.factory.client("logs"),  # the failed task's last lines
        )

    @cached_property
    def watchdog(self) -> Watchdog:
        from chalicelib.alerts.state import DynamoStateStore
        from chalicelib.alerts.watchdog import Watchdog

        config = self.alert_settings  # first: it names what the environment lacks
        return Watchdog(
            self.store,
            DynamoStateStore(self.factory.client("dynamodb"), config.history_table),
            self.publish_alert,
            grace=config.watchdog_grace,
        )

    @cached_property
    def slack_actions(self) -> SlackActions:
        from chalicelib.alerts.config import ConfigError
        from chalicelib.alerts.slack_actions import DynamoNonceStore, SlackActions
        from chalicelib.ops.errors import OpsError

        config = self.alert_settings
        reference = config.signing_secret
        if reference is None:
            raise ConfigError("JOBCTL_SLACK_SIGNING_SECRET is not set")
        secrets = self.secrets
        return SlackActions(
            signing_secret=lambda: secrets.get(reference),
            allowed_users=config.allowed_users,
            rerunner=lambda: self.ops,
            nonces=DynamoNonceStore(self.factory.client("dynamodb"), config.history_table),
            response_url_prefix=config.response_url_prefix,
            user_errors=(OpsError,),
        )

    @cached_property
    def alert_topic_arn(self) -> str:
        """JOBCTL_ALERT_TOPIC_ARN, else `<prefix>-alerts` in this function's own account and
        region (one STS call)."""
        from chalicelib.alerts.config import ConfigError

        config = self.alert_settings
        if config.topic_arn:
            return config.topic_arn
        if not config.prefix:
            raise ConfigError(
                "neither JOBCTL_ALERT_TOPIC_ARN nor JOBCTL_PREFIX is set: the watchdog cannot alert"
            )
        context = self.factory.context()
        name = alert_topic(config.prefix)
        return f"arn:{context.partition}:sns:{context.region}:{context.account}:{name}"

    def publish_alert(self, message: dict[str, Any]) -> None:
        """Publish a `jobctl.alert/1` message to the alert topic (as the state machines do)."""
        context = message["metadata"]["additionalContext"]
        self.factory.client("sns").publish(
            TopicArn=self.alert_topic_arn,
            Message=json.dumps(message, separators=(",", ":")),
            MessageAttributes={
                "job": {"DataType": "String", "StringValue": context["job"]},
                "event": {"DataType": "String", "StringValue": context["event"]},
            },
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
    return alert_topic(env.get("JOBCTL_PREFIX") or "jobctl")


_current: list[Services] = []


def services() -> Services:
    """This process's services (built from the environment on first call)."""
    if not _current:
        _current.append(Services())
    return _current[0]


def reset(replacement: Services | None = None) -> None:
    """Forget the process's services; the next `services()` is `replacement`, or new ones."""
    _current.clear()
    if replacement is not None:
        _current.append(replacement)
