"""Posting JSON to Slack (incoming webhooks, response_url) with retries.

slack_sdk's `WebhookClient` sends, and its retry handlers (`slack_sdk.http_retry`) decide:
- 429: `RateLimitErrorRetryHandler`, after the Retry-After Slack sends;
- 5xx: `ServerErrorRetryHandler` (every 5xx: slack_sdk's own takes only 500 and 503);
- timeouts and connection errors: `ConnectionErrorRetryHandler`;
the last two with exponential backoff and jitter. Not retried: any other 4xx (a bad
payload or a revoked webhook does not get better by asking again). The handlers are
subclassed only to wait through `sleep`, to keep within the budget, and to log the route.

Invariants:
- The URL is never logged nor put in an exception (webhook URLs are credentials); logs
  name the `label` the caller gives (the route). The client gets a logger that says
  nothing (slack_sdk logs the URL and the body at DEBUG, failures at ERROR), and
  `DeliveryError` is raised outside any `except` block, so no error holding the URL is
  chained into a traceback.
- No wait is longer than `max_retry_after`, and the attempts together stay within
  `budget` seconds: a Retry-After beyond either fails at once, and the Lambda invocation
  fails with it, so Lambda's own retries (then the DLQ) take over. Nothing is dropped.
- At most `attempts` requests per post; waiting goes through the injected `sleep` (tests
  never really sleep).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.client import HTTPException
from typing import Any

from slack_sdk.errors import SlackRequestError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.interval_calculator import RetryIntervalCalculator
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.webhook import WebhookClient

LOG = logging.getLogger("jobctl.alerts")

# slack_sdk's logger: above every level (its `logger.level <= DEBUG` checks then skip the
# URL-bearing messages), not propagating, and with a handler of its own so Python's
# last-resort handler never prints for it.
_QUIET = logging.getLogger(f"{__name__}.slack_sdk")
_QUIET.setLevel(logging.CRITICAL + 1)
_QUIET.propagate = False
_QUIET.addHandler(logging.NullHandler())

# What no answer looks like from urllib: timeouts, refused/reset connections (OSError,
# URLError among them) and broken HTTP (http.client's errors).
NO_ANSWER: list[type[Exception]] = [OSError, HTTPException]


class DeliveryError(RuntimeError):
    """Slack did not take the message (after retries, when they made sense)."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable


@dataclass
class WebhookPoster:
    attempts: int = 5
    timeout: float = 5.0
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 30.0
    budget: float = 40.0  # within Chalice's default 60 s Lambda timeout
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    jitter: Callable[[], float] = random.random

    def post(self, url: str, payload: dict[str, Any], *, label: str = "slack") -> None:
        delivery = _Delivery(self, label)
        client = WebhookClient(
            url,
            timeout=self.timeout,  # type: ignore[arg-type]  # urllib takes float seconds
            logger=_QUIET,
            retry_handlers=delivery.handlers(),
        )
        # urllib's own proxy settings (which honour NO_PROXY), as before slack_sdk: its
        # proxy from the environment would not.
        client.proxy = None
        status: int | None = None
        last = ""
        unusable = False
        try:
            response = client.send_dict(payload)
            status, body = response.status_code, response.body or ""
            last = f"HTTP {status} {body.strip()[:200]}".strip()
        except (SlackRequestError, ValueError):
            unusable = True  # slack_sdk's and urllib's messages would quote the URL
        except tuple(NO_ANSWER) as error:
            last = f"no answer ({_problem(error)})"
        if unusable:
            raise DeliveryError(f"Slack ({label}): the URL is not usable", retryable=False)
        if status is not None and 200 <= status < 300:
            if delivery.retries:
                LOG.info("Slack (%s) took the message on attempt %d", label, delivery.retries + 1)
            return
        if not _retryable(status):
            raise DeliveryError(
                f"Slack ({label}) refused the message: {last}", status=status, retryable=False
            )
        if delivery.too_long is not None:
            retry_after = delivery.too_long
            hint = f" (Retry-After {retry_after:g}s)" if retry_after else ""
            raise DeliveryError(
                f"Slack ({label}) asked to wait longer than allowed{hint}: {last}",
                status=status,
                retryable=True,
            )
        raise DeliveryError(
            f"Slack ({label}) did not take the message after {self.attempts} attempts: {last}",
            status=None,
            retryable=True,
        )


def _retryable(status: int | None) -> bool:
    return status is None or status == 429 or status >= 500


