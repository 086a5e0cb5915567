"""Block Kit rendering: golden payloads (JOBCTL_UPDATE_GOLDEN=1 rewrites them), Block Kit
validity (slack_sdk's models), escaping and limits."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from chalicelib.alerts.blocks import RERUN_ACTION, render, when
from chalicelib.alerts.message import parse_alert
from chalicelib.alerts.storm import Notice
from chalicelib.alerts.tail import Tail
from tests.support.alert_samples import run_alert, text, watch

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "slack"
UPDATE = os.environ.get("JOBCTL_UPDATE_GOLDEN") == "1"
LOG_URL = (
    "https://ap-northeast-1.console.aws.amazon.com/cloudwatch/home?region=ap-northeast-1"
    "#logsV2:log-groups/log-group/$252Fecs$252Fapp/log-events/batch$252Fapp$252F0123"
)

CASES: dict[str, tuple[dict[str, Any], Notice, str]] = {
    "failure": (run_alert(), Notice("failure", 1, 1, "2026-03-01T03:12:40.512Z"), LOG_URL),
    "timeout": (
        run_alert(
            status="TIMED_OUT",
            exit_code="",
            stopped_reason="",
            error="States.Timeout",
            attempts="1",
            task="",
        ),
        Notice("failure", 1, 1, "2026-03-01T03:12:40.512Z"),
        "",
    ),
    "repeat": (
        run_alert(run_id="daily-report-20260301T0900", ended_at="2026-03-01T09:05:00Z"),
        Notice("repeat", 7, 6, "2026-03-01T03:12:40.512Z"),
        LOG_URL,
    ),
    "recovery": (
        run_alert("recovery", run_id="daily-report-20260301T1000", attempts="1"),
        Notice("recovery", 7, 0, "2026-03-01T03:12:40.512Z"),
        LOG_URL,
    ),
    "recovery-unknown-count": (
        run_alert("recovery", run_id="daily-report-20260301T1000", attempts="1"),
        Notice("recovery"),
        "",
    ),
    "missed": (watch("missed"), Notice("missed"), ""),
    "missed-never-succeeded": (
        watch("missed", last_success_at="", last_run_id="", last_status="", timezone=""),
        Notice("missed"),
        "",
    ),
    "resumed": (watch("resumed"), Notice("resumed"), ""),
    "failure-with-output": (
        run_alert(stopped_reason="Essential container in task exited"),
        Notice("failure", 1, 1, "2026-03-01T03:12:40.512Z"),
        LOG_URL,
    ),
    "failure-output-unavailable": (
        run_alert(stopped_reason="Essential container in task exited"),
        Notice("failure", 1, 1, "2026-03-01T03:12:40.512Z"),
        LOG_URL,
    ),
}
# The task's last lines, as the notifier read them (bounded and redacted by `tail`).
TAILS = {
    "failure-with-output": Tail(
        lines=("loading 2026-02-28", "connecting to [redacted]", "error: <relation> `x` & y")
    ),
    "failure-output-unavailable": Tail(missing="the logs could not be read (AccessDenied)"),
}


def rendered(name: str) -> dict[str, Any]:
    message, notice, log_url = CASES[name]
    return render(
        parse_alert(text(message)), notice, log_url=log_url, tail=TAILS.get(name), container="app"
    )


@pytest.mark.parametrize("name", sorted(CASES))
def test_payload_matches_golden_file(name: str) -> None:
    path = GOLDEN / f"{name}.json"
    body = json.dumps(rendered(name), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if UPDATE:
        GOLDEN.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
    assert path.exists(), f"missing golden file {path.name}: run with JOBCTL_UPDATE_GOLDEN=1"
    assert body == path.read_text(encoding="utf-8"), f"{path.name} differs from the renderer"


def test_no_orphan_golden_files() -> None:
    assert {p.stem for p in GOLDEN.glob("*.json")} == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_payload_is_valid_block_kit(name: str) -> None:
    payload = rendered(name)
    assert payload["text"], "the notification fallback text"
    assert 1 <= len(payload["blocks"]) <= 50
    for block in payload["blocks"]:
        parsed = Block.parse(block)
        assert parsed is not None, block["type"]
        parsed.validate_json()  # raises on any Block Kit limit or shape violation
        assert parsed.to_dict() == block, "nothing slack_sdk does not know about"


def test_failure_has_header_fields_links_and_a_rerun_button_with_the_run_id() -> None:
    blocks = rendered("failure")["blocks"]
    assert [b["type"] for b in blocks] == [
        "header",
        "section",
        "section",
        "section",
        "section",
        "actions",
        "context",
    ]
    fields = {f["text"].split("\n")[0] for f in blocks[2]["fields"]}
    assert fields == {
        "*Job*",
        "*Environment*",
        "*Status*",
        "*Exit code*",
        "*Attempts*",
        "*Trigger*",
        "*Scheduled*",
        "*Started*",
        "*Ended*",
        "*Run*",
    }
    (button,) = blocks[5]["elements"]
    assert (button["action_id"], button["value"]) == (RERUN_ACTION, "daily-report-20260301T0300")
    assert "confirm" in button
    assert "Container logs" in blocks[4]["text"]["text"] and LOG_URL in blocks[4]["text"]["text"]


def test_a_failure_says_what_happened_in_plain_words_not_ecss_generic_reason() -> None:
    payload = rendered("failure-with-output")
    texts = json.dumps(payload)
    assert "container app exited with code 3" in texts
    assert "Essential container in task exited" not in texts


def test_a_failure_carries_the_tasks_last_lines_escaped_in_a_code_block() -> None:
    blocks = rendered("failure-with-output")["blocks"]
    (section,) = [
        b for b in blocks if b.get("text", {}).get("text", "").startswith("*Last output*")
    ]
    assert section["text"]["text"] == (
        "*Last output* (3 lines)\n```loading 2026-02-28\nconnecting to [redacted]\n"
        "error: &lt;relation&gt; `x` &amp; y```"
    )


def test_a_failure_whose_logs_could_not_be_read_says_so() -> None:
    blocks = rendered("failure-output-unavailable")["blocks"]
    assert any(
        b.get("text", {}).get("text")
        == "*Last output*\n_Not available: the logs could not be read (AccessDenied)._"
        for b in blocks
    )


def test_recovery_and_watch_messages_have_no_rerun_button() -> None:
    for name in ("recovery", "missed", "resumed"):
        assert all(b["type"] != "actions" for b in rendered(name)["blocks"]), name


def test_run_text_is_escaped_and_cut_to_block_kit_limits() -> None:
    hostile = "<!channel> & <https://evil.example|click> " + "x" * 5000
    message = run_alert(stopped_reason=hostile, job="report")
    payload = render(parse_alert(text(message)), Notice("failure", 1, 1, ""))
    sections = [b for b in payload["blocks"] if b["type"] == "section" and "text" in b]
    reason = next(s["text"]["text"] for s in sections if s["text"]["text"].startswith("*Reason*"))
    assert "<!channel>" not in reason and "&lt;!channel&gt; &amp; &lt;https" in reason
    assert len(reason) <= 3000 and reason.endswith("…```")
    for block in payload["blocks"]:
        Block.parse(block).validate_json()  # type: ignore[union-attr]


def test_times_are_slack_date_tokens_with_utc_fallback() -> None:
    assert when("2026-03-01T03:00:00Z") == (
        "<!date^1772334000^{date_short_pretty} {time_secs}|2026-03-01 03:00:00 UTC>"
    )
    assert when("") == "—"
    assert when("not a time <x>") == "not a time &lt;x&gt;"
