"""The last lines a failed task printed, for its alert: bounded, redacted, best effort.

Read from CloudWatch Logs (`logs:GetLogEvents` with `startFromHead=false` and a `limit`:
one call, the newest events) in the stream of the failed attempt's task, named from the
job's awslogs settings recorded at deploy (`chalicelib.history.links.log_stream`).

Invariants:
- At most TAIL_LINES lines and TAIL_CHARS characters (the newest kept, the rest cut with
  '…' at the front); each line redacted (`redact`, with the job's declared secret names)
  and stripped of characters a terminal would interpret (`chalicelib.core.text.UNSAFE`).
- `read_tail` never raises: logs that cannot be read give a `Tail` with no lines and
  `missing` saying why, so the alert still goes out and says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from chalicelib.alerts.redact import redact
from chalicelib.core.deployed import DeployedJob
from chalicelib.core.text import UNSAFE
from chalicelib.history.links import log_stream

LOG = logging.getLogger("jobctl.alerts")
TAIL_LINES = 10
TAIL_CHARS = 1500


@dataclass(frozen=True)
class Tail:
    """The task's last lines (oldest first), or why there are none (`missing`)."""

    lines: tuple[str, ...] = ()
    missing: str = ""


def bounded(lines: list[str]) -> tuple[str, ...]:
    """The newest lines within TAIL_LINES and TAIL_CHARS (newline included)."""
    kept: list[str] = []
    room = TAIL_CHARS
    for line in reversed(lines[-TAIL_LINES:]):
        if len(line) + 1 > room:
            if room > 1:
                kept.append("…" + line[len(line) - room + 2 :])
            break
        kept.append(line)
        room -= len(line) + 1
    return tuple(reversed(kept))


def clean(message: str, secret_names: list[str]) -> str:
    return UNSAFE.sub("?", redact(message.rstrip("\r\n"), secret_names))


def read_tail(logs: Any, config: DeployedJob | None, task_arn: str) -> Tail:
    """The last lines of `task_arn`'s container log, read with the `logs` client."""
    if config is None:
        return Tail(missing="the job's deployed settings could not be read")
    if config.logs is None:
        return Tail(missing="the container's logs do not go to CloudWatch Logs")
    stream = log_stream(config.logs.stream_prefix, config.container, task_arn)
    if not stream:
        return Tail(missing="no log stream for this task")
    try:
        found = logs.get_log_events(
            logGroupName=config.logs.group,
            logStreamName=stream,
            startFromHead=False,
            limit=TAIL_LINES,
        )
    except Exception as exc:  # the alert matters more than its tail
        code = getattr(exc, "response", {}).get("Error", {}).get("Code") or type(exc).__name__
        if code == "ResourceNotFoundException":
            return Tail(missing="the task logged nothing")
        LOG.warning("no output for the alert of %s: %s", task_arn, code)
        return Tail(missing=f"the logs could not be read ({code})")
    messages = [str(event.get("message", "")) for event in found.get("events", [])]
    lines = [clean(message, config.secret_names) for message in messages]
    if not lines:
        return Tail(missing="the task logged nothing")
    return Tail(lines=bounded(lines))
