"""Executes a plan: exactly its actions, in dependency order, in parallel within an order.

Owns concurrency and failure handling. Actions of the same order (same verb direction and
level) run in parallel on a bounded pool; a later order starts only when the earlier one
fully succeeded, so nothing is created on top of a failed dependency. A failure part-way
is reported action by action; since every gateway write converges, the next plan picks up
exactly what is left.
Invariant: apply never reads AWS to decide anything; throttling and transient errors are
retried by the clients (botocore adaptive mode).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from itertools import groupby

from chalicelib.aws.clients import describe_error
from jobctl.deploy.gateways import Gateways
from jobctl.deploy.plan import Action, Plan


@dataclass
class ApplyResult:
    done: list[Action] = field(default_factory=list)
    failed: list[tuple[Action, str]] = field(default_factory=list)
    not_started: list[Action] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.not_started


def apply_plan(
    plan: Plan,
    gateways: Gateways,
    *,
    workers: int = 8,
    on_done: Callable[[Action, str | None], None] | None = None,
) -> ApplyResult:
    result = ApplyResult()
    stages = [list(group) for _, group in groupby(plan.actions, key=_stage)]
    for index, stage in enumerate(stages):
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(_run, action, gateways): action for action in stage}
            for future in as_completed(futures):
                action, error = futures[future], future.result()
                if error is None:
                    result.done.append(action)
                else:
                    result.failed.append((action, error))
                if on_done:
                    on_done(action, error)
        if result.failed:
            result.not_started = [action for later in stages[index + 1 :] for action in later]
            break
    return result


def _stage(action: Action) -> int:
    return action.order[0]


def _run(action: Action, gateways: Gateways) -> str | None:
    gateway = gateways[action.resource.kind]
    try:
        if action.verb == "create":
            gateway.create(action.resource)
        elif action.verb == "update":
            assert action.previous is not None
            gateway.update(action.previous, action.resource)
        else:
            gateway.delete(action.resource)
    except Exception as exc:  # reported per action; the rest of the stage still runs
        return describe_error(exc)
    return None