def _problem(error: BaseException) -> str:
    # The reason names the failure (timed out, refused), never the URL.
    reason = getattr(error, "reason", error)
    return type(reason).__name__ + f": {reason}"


def _retry_after(response: HttpResponse | None) -> float | None:
    """Retry-After in seconds; None when absent or an HTTP date (then: back off normally)."""
    if response is None or response.status_code != 429:
        return None
    for name, values in response.headers.items():
        if name.lower() == "retry-after" and values:
            try:
                return max(float(str(values[0]).strip()), 0.0)
            except ValueError:
                return None
    return None


class _Backoff(RetryIntervalCalculator):
    """Exponential backoff, capped, with jitter between half and all of it (concurrent
    notifiers spread out)."""

    def __init__(self, poster: WebhookPoster) -> None:
        self.poster = poster

    def calculate_sleep_duration(self, current_attempt: int) -> float:
        # `current_attempt` counts the retries so far: 0 before the first one.
        backoff = min(self.poster.max_delay, self.poster.base_delay * 2.0**current_attempt)
        return backoff * (0.5 + self.poster.jitter() / 2)


class _Delivery:
    """One `post`: when it started, how many retries it made, why it stopped retrying.

    Its handlers share it: a retry is taken only when its wait fits (`max_retry_after`
    for a Retry-After, `budget` for every wait plus the next attempt's timeout).
    """

    def __init__(self, poster: WebhookPoster, label: str) -> None:
        self.poster = poster
        self.label = label
        self.started = poster.clock()
        self.retries = 0
        self.wait = 0.0
        # Set when a retry was refused for its wait: the Retry-After (0.0 when none).
        self.too_long: float | None = None

    def handlers(self) -> list[RetryHandler]:
        most = self.poster.attempts - 1
        backoff = _Backoff(self.poster)
        return [
            _RateLimited(self, most, backoff),
            _ServerError(self, most, backoff),
            _NoAnswer(self, most, backoff, error_types=NO_ANSWER),
        ]

    def fits(self, response: HttpResponse | None, backoff: float) -> bool:
        retry_after = _retry_after(response)
        wait = backoff if retry_after is None else retry_after
        elapsed = self.poster.clock() - self.started
        too_long = (
            retry_after is not None and retry_after > self.poster.max_retry_after
        ) or elapsed + wait + self.poster.timeout > self.poster.budget
        if too_long:
            self.too_long = retry_after or 0.0
            return False
        self.wait = wait
        return True

    def next_attempt(
        self, state: RetryState, response: HttpResponse | None, error: Exception | None
    ) -> None:
        if response is not None:
            data = (response.data or b"").decode("utf-8", "replace")
            last = f"HTTP {response.status_code} {data.strip()[:200]}".strip()
        else:
            last = f"no answer ({_problem(error) if error else 'unknown'})"
        LOG.warning(
            "Slack (%s) attempt %d/%d failed: %s; retrying in %.1fs",
            self.label,
            state.current_attempt + 1,
            self.poster.attempts,
            last,
            self.wait,
        )
        self.poster.sleep(self.wait)
        self.retries += 1
        state.next_attempt_requested = True
        state.increment_current_attempt()


class _Budgeted(RetryHandler):
    """A slack_sdk retry handler whose waits are the delivery's (see `_Delivery`)."""

    delivery: _Delivery

    def can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if not super().can_retry(state=state, request=request, response=response, error=error):
            return False
        backoff = self.interval_calculator.calculate_sleep_duration(state.current_attempt)
        return self.delivery.fits(response, backoff)

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        self.delivery.next_attempt(state, response, error)


class _RateLimited(_Budgeted, RateLimitErrorRetryHandler):
    def __init__(self, delivery: _Delivery, most: int, backoff: _Backoff) -> None:
        super().__init__(max_retry_count=most, interval_calculator=backoff)
        self.delivery = delivery


class _ServerError(_Budgeted, ServerErrorRetryHandler):
    def __init__(self, delivery: _Delivery, most: int, backoff: _Backoff) -> None:
        super().__init__(max_retry_count=most, interval_calculator=backoff)
        self.delivery = delivery

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return response is not None and response.status_code >= 500


class _NoAnswer(_Budgeted, ConnectionErrorRetryHandler):
    def __init__(
        self,
        delivery: _Delivery,
        most: int,
        backoff: _Backoff,
        *,
        error_types: list[type[Exception]],
    ) -> None:
        super().__init__(max_retry_count=most, interval_calculator=backoff, error_types=error_types)
        self.delivery = delivery
