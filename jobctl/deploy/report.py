"""Plans for pipelines: resolved references as text, a Markdown pull-request comment, and
the versioned JSON document `plan --format json` prints.

Owns these three renderings (`jobctl.deploy.render` owns the terminal diff they build on).
Invariants: every rendering lists the same actions in the plan's order and the same
summary line as the text; the JSON has `format_version` (bumped on any incompatible
change) and `changes` (true when apply would change something), so a pipeline can gate on
it; Markdown cells escape `|`, backticks and newlines, and long values are cut, so a
comment stays well under GitHub's 65,536-character limit for any plan a registry makes.
"""

from __future__ import annotations

import json
from typing import Any

from jobctl.deploy.plan import Action, Plan
from jobctl.deploy.references import Resolution
from jobctl.deploy.render import SYMBOL, plan_json, summary

FORMAT_VERSION = 1
CELL = 60
MAX_CHANGES_SHOWN = 5


def references_text(references: list[Resolution]) -> str:
    """`FILE:LINE:COL: ${ref} -> value` per reference, under a heading; empty without any."""
    if not references:
        return ""
    lines = ["References:"]
    lines += [f"  {r.where}: {r.reference} -> {r.shown}" for r in references]
    return "\n".join(lines) + "\n"


def plan_document(plan: Plan, references: list[Resolution]) -> dict[str, Any]:
    """`jobctl plan --format json`: `render.plan_json`, versioned, with the references."""
    return {
        "format_version": FORMAT_VERSION,
        **plan_json(plan),
        "changes": bool(plan.actions),
        "references": [r.to_data() for r in references],
    }


def _cell(text: str) -> str:
    text = text if len(text) <= CELL else text[: CELL - 3] + "..."
    for char, escaped in (("\\", "\\\\"), ("|", "\\|"), ("`", "'"), ("\n", " "), ("\r", " ")):
        text = text.replace(char, escaped)
    return text


def _changes(action: Action) -> str:
    paths = [change.path for change in action.changes]
    shown = ", ".join(f"`{_cell(path)}`" for path in paths[:MAX_CHANGES_SHOWN])
    more = len(paths) - MAX_CHANGES_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def plan_markdown(plan: Plan, references: list[Resolution]) -> str:
    """A pull-request comment: the target, the summary line, a table of actions per job."""
    env = f"/{plan.env}" if plan.env else ""
    where = f"`{plan.project}{env}` in account `{plan.context.account}` ({plan.context.region})"
    lines = [f"### jobctl plan: {where}", "", f"**{summary(plan)}**", ""]
    if plan.actions:
        lines += ["| job | action | resource | changes |", "|---|---|---|---|"]
        ordered = sorted(plan.actions, key=lambda a: (a.resource.job or "", a.order))
        for action in ordered:
            job = f"`{action.resource.job}`" if action.resource.job else "(environment)"
            lines.append(
                f"| {job} | {SYMBOL[action.verb]} {action.verb} | "
                f"{_cell(action.resource.label)} | {_changes(action)} |"
            )
        lines.append("")
    if plan.held_back:
        lines.append(
            f"{len(plan.held_back)} resource(s) of jobs no longer in jobs.yaml are kept; "
            "`--prune` deletes them: " + ", ".join(_cell(a.resource.label) for a in plan.held_back)
        )
        lines.append("")
    if references:
        lines += [
            f"<details><summary>References ({len(references)})</summary>",
            "",
            "| where | reference | value |",
            "|---|---|---|",
        ]
        for ref in references:
            lines.append(
                f"| {_cell(ref.where)} | `{_cell(ref.reference)}` | `{_cell(ref.shown)}` |"
            )
        lines += ["", "</details>", ""]
    return "\n".join(lines)


def dump_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"
