"""Posting JSON to Slack (incoming webhooks, response_url) with retries.

Retried: 5xx answers, timeouts and connection errors (exponential backoff with jitter),
and 429 after the Retry-After Slack sends. Not retried: any other 4xx (a bad payload or a
revoked webhook does not get better by asking again).

Invariants:
- The URL is never logged nor put in an exception (webhook URLs are credentials); logs
  name the `label` the caller gives (the route). Exceptions are raised `from None`, so no
  urllib error holding the URL is chained into a traceback.
- No wait is longer than `max_retry_after`, and the attempts together stay within
  `budget` seconds: a Retry-After beyond either fails at once, and the Lambda invocation
  fails with it, so Lambda's own retries (then the DLQ) take over. Nothing is dropped.
- Waiting goes through the injected `sleep` (tests never really sleep).

Stdlib urllib, not slack_sdk's WebhookClient: that client logs the URL at DEBUG level.
"""

from __future__ import annotations

import json
import logging
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

LOG = logging.getLogger("jobctl.alerts")


class DeliveryError(RuntimeError):
    """Slack did not take the message (after retries, when they made sense)."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable


@dataclass(frozen=True)
class _Answer:
    status: int | None  # None: no answer (timeout, connection error)
    body: str
    retry_after: float | None = None
    problem: str = ""


def _send(url: str, data: bytes, timeout: float) -> _Answer:
    request = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return _Answer(response.status, response.read(2000).decode("utf-8", "replace"))
    except urllib.error.HTTPError as error:
        body = error.read(2000).decode("utf-8", "replace") if error.fp else ""
        retry_after = error.headers.get("Retry-After") if error.headers else None
        return _Answer(error.code, body, _seconds(retry_after))
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        # The reason names the failure (timed out, refused), never the URL.
        return _Answer(None, "", problem=type(reason).__name__ + f": {reason}")


def _seconds(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None  # an HTTP date: treat as absent and back off normally
    return max(value, 0.0)


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
    send: Callable[[str, bytes, float], _Answer] = field(default=_send)

    def post(self, url: str, payload: dict[str, Any], *, label: str = "slack") -> None:
        data = json.dumps(payload, separators=(",", ":")).encode()
        started = self.clock()
        last = "no attempt made"
        for attempt in range(1, self.attempts + 1):
            try:
                answer = self.send(url, data, self.timeout)
            except ValueError:
                # urllib's message would quote the URL.
                raise DeliveryError(
                    f"Slack ({label}): the URL is not usable", retryable=False
                ) from None
            if answer.status is not None and 200 <= answer.status < 300:
                if attempt > 1:
                    LOG.info("Slack (%s) took the message on attempt %d", label, attempt)
                return
            if answer.status is None:
                last = f"no answer ({answer.problem})"
            else:
                last = f"HTTP {answer.status} {answer.body.strip()[:200]}".strip()
            retryable = answer.status is None or answer.status == 429 or answer.status >= 500
            if not retryable:
                raise DeliveryError(
                    f"Slack ({label}) refused the message: {last}",
                    status=answer.status,
                    retryable=False,
                )
            if attempt == self.attempts:
                break
            wait = self._wait(answer, attempt)
            elapsed = self.clock() - started
            if wait is None or elapsed + wait + self.timeout > self.budget:
                hint = f" (Retry-After {answer.retry_after:g}s)" if answer.retry_after else ""
                raise DeliveryError(
                    f"Slack ({label}) asked to wait longer than allowed{hint}: {last}",
                    status=answer.status,
                    retryable=True,
                )
            LOG.warning(
                "Slack (%s) attempt %d/%d failed: %s; retrying in %.1fs",
                label,
                attempt,
                self.attempts,
                last,
                wait,
            )
            self.sleep(wait)
        raise DeliveryError(
            f"Slack ({label}) did not take the message after {self.attempts} attempts: {last}",
            status=None,
            retryable=True,
        )

    def _wait(self, answer: _Answer, attempt: int) -> float | None:
        """Seconds to wait before the next attempt; None when that is longer than allowed."""
        retry_after = answer.retry_after
        if answer.status == 429 and retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after else None
        backoff = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        # Full jitter between half and all of the backoff: concurrent notifiers spread out.
        return backoff * (0.5 + self.jitter() / 2)
