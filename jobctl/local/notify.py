"""Where local alerts go: the console, and a Slack incoming webhook when one is configured.

An alert is the message the state machine published to the alert topic (a `jobctl.alert/1`
AWS Chatbot custom notification: `content.title`, `content.description`,
`metadata.additionalContext`). Every alert is printed (`render_alert`). With a webhook,
`SlackWebhook` hands it to the production Slack notifier (`chalicelib.alerts`: parse, storm
guard, Block Kit, retrying poster), with every route going to that one URL and the storm
state in memory, so Slack sees locally exactly what it would see from AWS.
The console shows what the Slack message says: for a failure, what happened in plain words
and the task's last lines (read, bounded and redacted by the notifier's own code,
`chalicelib.alerts.notifier.facts_of`), or why they are missing.
Invariants: delivery never raises (a failure is reported as one line); the webhook URL is
never printed (it is a credential); neither is a secret from the task's output.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

Say = Callable[[str], None]


def alert_context(alert: dict[str, Any]) -> dict[str, Any]:
    context = (alert.get("metadata") or {}).get("additionalContext") or {}
    return context if isinstance(context, dict) else {}


def render_alert(
    alert: dict[str, Any],
    meta: Callable[[str], dict[str, Any]] | None = None,
    logs: Callable[[], Any] | None = None,
) -> list[str]:
    """The console lines for one alert: a marker line with the title, then details; for a
    failure, with `meta` and `logs`, what happened and the task's last lines as Slack has
    them."""
    content = alert.get("content") or {}
    context = alert_context(alert)
    lines = [f"ALERT {content.get('title') or '(untitled)'}"]
    if content.get("description"):
        lines.append(f"      {content['description']}")
    keys = ("event", "job", "run_id", "status", "attempts", "exit_code", "stopped_reason")
    shown = [f"{key}={context[key]}" for key in keys if context.get(key) not in (None, "")]
    if shown:
        lines.append("      " + " ".join(shown))
    if context.get("event") == "failure":
        lines.extend(f"      {line}" for line in _failure_details(alert, meta, logs))
    return lines


def _failure_details(
    alert: dict[str, Any],
    meta: Callable[[str], dict[str, Any]] | None,
    logs: Callable[[], Any] | None,
) -> list[str]:
    from chalicelib.alerts.blocks import tail_lines, what_happened
    from chalicelib.alerts.message import MalformedAlert, RunContext, parse_alert
    from chalicelib.alerts.notifier import facts_of

    try:
        parsed = parse_alert(json.dumps(alert))
    except MalformedAlert:
        return []  # the lines above show what there is
    context = parsed.context
    if not isinstance(context, RunContext):
        return []
    facts = facts_of(context, meta, logs)
    lines = [f"what happened: {what_happened(context, facts.container)}"]
    if facts.tail is not None:
        head, *rest = tail_lines(facts.tail)
        lines += [head, *(f"  | {line}" for line in rest)]
    return lines


class SlackWebhook:
    def __init__(
        self,
        url: str,
        say: Say,
        meta: Callable[[str], dict[str, Any]] | None = None,
        logs: Callable[[], Any] | None = None,
    ) -> None:
        from chalicelib.alerts.config import DEFAULT_WINDOW
        from chalicelib.alerts.notifier import Notifier
        from chalicelib.alerts.routing import SingleWebhook
        from chalicelib.alerts.state import MemoryStateStore
        from chalicelib.alerts.storm import StormGuard
        from chalicelib.alerts.webhook import WebhookPoster

        self.say = say
        self.notifier = Notifier(
            StormGuard(MemoryStateStore(), window=DEFAULT_WINDOW),
            SingleWebhook(url),
            WebhookPoster(attempts=3, budget=15.0),
            meta=meta,
            logs=logs,
        )

    def post(self, alert: dict[str, Any]) -> str:
        """Deliver one alert; returns what happened, for the console."""
        try:
            result = self.notifier.handle(json.dumps(alert))
        except Exception as exc:  # DeliveryError, or anything else: the console has it
            return f"not posted to Slack: {exc}"
        if "kind" in result:
            return f"posted to Slack ({result['kind']})"
        return f"not posted to Slack: {result.get('reason') or result.get('result')}"
