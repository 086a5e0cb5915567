"""Plans as text for people (like `terraform plan`) and as JSON for machines.

Invariant: text and JSON describe the same actions in the same order; the text's last line
is the summary `Plan: N to add, M to change, K to destroy.` or `No changes.`.
"""

from __future__ import annotations

import json
from typing import Any

from jobctl.deploy.plan import Action, Plan

SYMBOL = {"create": "+", "update": "~", "delete": "-"}
WIDTH = 100


def _short(value: Any) -> str:
    text = (
        json.dumps(value, sort_keys=True, separators=(",", ":"))
        if not isinstance(value, str)
        else repr(value)
    )
    return text if len(text) <= WIDTH else text[: WIDTH - 3] + "..."


def _where(plan: Plan) -> str:
    env = f"/{plan.env}" if plan.env else ""
    context = plan.context
    return f"{plan.project}{env} in account {context.account} ({context.region})"


def _action_lines(action: Action) -> list[str]:
    lines = [f"  {SYMBOL[action.verb]} {action.resource.label}"]
    for change in action.changes:
        lines.append(f"      {change.path}: {_short(change.old)} -> {_short(change.new)}")
    return lines


def plan_text(plan: Plan) -> str:
    lines = [f"jobctl plan: {_where(plan)}", ""]
    for action in plan.actions:
        lines += _action_lines(action)
    if plan.held_back:
        if plan.actions:
            lines.append("")
        lines.append(
            f"{len(plan.held_back)} resource(s) of jobs no longer in jobs.yaml are kept; "
            "`--prune` deletes them:"
        )
        for action in plan.held_back:
            lines.append(f"    {action.resource.label}")
    if plan.actions or plan.held_back:
        lines.append("")
    lines.append(summary(plan))
    return "\n".join(lines)


def summary(plan: Plan) -> str:
    if not plan.actions:
        return "No changes."
    return (
        f"Plan: {plan.count('create')} to add, {plan.count('update')} to change, "
        f"{plan.count('delete')} to destroy."
    )


def plan_json(plan: Plan) -> dict[str, Any]:
    def describe(action: Action) -> dict[str, Any]:
        return {
            "action": action.verb,
            "kind": action.resource.kind,
            "name": action.resource.name,
            "job": action.resource.job,
            "changes": [
                {"path": change.path, "old": change.old, "new": change.new}
                for change in action.changes
            ],
        }

    return {
        "project": plan.project,
        "environment": plan.env,
        "account": plan.context.account,
        "region": plan.context.region,
        "actions": [describe(action) for action in plan.actions],
        "held_back": [describe(action) for action in plan.held_back],
        "summary": {
            "add": plan.count("create"),
            "change": plan.count("update"),
            "destroy": plan.count("delete"),
        },
    }
