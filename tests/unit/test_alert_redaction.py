"""Redaction of task output in alerts (`chalicelib.alerts.redact`) and the tail's bounds."""

from __future__ import annotations

import json
import os

from chalicelib.alerts.redact import REDACTED, SHAPES_FILE, redact
from chalicelib.alerts.tail import TAIL_CHARS, TAIL_LINES, bounded, clean
from jobctl.registry import secrets

UPDATE = os.environ.get("JOBCTL_UPDATE_GOLDEN") == "1"


def _registry_shapes() -> str:
    """What `jobctl validate` detects, in the runtime's file format (jobctl's shapes first)."""
    own = [{"secret_type": why, "re2": source} for why, source in secrets._OWN_SHAPES]
    detected = [
        {
            "secret_type": f"a credential ({shape['secret_type']}, by detect-secrets)",
            "re2": shape["re2"],
        }
        for shape in json.loads(secrets.SHAPES_FILE.read_text(encoding="utf-8"))
    ]
    return json.dumps(own + detected, indent=1, sort_keys=True) + "\n"


def test_the_runtimes_shapes_are_the_registrys() -> None:
    expected = _registry_shapes()
    if UPDATE:
        SHAPES_FILE.write_text(expected, encoding="utf-8")
    assert SHAPES_FILE.read_text(encoding="utf-8") == expected, (
        "chalicelib/alerts/secret_shapes.json is stale: run the tests with JOBCTL_UPDATE_GOLDEN=1"
    )


# Built at run time so that no credential-shaped literal is in the repository.
SLACK_TOKEN = "xoxb-" + "2048-1024-abcdefABCDEF"
AWS_KEY = "AKIA" + "ABCDEFGHIJKLMNOP"
WEBHOOK = "https://hooks.slack.com/" + "services/T000/B000/XXXXXXXX"


def test_every_credential_shape_and_declared_secret_value_is_redacted_whole() -> None:
    assert redact(f"token {SLACK_TOKEN}, then more") == f"token {REDACTED} then more"
    assert redact(f"key={AWS_KEY}") == REDACTED
    # A shape matching a prefix takes the whole word: nothing of the webhook's path is left.
    assert redact(f"posting to {WEBHOOK} failed") == f"posting to {REDACTED} failed"
    assert redact("db postgres://app:" + "pw1234@db:5432/x up") == f"db {REDACTED} up"
    names = ["DB_PASSWORD", "API_TOKEN"]
    assert redact("DB_PASSWORD=hunter2 user=app", names) == f"DB_PASSWORD={REDACTED} user=app"
    assert redact('{"API_TOKEN": "a b c", "n": 1}', names) == f'{{"API_TOKEN": {REDACTED}, "n": 1}}'
    assert redact("API_TOKEN: s3cr3t", names) == f"API_TOKEN: {REDACTED}"
    assert redact("nothing secret in exit code 3") == "nothing secret in exit code 3"


def test_the_tail_is_the_newest_lines_within_its_bounds() -> None:
    lines = [f"line {n}" for n in range(25)]
    assert bounded(lines) == tuple(lines[-TAIL_LINES:])
    long = ["x" * 1000, "y" * 1000, "last"]
    kept = bounded(long)
    assert kept[-1] == "last" and kept[-2] == "y" * 1000
    assert kept[0].startswith("…") and len("\n".join(kept)) <= TAIL_CHARS
    # Terminal controls never reach the console or Slack.
    assert clean("\x1b[2Jred\x07", []) == "?[2Jred?"
