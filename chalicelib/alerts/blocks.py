"""Block Kit rendering of an alert: header, fields, links, Re-run button.

Pure: (alert, notice, log link) -> the JSON body for an incoming webhook (`text` is the
notification fallback, `blocks` the message). Golden files in tests/golden/slack pin it.

Invariants:
- Every text stays within Block Kit's limits (header 150, section 3000, field 2000,
  button value 2000, confirm text 300 characters): longer values are cut with '…'.
- Text from the run (stopped reason, error, ids) is escaped for mrkdwn (&, <, >), so
  nothing in it can form a link or a mention.
- The Re-run button carries the run id in `value` and `action_id` RERUN_ACTION, and asks
  for confirmation; it appears on failure messages only.
- Times are Slack date tokens (each reader sees their own time zone) with the UTC time
  as the fallback text.
- A failure says what happened in plain words (`chalicelib.core.outcome.in_words`: "container
  app exited with code 3", not ECS's "Essential container in task exited"), and, when the
  notifier read them, the task's last lines (`tail`, already bounded and redacted) in a
  code block, or why they are missing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalicelib.alerts.message import Alert, RunContext, WatchContext
from chalicelib.alerts.storm import Notice
from chalicelib.alerts.tail import Tail
from chalicelib.core.outcome import GENERIC_STOP_REASON, in_words

RERUN_ACTION = "jobctl_rerun"
HEADER_LIMIT = 150
SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
NONE = "—"

Block = dict[str, Any]


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def when(text: str) -> str:
    """A Slack date token for an ISO 8601 time; the text itself when it is not one."""
    if not text:
        return NONE
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return escape(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    fallback = moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time_secs}}|{fallback}>"


def link(url: str, label: str) -> str:
    # A URL cannot hold '|' or '>' inside Slack's <url|label> syntax.
    return f"<{url.replace('|', '%7C').replace('>', '%3E')}|{label}>"


def code(text: str) -> str:
    if not text:
        return NONE
    # A backtick inside would end the code span early.
    inner = escape(text.replace("`", "'"))
    return f"`{inner}`"


def plain(text: str, limit: int) -> Block:
    return {"type": "plain_text", "text": cut(text, limit), "emoji": True}


def mrkdwn(text: str, limit: int = SECTION_LIMIT) -> Block:
    return {"type": "mrkdwn", "text": cut(text, limit)}


def fields(pairs: list[tuple[str, str]]) -> Block:
    # A section holds at most 10 fields.
    return {
        "type": "section",
        "fields": [mrkdwn(f"*{name}*\n{value}", FIELD_LIMIT) for name, value in pairs[:10]],
    }


def _place(context: RunContext | WatchContext) -> str:
    return f"{context.project}/{context.environment}" if context.environment else context.project


def _where(context: RunContext | WatchContext) -> str:
    return escape(_place(context))


def _label(context: RunContext | WatchContext) -> str:
    """`project/env job` for headers (plain text: no escaping)."""
    return f"{_place(context)} {context.job}"


def _links(console_url: str, log_url: str, console_label: str) -> Block | None:
    parts = []
    if console_url:
        parts.append(f":mag: {link(console_url, console_label)}")
    if log_url:
        parts.append(f":page_facing_up: {link(log_url, 'Container logs')}")
    return {"type": "section", "text": mrkdwn("   ".join(parts))} if parts else None


def render(
    alert: Alert,
    notice: Notice,
    *,
    log_url: str = "",
    tail: Tail | None = None,
    container: str = "",
) -> dict[str, Any]:
    """The webhook body for `notice` about `alert` (`tail`: the task's last lines, if read)."""
    context = alert.context
    if isinstance(context, RunContext):
        return _run(context, notice, log_url or context.log_url, tail, container)
    return _watch(context, notice)


def what_happened(context: RunContext, container: str = "") -> str:
    """A failed run's outcome in plain words (one line, unescaped): the exit code when the
    container exited ("container app exited with code 3"; ECS's reason, if it says more,
    goes in the Reason section), else why the task stopped or the attempt failed."""
    has_code = context.exit_code.lstrip("-").isdigit()
    reason = "" if has_code else context.stopped_reason
    words = in_words(context.exit_code, reason, context.error, container or None)
    if words and not container:
        words = words.replace("container of the task ", "the container ", 1)
    return words or "no reason was recorded"


def tail_lines(tail: Tail) -> list[str]:
    """The console's rendering of a tail (the same words as the Slack section)."""
    if not tail.lines:
        return [f"last output: not available ({tail.missing})"]
    count = len(tail.lines)
    return [f"last output ({count} line{'s' if count != 1 else ''}):", *tail.lines]


def _tail_block(tail: Tail) -> Block:
    if not tail.lines:
        return {
            "type": "section",
            "text": mrkdwn(f"*Last output*\n_Not available: {escape(tail.missing)}._"),
        }
    # Three backticks inside would end the code block early.
    body = escape("\n".join(tail.lines).replace("```", "`\u200b``"))
    count = len(tail.lines)
    title = f"*Last output* ({count} line{'s' if count != 1 else ''})"
    return {"type": "section", "text": mrkdwn(f"{title}\n```{cut(body, SECTION_LIMIT - 60)}```")}


def _run(
    context: RunContext, notice: Notice, log_url: str, tail: Tail | None, container: str
) -> dict[str, Any]:
    job = context.job
    label = _label(context)
    where = _where(context)
    exit_code = context.exit_code if context.exit_code.lstrip("-").isdigit() else ""
    trigger = escape(context.trigger or NONE)
    if context.triggered_by:
        trigger += f" by {escape(context.triggered_by)}"
    pairs = [
        ("Job", code(job)),
        ("Environment", where),
        ("Status", f"*{context.status}*"),
        ("Exit code", exit_code or NONE),
        ("Attempts", escape(context.attempts) or NONE),
        ("Trigger", trigger),
        ("Scheduled", when(context.scheduled_time)),
        ("Started", when(context.started_at)),
        ("Ended", when(context.ended_at)),
        ("Run", code(context.run_id)),
    ]
    blocks: list[Block] = []
    if notice.kind == "recovery":
        header = f":large_green_circle: {label} recovered"
        if notice.failures:
            summary = (
                f"Run {code(context.run_id)} succeeded after *{notice.failures}* failed "
                f"run{'s' if notice.failures != 1 else ''} (since {when(notice.since)})."
            )
        else:
            summary = f"Run {code(context.run_id)} succeeded after a failure."
        text = f"{where} {job} recovered"
        pairs = [p for p in pairs if p[0] not in ("Status", "Exit code")]
    else:
        timed_out = context.status == "TIMED_OUT"
        words = cut(escape(what_happened(context, container)), 1000)
        verb = "timed out" if timed_out else "failed"
        icon = ":hourglass:" if timed_out else ":red_circle:"
        if notice.kind == "repeat":
            header = f"{icon} {label} is still failing"
            summary = (
                f"*{notice.failures}* failed runs since {when(notice.since)}, "
                f"*{notice.unreported}* since the last message. Latest: run "
                f"{code(context.run_id)} {verb}: {words}."
            )
        else:
            header = f"{icon} {label} {verb}"
            summary = (
                f"Run {code(context.run_id)} {verb} after {escape(context.attempts)} "
                f"attempt{'s' if context.attempts != '1' else ''}: {words}."
            )
        text = f"{where} {job}: {context.status}" + (
            f" (exit code {exit_code})" if exit_code else ""
        )
    blocks.append({"type": "header", "text": plain(header, HEADER_LIMIT)})
    blocks.append({"type": "section", "text": mrkdwn(summary)})
    blocks.append(fields(pairs))
    # ECS's own reason, when the plain words above left it out (they name the exit code).
    reason = context.stopped_reason if exit_code else ""
    if notice.kind != "recovery" and reason and reason != GENERIC_STOP_REASON:
        blocks.append(
            {
                "type": "section",
                "text": mrkdwn(f"*Reason*\n```{cut(escape(reason), SECTION_LIMIT - 20)}```"),
            }
        )
    if notice.kind != "recovery" and tail is not None:
        blocks.append(_tail_block(tail))
    links = _links(context.console_url, log_url, "Execution")
    if links:
        blocks.append(links)
    if notice.kind != "recovery":
        blocks.append(_rerun_button(job, context.run_id))
        blocks.append(
            {
                "type": "context",
                "elements": [mrkdwn(f"From a terminal: {code(context.rerun_command)}")],
            }
        )
    return {"text": cut(text, SECTION_LIMIT), "blocks": blocks}


def _rerun_button(job: str, run_id: str) -> Block:
    return {
        "type": "actions",
        "block_id": "jobctl_actions",
        "elements": [
            {
                "type": "button",
                "action_id": RERUN_ACTION,
                "text": plain("Re-run", 75),
                "style": "primary",
                "value": cut(run_id, 2000),
                "confirm": {
                    "title": plain(f"Re-run {job}?", 100),
                    "text": plain(
                        f"Starts a new run of {job} with the parameters of {run_id}.", 300
                    ),
                    "confirm": plain("Re-run", 30),
                    "deny": plain("Cancel", 30),
                },
            }
        ],
    }


def _watch(context: WatchContext, notice: Notice) -> dict[str, Any]:
    job = context.job
    label = _label(context)
    where = _where(context)
    schedule = code(context.schedule) + (
        f" ({escape(context.timezone)})" if context.timezone else ""
    )
    last_run = (
        f"{code(context.last_run_id)} {escape(context.last_status)}".strip()
        if context.last_run_id
        else NONE
    )
    pairs = [
        ("Job", code(job)),
        ("Environment", where),
        ("Schedule", schedule),
        ("Expected by", when(context.expected_by)),
        ("Last success", when(context.last_success_at)),
        ("Last run", last_run),
    ]
    if notice.kind == "missed":
        header = f":warning: {label} missed its schedule"
        since = (
            f"since {when(context.last_success_at)}"
            if context.last_success_at
            else "since jobctl started watching it"
        )
        summary = f"No successful run {since}; one was expected by {when(context.expected_by)}."
        text = f"{where} {job}: no successful run since {context.last_success_at or 'deploy'}"
    else:
        header = f":large_green_circle: {label} is back on schedule"
        summary = f"Run {code(context.last_run_id)} succeeded at {when(context.last_success_at)}."
        text = f"{where} {job} is back on schedule"
        pairs = [p for p in pairs if p[0] != "Expected by"]
    blocks: list[Block] = [
        {"type": "header", "text": plain(header, HEADER_LIMIT)},
        {"type": "section", "text": mrkdwn(summary)},
        fields(pairs),
    ]
    links = _links(context.console_url, "", "State machine")
    if links:
        blocks.append(links)
    return {"text": cut(text, SECTION_LIMIT), "blocks": blocks}
