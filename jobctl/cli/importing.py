"""`jobctl import kubernetes|copilot|ecschedule FILE...`: jobs from other schedulers.

Exit status: 0 every job imported and every field mapped, 1 something needs the user (an
unsupported field, a schedule jobctl cannot fire identically, nothing found), 2 invalid input
(a file that is not a valid manifest, a template, a job that exists without --replace).
Invariant: importing this module imports only the standard library and `jobctl.cli.verbs`;
the importers, ruamel, croniter and pydantic load in the handler (see `jobctl.cli.verbs`).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import TYPE_CHECKING

from jobctl.cli.verbs import Verbs

if TYPE_CHECKING:
    from rich.console import Console

SOURCES = ("kubernetes", "copilot", "ecschedule")


def register(verbs: Verbs) -> None:
    command = verbs.add(
        "import",
        "add jobs from Kubernetes CronJobs, Copilot Scheduled Jobs or ecschedule to jobs.yaml",
        _import,
        json_help="print the report as JSON",
        env_help="copilot: import only this environment's overrides (default: all)",
    )
    command.add_argument("source", choices=SOURCES, help="what the files are")
    command.add_argument("files", nargs="+", metavar="FILE", help="manifests; '-' reads stdin")
    command.add_argument("--replace", action="store_true", help="overwrite jobs that exist")
    command.add_argument(
        "--split",
        action="store_true",
        help="import a schedule jobctl cannot express as the offered equivalent pair of jobs",
    )
    command.add_argument("--dry-run", action="store_true", help="report only, write nothing")
    command.add_argument("--project", help="project of a new jobs.yaml (default: its directory)")
    command.add_argument("--cluster", default="default", help="ECS cluster of a new jobs.yaml")
    command.add_argument("--subnets", type=_list, help="comma-separated subnet IDs")
    command.add_argument("--security-groups", type=_list, help="comma-separated group IDs")
    command.add_argument("--region", default="REGION", help="AWS region for the task definitions")
    command.add_argument("--account", default="ACCOUNT_ID", help="AWS account ID for their ARNs")


def _list(text: str) -> tuple[str, ...]:
    items = tuple(item.strip() for item in text.split(",") if item.strip())
    if not items:
        raise argparse.ArgumentTypeError("expected one or more comma-separated IDs")
    return items


def _project(args: argparse.Namespace) -> str:
    if args.project:
        return str(args.project)
    folder = Path(args.file).resolve().parent.name.lower()
    name = re.sub(r"[^a-z0-9-]+", "-", folder).strip("-")
    return name if re.fullmatch(r"[a-z]([a-z0-9-]*[a-z0-9])?", name) else "imported"


def _import(args: argparse.Namespace, out: Console) -> int:
    from jobctl.importers.merge import PLACEHOLDER_SECURITY_GROUP, PLACEHOLDER_SUBNET, Layout
    from jobctl.importers.model import ImportOptions
    from jobctl.importers.run import import_files

    layout = Layout(
        registry_file=args.file,
        project=_project(args),
        cluster=args.cluster,
        subnets=args.subnets or (PLACEHOLDER_SUBNET,),
        security_groups=args.security_groups or (PLACEHOLDER_SECURITY_GROUP,),
        replace=args.replace,
    )
    options = ImportOptions(region=args.region, account=args.account, split=args.split)
    result = import_files(
        args.source, args.files, layout, options, env=args.env, write=not args.dry_run
    )
    if args.json:
        print(result.report.model_dump_json(indent=2))
    else:
        print(result.report.text())
    return result.report.exit_status
