"""The alert handlers as a Chalice Blueprint: `app.register_blueprint(alerts)` in app.py.

- `notify_slack` (SNS, the alert topic): alert -> Slack message (notifier.py).
- `watch_missed_runs` (every 5 minutes): the missed-run watchdog (watchdog.py).
- `POST /slack/actions` (no IAM authorizer: Slack signs its requests): the Re-run button
  (slack_actions.py).

The handlers ask the composition root (`chalicelib.services`) for their services, so
importing this module costs no client and no secret read. The topic name is fixed when
the module is imported (`services.alert_topic_name`): set JOBCTL_ALERT_TOPIC or JOBCTL_PREFIX
in the shell that runs `chalice deploy`.

Invariants: the Slack route answers JSON in every case (never a traceback, never a 500);
the SNS handler raises when a message could not be delivered (Lambda retries, then the
DLQ); the watchdog raises after checking every job when some could not be checked.
"""

from __future__ import annotations

import logging
from typing import Any

from chalice.app import Blueprint, Rate, Response

from chalicelib.services import alert_topic_name, services

LOG = logging.getLogger("jobctl.alerts")
WATCHDOG_EVERY_MINUTES = 5


# ------------------------------------------------------------------------------ handlers


def create_blueprint(topic: str | None = None) -> Blueprint:
    """A new Blueprint holding the three handlers.

    Chalice consumes a route's options when it registers a Blueprint, so one Blueprint can
    be registered once per process: app.py registers `alerts`; tests build their own.
    """
    blueprint = Blueprint(__name__)

    @blueprint.on_sns_message(topic=topic or alert_topic_name(), name="notify_slack")
    def notify_slack(event: Any) -> dict[str, str]:
        return services().notifier.handle(event.message)

    @blueprint.schedule(Rate(WATCHDOG_EVERY_MINUTES, unit=Rate.MINUTES), name="watch_missed_runs")
    def watch_missed_runs(event: Any) -> dict[str, int]:
        return services().watchdog.run()

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
        answer = services().slack_actions.handle(
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
