"""Saved plans: `jobctl plan --out PLAN`, then `jobctl apply PLAN` in a later pipeline stage.

Owns the file format (a versioned pydantic model, JSON), its fingerprint and the rule that
lets apply go ahead. A saved plan holds the plan's actions in full (desired spec and tags,
what was deployed, the field changes), the references and the values they resolved to, and
where it applies (project, environment, account, region, the registry's SHA-256).
Invariants: apply re-plans under the deploy lock and executes only if that fresh plan's
fingerprint equals the saved one (same actions, same deployed values they were computed
from, same resolved references): a change in AWS, in jobs.yaml or in a reference's value
since the review refuses the apply, exit 1, with nothing changed. A file edited by hand
(its fingerprint no longer matching its content) or of another format is refused too.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from chalicelib.core.errors import JobctlError
from jobctl.deploy.plan import Action, Plan
from jobctl.deploy.references import Resolution

FORMAT: Literal["jobctl.saved-plan/1"] = "jobctl.saved-plan/1"


class PlanFileError(JobctlError):
    """A plan file that cannot be read or is not a jobctl plan. Exit 2."""

    exit_status = 2


class StalePlanError(JobctlError):
    """The saved plan no longer describes what apply would do. Exit 1, nothing changed."""

    def lines(self) -> list[str]:
        return [
            f"jobctl: {line}" if i == 0 else line for i, line in enumerate(self.message.split("\n"))
        ]


class SavedPlan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["jobctl.saved-plan/1"] = FORMAT
    project: str
    environment: str | None
    account: str
    region: str
    registry_sha256: str
    prune: bool
    references: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    held_back: list[dict[str, Any]]
    fingerprint: str

    @property
    def has_changes(self) -> bool:
        return bool(self.actions)


def action_data(action: Action) -> dict[str, Any]:
    """One action, complete: what apply does and what plan read to decide it."""
    previous = action.previous
    return {
        "action": action.verb,
        "kind": str(action.resource.kind),
        "name": action.resource.name,
        "job": action.resource.job,
        "spec": action.resource.spec,
        "tags": action.resource.tags,
        "previous": {"spec": previous.spec, "tags": previous.tags} if previous else None,
        "changes": [{"path": c.path, "old": c.old, "new": c.new} for c in action.changes],
    }


def _canonical(value: Any) -> Any:
    """JSON-normalized (tuples are lists, keys are text), as the file holds it."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _fingerprint(content: dict[str, Any]) -> str:
    """SHA-256 of everything the plan holds but its fingerprint (canonical JSON)."""
    text = json.dumps(
        {key: value for key, value in content.items() if key != "fingerprint"},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(text.encode()).hexdigest()


def registry_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def saved_plan(
    plan: Plan, references: list[Resolution], registry_path: Path, *, prune: bool
) -> SavedPlan:
    content = _canonical(
        {
            "format": FORMAT,
            "project": plan.project,
            "environment": plan.env,
            "account": plan.context.account,
            "region": plan.context.region,
            "registry_sha256": registry_digest(registry_path),
            "prune": prune,
            "references": [r.to_data() for r in references],
            "actions": [action_data(a) for a in plan.actions],
            "held_back": [action_data(a) for a in plan.held_back],
        }
    )
    return SavedPlan(**content, fingerprint=_fingerprint(content))


def write_plan(path: Path, saved: SavedPlan) -> None:
    try:
        path.write_text(saved.model_dump_json(indent=2) + "\n")
    except OSError as exc:
        raise PlanFileError(f"cannot write the plan to {path}: {exc.strerror}") from None


def read_plan(path: Path) -> SavedPlan:
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise PlanFileError(f"cannot read the plan {path}: {exc.strerror}") from None
    except ValueError:
        raise PlanFileError(f"{path} is not a jobctl plan (not JSON)") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else None
        raise PlanFileError(
            f"{path} is not a plan this jobctl can apply (format {found!r}, expected "
            f"{FORMAT!r}): run `jobctl plan --out` again"
        )
    try:
        saved = SavedPlan.model_validate(data)
    except ValidationError as exc:
        raise PlanFileError(
            f"{path} is not a valid jobctl plan: {exc.errors()[0]['msg']}"
        ) from None
    if _fingerprint(saved.model_dump()) != saved.fingerprint:
        raise PlanFileError(f"{path} was modified after it was made: its fingerprint differs")
    return saved


def check_target(saved: SavedPlan, project: str, env: str | None, registry_path: Path) -> None:
    """Refuse a plan made for another registry, environment or version of jobs.yaml."""
    if (saved.project, saved.environment) != (project, env):
        made = f"{saved.project}/{saved.environment}" if saved.environment else saved.project
        here = f"{project}/{env}" if env else project
        raise StalePlanError(f"this plan was made for {made}, not {here}: nothing was changed")
    if registry_digest(registry_path) != saved.registry_sha256:
        raise StalePlanError(
            f"{registry_path} changed since this plan was made: run `jobctl plan --out` "
            "again and review it; nothing was changed"
        )


def check_unchanged(saved: SavedPlan, fresh: SavedPlan) -> None:
    """Refuse unless a fresh plan is exactly the saved one (see the module invariants)."""
    if (fresh.account, fresh.region) != (saved.account, saved.region):
        raise StalePlanError(
            f"this plan was made for account {saved.account} ({saved.region}), but these "
            f"credentials are for {fresh.account} ({fresh.region}): nothing was changed"
        )
    if fresh.fingerprint == saved.fingerprint:
        return
    lines = ["AWS or a reference changed since this plan was made; nothing was changed:"]
    lines += _differences(saved, fresh)
    lines.append("Run `jobctl plan --out` again and review the new plan.")
    raise StalePlanError("\n".join(lines))


def _differences(saved: SavedPlan, fresh: SavedPlan) -> list[str]:
    def keyed(actions: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
        return {(a["action"], a["kind"], a["name"]): a for a in actions}

    lines = []
    old, new = keyed(saved.actions), keyed(fresh.actions)
    for key in sorted(set(old) | set(new)):
        verb, kind, name = key
        if key not in new:
            lines.append(f"  {verb} {kind} {name}: no longer planned")
        elif key not in old:
            lines.append(f"  {verb} {kind} {name}: now planned, not in the saved plan")
        elif old[key] != new[key]:
            lines.append(f"  {verb} {kind} {name}: differs (deployed value or change)")
    if saved.held_back != fresh.held_back:
        lines.append("  resources kept without --prune differ")
    then = {(r["reference"], r["where"]): r["value"] for r in saved.references}
    for ref in fresh.references:
        before = then.get((ref["reference"], ref["where"]))
        if before != ref["value"]:
            lines.append(f"  {ref['where']}: {ref['reference']}: {before!r} -> {ref['value']!r}")
    return lines
