"""`jobctl plan / apply / destroy`: confirmation, progress and reporting around the service.

Exit status: 0 done (or nothing to do), 1 AWS refused something or apply failed part-way
(the report says what is left; running apply again converges), 2 invalid input. Failures
before the first write (credentials, region, a conflict, a missing task definition, the
deploy lock held by another apply, a checkout older than the deployed commit) are
`JobctlError`s that `jobctl.cli.main` prints. apply and destroy hold the environment's
deploy lock (`jobctl.deploy.lock`) from before their plan to after their last write. Invariant: importing this module imports no
boto3, rich or registry (the parser imports it); the handlers import them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobctl.cli.verbs import EXIT_FAILED, EXIT_OK, Verbs, positive, registry_of

if TYPE_CHECKING:
    from rich.console import Console

    from chalicelib.aws.clients import ClientFactory
    from jobctl.deploy.plan import Action, Plan
    from jobctl.deploy.service import DeployService


def register(verbs: Verbs) -> None:
    plan = verbs.add(
        "plan",
        "show what apply would change in AWS",
        plan_command,
        aws=True,
        json_help="print the plan as JSON",
    )
    plan.add_argument("--prune", action="store_true", help="include deleting removed jobs")

    apply = verbs.add(
        "apply",
        "create, update (and with --prune delete) AWS resources",
        apply_command,
        aws=True,
    )
    apply.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    apply.add_argument("--prune", action="store_true", help="delete resources of removed jobs")
    apply.add_argument("--concurrency", type=positive, default=8, help="parallel AWS writes")
    apply.add_argument(
        "--allow-older",
        action="store_true",
        help="apply even if this checkout does not contain the deployed commit",
    )

    destroy = verbs.add(
        "destroy", "delete everything jobctl owns in this environment", destroy_command, aws=True
    )
    destroy.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    destroy.add_argument("--concurrency", type=positive, default=8, help="parallel AWS writes")


def __getattr__(name: str) -> Any:
    # `ClientFactory` imports boto3, so it is bound here on first use rather than imported
    # with the module; tests substitute it on this module (monkeypatch.setattr).
    if name == "ClientFactory":
        from chalicelib.aws.clients import ClientFactory

        globals()[name] = ClientFactory
        return ClientFactory
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _service(args: argparse.Namespace) -> DeployService:
    from jobctl.deploy.service import DeployService

    registry = registry_of(args)
    if "ClientFactory" not in globals():
        __getattr__("ClientFactory")
    return DeployService(ClientFactory(profile=args.profile), registry, args.env)


def plan_command(args: argparse.Namespace, out: Console) -> int:
    from jobctl.deploy.render import plan_json, plan_text

    plan = _service(args).plan(prune=args.prune)
    if args.json:
        sys.stdout.write(json.dumps(plan_json(plan), indent=2, sort_keys=True) + "\n")
    else:
        out.print(plan_text(plan), markup=False)
    return EXIT_OK


def apply_command(args: argparse.Namespace, out: Console) -> int:
    from jobctl.deploy.lock import registry_revision

    service = _service(args)
    path = Path(getattr(args, "path", None) or args.file)
    revision = registry_revision(path)
    # Locked from before the plan to after the last write: two applies never interleave,
    # and one from a checkout behind the deployed commit is refused before planning.
    with service.locked(revision) as lock:
        lock.check(revision, path.resolve().parent, allow_older=args.allow_older)
        status = _execute(service, service.plan(prune=args.prune), args, out, "apply")
        if status == EXIT_OK:
            lock.record(revision)
        return status


def destroy_command(args: argparse.Namespace, out: Console) -> int:
    from jobctl.deploy.lock import registry_revision

    service = _service(args)
    revision = registry_revision(Path(getattr(args, "path", None) or args.file))
    with service.locked(revision):
        return _execute(service, service.plan(destroy=True), args, out, "destroy")


def _execute(
    service: DeployService, plan: Plan, args: argparse.Namespace, out: Console, verb: str
) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from jobctl.deploy.render import SYMBOL, plan_text

    out.print(plan_text(plan), markup=False)
    if not plan.actions:
        return EXIT_OK
    if not args.yes and not _confirm(plan, verb):
        out.print(f"{verb} cancelled: nothing was changed")
        return EXIT_FAILED
    errors = Console(stderr=True, highlight=False)
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), console=errors
    ) as progress:
        task = progress.add_task(verb, total=len(plan.actions))

        def on_done(action: Action, error: str | None) -> None:
            progress.advance(task)
            if error:
                progress.console.print(f"  ! {action.resource.label}: {error}", markup=False)

        result = service.apply(plan, workers=args.concurrency, on_done=on_done)
    counts = {"create": 0, "update": 0, "delete": 0}
    for action in result.done:
        counts[action.verb] += 1
    totals = f"{counts['create']} added, {counts['update']} changed, {counts['delete']} destroyed"
    if result.ok:
        out.print(f"{verb.capitalize()} complete: {totals}.")
        return EXIT_OK
    print(
        f"{verb.capitalize()} failed part-way: {totals}; {len(result.failed)} failed, "
        f"{len(result.not_started)} not started:",
        file=sys.stderr,
    )
    for action, error in result.failed:
        print(f"  {SYMBOL[action.verb]} {action.resource.label}: {error}", file=sys.stderr)
    for action in result.not_started:
        print(f"  {SYMBOL[action.verb]} {action.resource.label}: not started", file=sys.stderr)
    print(f"Nothing is lost: run `jobctl {verb}` again to converge.", file=sys.stderr)
    return EXIT_FAILED


def _confirm(plan: Plan, verb: str) -> bool:
    if not sys.stdin.isatty():
        print(f"jobctl: refusing to {verb} without confirmation: pass --yes", file=sys.stderr)
        return False
    env = f"/{plan.env}" if plan.env else ""
    answer = input(f"{verb.capitalize()} these changes to {plan.project}{env}? Type 'yes': ")
    return answer.strip() == "yes"
