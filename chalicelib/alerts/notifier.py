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
- A failure message carries the last lines the failed attempt's task printed (`tail`:
  CloudWatch Logs, bounded and redacted). Logs that cannot be read cost the lines, not
  the alert, and the message says they are missing and why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from chalicelib.alerts.blocks import render
from chalicelib.alerts.message import Alert, MalformedAlert, RunContext, parse_alert
from chalicelib.alerts.storm import StormGuard
from chalicelib.alerts.tail import Tail, read_tail
from chalicelib.alerts.webhook import DeliveryError, WebhookPoster
from chalicelib.core.deployed import DeployedJob
from chalicelib.history.links import log_url

LOG = logging.getLogger("jobctl.alerts")
GONE = (403, 404, 410)  # Slack: webhook revoked, channel archived or deleted


class Routes(Protocol):
    def url(self, route: str) -> str: ...

    def invalidate(self) -> None: ...


MetaReader = Callable[[str], dict[str, Any]]
LogsClient = Callable[[], Any]


@dataclass(frozen=True)
class Facts:
    """What the notifier adds to a run alert from the job's deployed config and its logs."""

    log_url: str = ""
    container: str = ""
    tail: Tail | None = None  # None: no tail belongs in this message (no task, a recovery)


class Notifier:
    def __init__(
        self,
        guard: StormGuard,
        routes: Routes,
        poster: WebhookPoster,
        meta: MetaReader | None = None,
        logs: LogsClient | None = None,
    ) -> None:
        self.guard = guard
        self.routes = routes
        self.poster = poster
        self.meta = meta
        self.logs = logs

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
        facts = self.facts(context, with_tail=decision.notice.kind != "recovery")
        payload = render(
            alert,
            decision.notice,
            log_url=facts.log_url,
            tail=facts.tail,
            container=facts.container,
        )
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

    def facts(self, context: Any, *, with_tail: bool = True) -> Facts:
        """The log link, container and output tail of a run alert (best effort)."""
        return facts_of(context, self.meta, self.logs, with_tail=with_tail)


def facts_of(
    context: Any, meta: MetaReader | None, logs: LogsClient | None, *, with_tail: bool = True
) -> Facts:
    """What the notifier adds to a run alert (also what `jobctl local` prints with it)."""
    if not isinstance(context, RunContext) or not context.task_arn:
        return Facts()
    config = _config(meta, context.job)
    link = context.log_url
    if not link and config is not None:
        link = log_url(config.logs, config.container, context.task_arn) or ""
    tail = None
    if with_tail and logs is not None:  # without a logs client: no tail section
        try:
            client = logs()
        except Exception as exc:  # no client, no tail: the alert still goes
            LOG.warning("no logs client for %s: %s", context.job, exc)
            tail = Tail(missing="the logs could not be read")
        else:
            tail = read_tail(client, config, context.task_arn)
    return Facts(log_url=link, container=config.container if config else "", tail=tail)


def _config(meta: MetaReader | None, job: str) -> DeployedJob | None:
    if meta is None:
        return None
    try:
        text = meta(job).get("config")
        return DeployedJob.from_json(text) if text else None
    except Exception as exc:  # a link and a tail are not worth losing the alert
        LOG.warning("no deployed config for %s: %s", job, exc)
        return None
