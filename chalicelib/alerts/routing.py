"""Slack routes: a route name (a job's `alerts.slack`, or `default`) -> an incoming webhook URL.

The URLs live in one secret (Secrets Manager or an SSM SecureString, see `config`), either
a JSON object `{"default": "https://hooks.slack.com/services/...", "data-alerts": "..."}`
or a single URL (the default route). One secret rather than one per route: route names
may hold characters that secret and parameter names refuse ('#'), and one read serves
every route.

Resolution: the route as written, then without (or with) a leading '#', then `default`.
A webhook pins its channel (Slack ignores a `channel` field for app webhooks), so a route
names a webhook, typically one per channel.

Invariants: a URL is never logged or put in an exception message; a URL must be https
(plain http is allowed to a loopback address only, for local runs and tests); a missing
route falls back to `default` with a warning, and no default is an error (the alert is
not dropped: the invocation fails and SNS/Lambda retry it).
"""

from __future__ import annotations

import json
import logging
import urllib.parse

from chalicelib.alerts.config import SecretCache, SecretRef

LOG = logging.getLogger("jobctl.alerts")
DEFAULT_ROUTE = "default"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class RoutingError(RuntimeError):
    """No usable webhook for a route (configuration problem; names no URL)."""


def _usable(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https":
        return bool(parts.hostname)
    return parts.scheme == "http" and parts.hostname in LOOPBACK


class WebhookRoutes:
    def __init__(self, secrets: SecretCache, ref: SecretRef | None) -> None:
        self._secrets = secrets
        self._ref = ref

    def url(self, route: str) -> str:
        routes = self._routes()
        bare = route.lstrip("#")
        for candidate in (route, bare, f"#{bare}"):
            if candidate in routes:
                return routes[candidate]
        if DEFAULT_ROUTE not in routes:
            raise RoutingError(
                f"no webhook for Slack route {route!r} and no 'default' route in {self._ref}"
            )
        if route != DEFAULT_ROUTE:
            LOG.warning("Slack route %r is not in %s: using the default route", route, self._ref)
        return routes[DEFAULT_ROUTE]

    def invalidate(self) -> None:
        """Forget the cached map (Slack said a webhook is gone: it may have been rotated)."""
        if self._ref is not None:
            self._secrets.invalidate(self._ref)

    def _routes(self) -> dict[str, str]:
        if self._ref is None:
            raise RoutingError("JOBCTL_SLACK_WEBHOOKS is not set: no Slack webhook to post to")
        text = self._secrets.get(self._ref)
        if not text.startswith("{"):
            routes: object = {DEFAULT_ROUTE: text}
        else:
            try:
                routes = json.loads(text)
            except ValueError:
                raise RoutingError(f"{self._ref} is not a JSON object of route -> URL") from None
        if not isinstance(routes, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in routes.items()
        ):
            raise RoutingError(f"{self._ref} is not a JSON object of route -> URL")
        bad = sorted(name for name, url in routes.items() if not _usable(url))
        if bad:
            raise RoutingError(f"{self._ref}: route(s) {', '.join(bad)} have no https URL")
        return routes


class SingleWebhook:
    """Every route to one webhook URL (`jobctl local --slack-webhook`, tests)."""

    def __init__(self, url: str) -> None:
        self._url = url

    def url(self, route: str) -> str:
        return self._url

    def invalidate(self) -> None:
        pass
