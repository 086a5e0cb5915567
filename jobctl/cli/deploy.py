"""`jobctl plan / apply / destroy`: confirmation, progress and reporting around the service.

Exit status: 0 done (or nothing to do), 1 AWS refused something or apply failed part-way
(the report says what is left; running apply again converges), 2 invalid input. Failures
before the first write (credentials, region, a conflict, a missing task definition, the
deploy lock held by another apply, a checkout older than the deployed commit) are
`JobctlError`s that `jobctl.cli.main` prints. apply and destroy hold the environment's
deploy lock (`jobctl.deploy.lock`) from before their plan to after their last write. Invariant: importing this module imports no
boto3, rich or registry (the parser imports it); the handlers import them.

For pipelines: `plan --detailed-exitcode` exits 0 no changes, 2 changes, 1 any error (as
terraform does); `plan --out PLAN` saves the reviewed plan and `apply PLAN` applies exactly
it, without asking, or refuses (`jobctl.deploy.saved_plan`); `--format markdown|json`;
`--envfile FILE` adds a dotenv file's variables for `${env:...}` references (the process
environment wins for a name set in both, as dotenv tools do; values are taken as written,
never interpolated).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalicelib.core.errors import JobctlError, UsageError
from jobctl.cli.verbs import EXIT_FAILED, EXIT_OK, Verbs, positive, registry_of

if TYPE_CHECKING:
    from collections.abc import Mapping

    from rich.console import Console

    from chalicelib.aws.clients import ClientFactory
    from jobctl.deploy.plan import Action, Plan
    from jobctl.deploy.saved_plan import SavedPlan
    from jobctl.deploy.service import DeployService

EXIT_CHANGES = 2  # plan --detailed-exitcode: the plan has changes


def register(verbs: Verbs) -> None:
    plan = verbs.add(
        "plan",
        "show what apply would change in AWS",
        plan_command,
        aws=True,
        json_help="print the plan as JSON",
    )
    plan.add_argument("--prune", action="store_true", help="include deleting removed jobs")
    plan.add_argument(
        "--format",
        choices=("text", "json", "markdown"),
        help="text (default), json (as --json) or markdown (a pull-request comment)",
    )
    plan.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 0 no changes, 2 changes, 1 error (as terraform)",
    )
    plan.add_argument("--out", metavar="PLAN", help="save the plan for `jobctl apply PLAN`")
    _envfile(plan)
    plan.add_argument(
        "--refresh",
        action="store_true",
        help="read every resource in full: also finds what a cheap plan cannot (README, Deploy)",
    )

    apply = verbs.add(
        "apply",
        "create, update (and with --prune delete) AWS resources",
        apply_command,
        aws=True,
    )
    apply.add_argument(
        "plan_file",
        nargs="?",
        metavar="PLAN",
        help="a plan saved by `plan --out`: apply exactly it (no question), or refuse if it "
        "no longer matches AWS",
    )
    apply.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    apply.add_argument("--prune", action="store_true", help="delete resources of removed jobs")
    apply.add_argument(
        "--refresh", action="store_true", help="plan from full reads of every resource"
    )
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
    _envfile(apply)
    _envfile(destroy)


def _envfile(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--envfile",
        metavar="FILE",
        help="a dotenv file of variables for ${env:...} references (the environment wins)",
    )


def _environ(args: argparse.Namespace) -> Mapping[str, str]:
    """The variables `${env:...}` references read: the process environment over --envfile."""
    import io
    import os

    if not getattr(args, "envfile", None):
        return os.environ
    from dotenv import dotenv_values
    from dotenv.parser import parse_stream

    path = Path(args.envfile)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--envfile {path}: cannot read it: {exc}") from None
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            raise UsageError(
                f"{path}:{binding.original.line}: not a dotenv line (NAME=value): "
                f"{binding.original.string.strip()[:60]!r}"
            )
    values = dotenv_values(stream=io.StringIO(text), interpolate=False)
    return {**{k: v for k, v in values.items() if v is not None}, **os.environ}


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
    service = DeployService(
        ClientFactory(profile=args.profile), registry, args.env, environ=_environ(args)
    )
    service.refresh = getattr(args, "refresh", False)  # plan and apply have --refresh
    return service


def plan_command(args: argparse.Namespace, out: Console) -> int:
    try:
        return _plan(args, out)
    except JobctlError as exc:
        if not args.detailed_exitcode:
            raise
        # --detailed-exitcode reserves 2 for "changes": every failure is 1, as terraform's.
        for line in exc.lines():
            print(line, file=sys.stderr)
        return EXIT_FAILED


def _plan(args: argparse.Namespace, out: Console) -> int:
    from jobctl.deploy.render import plan_text
    from jobctl.deploy.report import dump_json, plan_document, plan_markdown, references_text

    if args.json and args.format not in (None, "json"):
        raise UsageError(f"--json and --format {args.format} ask for two formats: choose one")
    service = _service(args)
    plan = service.plan(prune=args.prune)
    references = service.references
    if args.out:
        from jobctl.deploy.saved_plan import saved_plan, write_plan

        path = Path(getattr(args, "path", None) or args.file)
        write_plan(Path(args.out), saved_plan(plan, references, path, prune=args.prune))
        print(f"jobctl: plan saved to {args.out}: `jobctl apply {args.out}`", file=sys.stderr)
    form = "json" if args.json else (args.format or "text")
    if form == "json":
        sys.stdout.write(dump_json(plan_document(plan, references)))
    elif form == "markdown":
        sys.stdout.write(plan_markdown(plan, references))
    else:
        out.print(references_text(references) + plan_text(plan), markup=False)
    return EXIT_CHANGES if args.detailed_exitcode and plan.actions else EXIT_OK


def apply_command(args: argparse.Namespace, out: Console) -> int:
    from jobctl.deploy.lock import registry_revision

    saved = _saved(args)
    service = _service(args)
    path = Path(getattr(args, "path", None) or args.file)
    if saved is not None:
        from jobctl.deploy.saved_plan import check_target

        check_target(saved, service.registry.project, service.env, path)
    revision = registry_revision(path)
    # Locked from before the plan to after the last write: two applies never interleave,
    # and one from a checkout behind the deployed commit is refused before planning.
    with service.locked(revision) as lock:
        lock.check(revision, path.resolve().parent, allow_older=args.allow_older)
        prune = saved.prune if saved is not None else args.prune
        plan = service.plan(prune=prune)
        if saved is not None:
            from jobctl.deploy.saved_plan import check_unchanged, saved_plan

            # The reviewed plan, or nothing: re-planned under the lock, it must be the same.
            check_unchanged(saved, saved_plan(plan, service.references, path, prune=prune))
        status = _execute(service, plan, args, out, "apply", reviewed=saved is not None)
        if status == EXIT_OK:
            lock.record(revision)
        return status


def _saved(args: argparse.Namespace) -> SavedPlan | None:
    """The plan file `apply PLAN` names; `--env` defaults to the plan's environment."""
    if not args.plan_file:
        return None
    from jobctl.deploy.saved_plan import read_plan

    saved = read_plan(Path(args.plan_file))
    if args.prune and not saved.prune:
        raise UsageError("--prune with a saved plan made without it: plan --prune --out again")
    if args.env is None:
        args.env = saved.environment
    return saved


def destroy_command(args: argparse.Namespace, out: Console) -> int:
    from jobctl.deploy.lock import registry_revision

    service = _service(args)
    revision = registry_revision(Path(getattr(args, "path", None) or args.file))
    with service.locked(revision):
        return _execute(service, service.plan(destroy=True), args, out, "destroy")


def _execute(
    service: DeployService,
    plan: Plan,
    args: argparse.Namespace,
    out: Console,
    verb: str,
    *,
    reviewed: bool = False,
) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from jobctl.deploy.render import SYMBOL, plan_text
    from jobctl.deploy.report import references_text

    out.print(references_text(service.references) + plan_text(plan), markup=False)
    if not plan.actions:
        return EXIT_OK
    # A saved plan was the confirmation: it was reviewed, and it is what AWS still needs.
    if not (args.yes or reviewed) and not _confirm(plan, verb):
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
