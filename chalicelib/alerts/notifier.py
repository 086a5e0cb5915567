"""The Slack notifier: one alert from the topic -> at most one Slack message.

parse (message) -> claim (storm guard) -> route (webhook URL) -> render (Block Kit) ->
post (retries) -> confirm (storm guard).

Invariants:
- A malformed message is logged at ERROR with its reason and reported as `rejected`;
  it is not raised, because no retry can make it valid.
- A message that could not be delivered (Slack refused it, retries ran out, no webhook
  for its route, the state table unavailable) raises: the Lambda invocation fails, so
  Lambda retries it and then hands it to the function's DLQ / on-failure destination.
  Nothing is dropped silently.
- The log link is filled here when the message lacks one: from the job's META `config`
  (`logs` = the container's awslogs group, region and stream prefix, recorded at
  deploy) and the message's `task_arn`. A failure to read it costs the link, not the
  alert.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from chalicelib.alerts.blocks import render
from chalicelib.alerts.message import Alert, MalformedAlert, RunContext, parse_alert
from chalicelib.alerts.storm import StormGuard
from chalicelib.alerts.webhook import DeliveryError, WebhookPoster
from chalicelib.core.deployed import DeployedJob
from chalicelib.history.links import log_url

LOG = logging.getLogger("jobctl.alerts")
GONE = (403, 404, 410)  # Slack: webhook revoked, channel archived or deleted


class Routes(Protocol):
    def url(self, route: str) -> str: ...

    def invalidate(self) -> None: ...


MetaReader = Callable[[str], dict[str, Any]]


class Notifier:
    def __init__(
        self,
        guard: StormGuard,
        routes: Routes,
        poster: WebhookPoster,
        meta: MetaReader | None = None,
    ) -> None:
        self.guard = guard
        self.routes = routes
        self.poster = poster
        self.meta = meta

    def handle(self, text: str) -> dict[str, str]:
        try:
            alert = parse_alert(text)
        except MalformedAlert as exc:
            LOG.error("rejected an alert that is not jobctl.alert/1: %s", exc)
            return {"result": "rejected", "reason": str(exc)}
        return self.deliver(alert)

    def deliver(self, alert: Alert) -> dict[str, str]:
        context = alert.context
        decision = self.guard.claim(alert)
        if decision.notice is None:
            LOG.info("alert %s for %s: %s", alert.id, context.job, decision.reason)
            return {"result": decision.reason, "job": context.job}
        route = context.slack_route
        payload = render(alert, decision.notice, log_url=self._log_url(context))
        try:
            self.poster.post(self.routes.url(route), payload, label=f"route {route}")
        except DeliveryError as exc:
            if exc.status in GONE:
                self.routes.invalidate()
            LOG.error("alert %s for %s not delivered: %s", alert.id, context.job, exc)
            raise
        self.guard.confirm(alert)
        LOG.info("alert %s for %s posted as %s", alert.id, context.job, decision.notice.kind)
        return {"result": decision.reason, "job": context.job, "kind": decision.notice.kind}

    def _log_url(self, context: Any) -> str:
        if not isinstance(context, RunContext) or context.log_url or not context.task_arn:
            return ""
        if self.meta is None:
            return ""
        try:
            text = self.meta(context.job).get("config")
            if not text:
                return ""
            config = DeployedJob.from_json(text)
            return log_url(config.logs, config.container, context.task_arn) or ""
        except Exception as exc:  # a link is not worth losing the alert
            LOG.warning("no log link for %s: %s", context.job, exc)
            return ""
