"""Redaction of task output before it leaves for Slack or the console: no secret, ever.

A failed task's last lines go into its alert. They may hold a credential the job printed
(a connection URL with its password, a token in an error message), and Slack channels are
read by more people than the job's logs. Two kinds of evidence, as `jobctl validate` uses
for jobs.yaml (jobctl/registry/secrets.py):

- a value shaped like a credential: `secret_shapes.json` next to this file, which is
  jobctl's own shapes and every detect-secrets regex plugin's, as RE2 sources (the runtime
  cannot import jobctl; tests/unit/test_alert_redaction.py fails when this copy differs
  from what the registry's check uses, and rewrites it with JOBCTL_UPDATE_GOLDEN=1);
- the job's declared secret names (the task definition's `secrets`, recorded at deploy in
  the job's META config): `NAME=value`, `NAME: value` and `"NAME": "value"` lose the value.

Invariants: a match is widened to the whole whitespace-delimited word holding it (a shape
that matches a prefix such as `hooks.slack.com/services/` takes the rest of the URL with
it), so no part of a detected secret survives; every pattern is RE2 (linear time in the
text); the replacement is REDACTED, which no shape matches.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import re2  # type: ignore[import-untyped]

SHAPES_FILE = Path(__file__).with_name("secret_shapes.json")
REDACTED = "[redacted]"

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False


@cache
def _shapes() -> tuple[Any, ...]:
    sources = [shape["re2"] for shape in json.loads(SHAPES_FILE.read_text(encoding="utf-8"))]
    return tuple(re2.compile(source, _OPTIONS) for source in sources)


@cache
def _any_shape() -> Any:
    """One alternation of every shape: one linear pass clears most lines."""
    return re2.compile("|".join(f"(?:{shape.pattern})" for shape in _shapes()), _OPTIONS)


@cache
def _named(names: tuple[str, ...]) -> Any | None:
    """`NAME=value`, `NAME: value`, `"NAME": "value"` for the declared secret names."""
    wanted = [re.escape(name) for name in names if name]
    if not wanted:
        return None
    # Group 1 keeps the name and its separator; the value is what follows, to the next
    # whitespace, comma or closing brace (a JSON value loses its quotes too).
    return re2.compile(
        rf"""(\b(?:{"|".join(wanted)})["']?\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s,}}]+)""", _OPTIONS
    )


def redact(text: str, secret_names: Iterable[str] = ()) -> str:
    """`text` with every credential-shaped word and every declared secret's value replaced
    by REDACTED."""
    named = _named(tuple(sorted(set(secret_names))))
    if named is not None:
        text = named.sub(lambda m: m.group(1) + REDACTED, text)
    if not _any_shape().search(text):
        return text
    spans: list[tuple[int, int]] = []
    for shape in _shapes():
        for match in shape.finditer(text):
            start, end = match.span()
            if start == end:
                continue
            while start > 0 and not text[start - 1].isspace():
                start -= 1
            while end < len(text) and not text[end].isspace():
                end += 1
            spans.append((start, end))
    spans.sort()
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    for start, end in reversed(merged):
        text = text[:start] + REDACTED + text[end:]
    return text
