"""The alert handlers as a Chalice Blueprint: `app.register_blueprint(alerts)` in app.py.

- `notify_slack` (SNS, the alert topic): alert -> Slack message (notifier.py).
- `watch_missed_runs` (every 5 minutes): the missed-run watchdog (watchdog.py).
- `POST /slack/actions` (no IAM authorizer: Slack signs its requests): the Re-run button
  (slack_actions.py).

Services are built on first use from the function's environment (config.py), so importing
this module costs no client and no secret read; `reset()` forgets them (tests).
The topic name is fixed when the module is imported (`config.alert_topic_name`): set
JOBCTL_ALERT_TOPIC or JOBCTL_PREFIX in the shell that runs `chalice deploy`.

Invariants: the Slack route answers JSON in every case (never a traceback, never a 500);
the SNS handler raises when a message could not be delivered (Lambda retries, then the
DLQ); the watchdog raises after checking every job when some could not be checked.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint, Rate, Response

from chalicelib.alerts.config import alert_topic_name

if TYPE_CHECKING:
    from chalicelib.alerts.config import AlertSettings, SecretCache
    from chalicelib.alerts.notifier import Notifier
    from chalicelib.alerts.slack_actions import Rerunner, SlackActions
    from chalicelib.alerts.watchdog import Watchdog
    from chalicelib.ops.service import OpsService

LOG = logging.getLogger("jobctl.alerts")
WATCHDOG_EVERY_MINUTES = 5

_services: dict[str, Any] = {}


def reset() -> None:
    """Forget every service (the next handler call reads the environment again)."""
    _services.clear()


def _clients() -> Any:
    if "clients" not in _services:
        from chalicelib.aws.clients import ClientFactory

        _services["clients"] = ClientFactory()
    return _services["clients"]


def settings() -> AlertSettings:
    if "settings" not in _services:
        from chalicelib.alerts.config import AlertSettings

        _services["settings"] = AlertSettings.from_environment()
    return _services["settings"]  # type: ignore[no-any-return]


def _secrets() -> SecretCache:
    if "secrets" not in _services:
        from chalicelib.alerts.config import SecretCache

        _services["secrets"] = SecretCache(_clients())
    return _services["secrets"]  # type: ignore[no-any-return]


def notifier() -> Notifier:
    if "notifier" not in _services:
        from chalicelib.alerts.notifier import Notifier
        from chalicelib.alerts.routing import WebhookRoutes
        from chalicelib.alerts.state import DynamoStateStore
        from chalicelib.alerts.storm import StormGuard
        from chalicelib.alerts.webhook import WebhookPoster
        from chalicelib.history.store import RunStore

        config = settings()
        dynamodb = _clients().client("dynamodb")
        _services["notifier"] = Notifier(
            StormGuard(
                DynamoStateStore(dynamodb, config.history_table), window=config.storm_window
            ),
            WebhookRoutes(_secrets(), config.webhooks),
            WebhookPoster(),
            meta=RunStore(dynamodb, config.history_table).meta,
        )
    return _services["notifier"]  # type: ignore[no-any-return]


def watchdog() -> Watchdog:
    if "watchdog" not in _services:
        from chalicelib.alerts.state import DynamoStateStore
        from chalicelib.alerts.watchdog import Watchdog
        from chalicelib.history.store import RunStore

        config = settings()
        dynamodb = _clients().client("dynamodb")
        _services["watchdog"] = Watchdog(
            RunStore(dynamodb, config.history_table),
            DynamoStateStore(dynamodb, config.history_table),
            publish_alert,
            grace=config.watchdog_grace,
        )
    return _services["watchdog"]  # type: ignore[no-any-return]


def publish_alert(message: dict[str, Any]) -> None:
    """Publish a `jobctl.alert/1` message to the alert topic (as the state machines do)."""
    from chalicelib.alerts.config import ConfigError

    topic = settings().topic_arn or _default_topic_arn()
    if not topic:
        raise ConfigError(
            "neither JOBCTL_ALERT_TOPIC_ARN nor JOBCTL_PREFIX is set: the watchdog cannot alert"
        )
    context = message["metadata"]["additionalContext"]
    _clients().client("sns").publish(
        TopicArn=topic,
        Message=json.dumps(message, separators=(",", ":")),
        MessageAttributes={
            "job": {"DataType": "String", "StringValue": context["job"]},
            "event": {"DataType": "String", "StringValue": context["event"]},
        },
    )


def _default_topic_arn() -> str:
    """`<prefix>-alerts` in this function's own account and region (one STS call, cached)."""
    if "topic" not in _services:
        prefix = settings().prefix
        if not prefix:
            return ""
        context = _clients().context()
        _services["topic"] = (
            f"arn:{context.partition}:sns:{context.region}:{context.account}:{prefix}-alerts"
        )
    return str(_services["topic"])


def slack_actions() -> SlackActions:
    if "actions" not in _services:
        from chalicelib.alerts.config import ConfigError
        from chalicelib.alerts.slack_actions import DynamoNonceStore, SlackActions
        from chalicelib.ops.errors import OpsError

        config = settings()
        reference = config.signing_secret
        if reference is None:
            raise ConfigError("JOBCTL_SLACK_SIGNING_SECRET is not set")
        secrets = _secrets()
        _services["actions"] = SlackActions(
            signing_secret=lambda: secrets.get(reference),
            allowed_users=config.allowed_users,
            rerunner=_ops,
            nonces=DynamoNonceStore(_clients().client("dynamodb"), config.history_table),
            response_url_prefix=config.response_url_prefix,
            user_errors=(OpsError,),
        )
    return _services["actions"]  # type: ignore[no-any-return]


def _ops() -> Rerunner:
    if "ops" not in _services:
        from chalicelib.ops.service import OpsService

        _services["ops"] = OpsService.from_environment()
    service: OpsService = _services["ops"]
    return service  # mypy checks here that OpsService is a Rerunner


# ------------------------------------------------------------------------------ handlers


def create_blueprint(topic: str | None = None) -> Blueprint:
    """A new Blueprint holding the three handlers.

    Chalice consumes a route's options when it registers a Blueprint, so one Blueprint can
    be registered once per process: app.py registers `alerts`; tests build their own.
    """
    blueprint = Blueprint(__name__)

    @blueprint.on_sns_message(topic=topic or alert_topic_name(), name="notify_slack")
    def notify_slack(event: Any) -> dict[str, str]:
        return notifier().handle(event.message)

    @blueprint.schedule(Rate(WATCHDOG_EVERY_MINUTES, unit=Rate.MINUTES), name="watch_missed_runs")
    def watch_missed_runs(event: Any) -> dict[str, int]:
        return watchdog().run()

    @blueprint.route(
        "/slack/actions",
        methods=["POST"],
        content_types=["application/x-www-form-urlencoded"],
    )
    def slack_action() -> Response:
        return answer_slack(blueprint.current_request)

    return blueprint


def answer_slack(request: Any) -> Response:
    try:
        raw = request.raw_body or b""
        answer = slack_actions().handle(
            raw if isinstance(raw, bytes) else raw.encode("utf-8"), request.headers
        )
        status, body = answer.status, answer.body
    except Exception as exc:
        # Configuration or AWS trouble: Slack gets JSON, the log gets one line (no secret:
        # our exceptions name references and AWS error codes, never values).
        LOG.error("Slack action not handled: %s: %s", type(exc).__name__, exc)
        status = 503
        body = {"ok": False, "error": "Unavailable", "message": "try again in a moment"}
    return Response(body=body, status_code=status, headers={"Content-Type": "application/json"})


alerts = create_blueprint()
