"""What EventBridge and EventBridge Scheduler would send to a state machine: pure functions.

The local scheduler fires the triggers that deploy created, so the execution input must be
byte-for-byte what AWS would build from them:

* a rule's target with an `InputTransformer` receives its `InputTemplate` filled from the
  scheduled event (`{version, id, detail-type: "Scheduled Event", source: "aws.events",
  account, time, region, resources: [rule ARN], detail: {}}`) through `InputPathsMap`;
* a Scheduler schedule's target receives its `Input` text with the context attributes
  (`<aws.scheduler.scheduled-time>`, ...) substituted.

Invariants: no clock, no randomness, no AWS (callers pass times and ids); a template whose
result is not valid JSON raises `ValueError` (AWS would not start the execution either).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

MISSING: Any = object()  # a JSON path that matches nothing
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")


def iso(instant: datetime) -> str:
    """EventBridge's timestamp format: UTC, whole seconds, `Z`."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def scheduled_event(
    *, event_id: str, time: datetime, region: str, account: str, rule_arn: str
) -> dict[str, Any]:
    """The event a scheduled rule emits at `time` (the scheduled minute, not the delivery)."""
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": iso(time),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


def json_path(document: Any, path: str) -> Any:
    """EventBridge's JSONPath subset: `$`, dot notation, array indices; `MISSING` if absent."""
    if path == "$":
        return document
    if not path.startswith("$."):
        raise ValueError(f"unsupported JSON path {path!r}: EventBridge paths start with '$.'")
    value = document
    for segment in path[2:].split("."):
        match = re.fullmatch(r"([^\[\]]+)((?:\[\d+\])*)", segment)
        if match is None:
            raise ValueError(f"unsupported JSON path {path!r}")
        key, indices = match.group(1), re.findall(r"\[(\d+)\]", match.group(2))
        if not isinstance(value, dict) or key not in value:
            return MISSING
        value = value[key]
        for index in indices:
            if not isinstance(value, list) or int(index) >= len(value):
                return MISSING
            value = value[int(index)]
    return value


def transform_input(
    transformer: dict[str, Any],
    event: dict[str, Any],
    *,
    rule_arn: str,
    rule_name: str,
    ingestion_time: datetime,
) -> str:
    """Apply a target's InputTransformer to `event`, as EventBridge does.

    A placeholder inside a JSON string is replaced by the value's text (strings unquoted and
    escaped for JSON); outside a string, by the value as JSON. A path absent from the event
    gives `null` outside a string and nothing inside one. The predefined variables
    `aws.events.rule-arn`, `aws.events.rule-name`, `aws.events.event.ingestion-time`,
    `aws.events.event` (the event without `detail`) and `aws.events.event.json` (all of it)
    are available as in AWS. Returns the text sent as the execution input.
    """
    values: dict[str, Any] = {
        name: json_path(event, path)
        for name, path in (transformer.get("InputPathsMap") or {}).items()
    }
    values.update(
        {
            "aws.events.rule-arn": rule_arn,
            "aws.events.rule-name": rule_name,
            "aws.events.event.ingestion-time": iso(ingestion_time),
            "aws.events.event": {k: v for k, v in event.items() if k != "detail"},
            "aws.events.event.json": event,
        }
    )
    template = str(transformer.get("InputTemplate", ""))
    out: list[str] = []
    in_string = False
    index = 0
    while index < len(template):
        char = template[index]
        if char == "<":
            match = _PLACEHOLDER.match(template, index)
            if match and match.group(1) in values:
                out.append(_render(values[match.group(1)], in_string))
                index = match.end()
                continue
        if char == "\\" and in_string:
            out.append(template[index : index + 2])
            index += 2
            continue
        if char == '"':
            in_string = not in_string
        out.append(char)
        index += 1
    text = "".join(out)
    if template.lstrip().startswith(("{", "[")):
        json.loads(text)  # ValueError: AWS would reject this input too
    return text


def _render(value: Any, in_string: bool) -> str:
    if value is MISSING:
        return "" if in_string else "null"
    if in_string:
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        return json.dumps(text)[1:-1]  # escaped for a JSON string, without its quotes
    return json.dumps(value, separators=(",", ":"))


def scheduler_input(
    template: str,
    *,
    schedule_arn: str,
    scheduled_time: datetime,
    execution_id: str,
    attempt: int = 1,
) -> str:
    """A Scheduler target's Input with its context attributes substituted (plain text)."""
    attributes = {
        "aws.scheduler.schedule-arn": schedule_arn,
        "aws.scheduler.scheduled-time": iso(scheduled_time),
        "aws.scheduler.execution-id": execution_id,
        "aws.scheduler.attempt-number": str(attempt),
    }
    return _PLACEHOLDER.sub(lambda m: attributes.get(m.group(1), m.group(0)), template)
