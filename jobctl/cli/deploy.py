"""`jobctl plan / apply / destroy`: confirmation, progress and reporting around the service.

Exit status: 0 done (or nothing to do), 1 AWS refused something or apply failed part-way
(the report says what is left; running apply again converges), 2 invalid input.
"""

from __future__ import annotations

import argparse
import json
import sys

import botocore.exceptions
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from chalicelib.aws.clients import AwsSetupError, ClientFactory, describe_error
from chalicelib.core.errors import UsageError
from jobctl.deploy.plan import Action, ConflictError, Plan
from jobctl.deploy.render import SYMBOL, plan_json, plan_text
from jobctl.deploy.service import DeployService, TaskDefinitionError
from jobctl.registry.loader import Registry, load_registry

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


def aws_failure(exc: BaseException) -> str | None:
    """A one-line message for AWS-side failures, None for anything else (a bug)."""
    if isinstance(exc, AwsSetupError | TaskDefinitionError):
        return str(exc)
    if isinstance(exc, ConflictError):
        return f"conflict:\n{exc}"
    if isinstance(exc, botocore.exceptions.NoRegionError):
        return (
            "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION) or use a profile with a region"
        )
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return (
            "no AWS credentials: configure a profile or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
        )
    if isinstance(exc, botocore.exceptions.ClientError | botocore.exceptions.BotoCoreError):
        return f"AWS error: {describe_error(exc)}"
    return None


def _service(args: argparse.Namespace) -> DeployService:
    registry: Registry = load_registry(args.file, env=args.env)
    env = args.env
    if env is None and registry.environments:
        raise UsageError(
            f"this registry declares environments ({', '.join(registry.environments)}): "
            "choose one with --env"
        )
    return DeployService(ClientFactory(profile=args.profile), registry, env)


def plan_command(args: argparse.Namespace, out: Console) -> int:
    plan = _service(args).plan(prune=args.prune)
    if args.json:
        sys.stdout.write(json.dumps(plan_json(plan), indent=2, sort_keys=True) + "\n")
    else:
        out.print(plan_text(plan), markup=False)
    return EXIT_OK


def apply_command(args: argparse.Namespace, out: Console) -> int:
    service = _service(args)
    return _execute(service, service.plan(prune=args.prune), args, out, "apply")


def destroy_command(args: argparse.Namespace, out: Console) -> int:
    service = _service(args)
    return _execute(service, service.plan(destroy=True), args, out, "destroy")


def _execute(
    service: DeployService, plan: Plan, args: argparse.Namespace, out: Console, verb: str
) -> int:
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
