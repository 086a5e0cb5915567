"""`jobctl export cloudformation`: what apply would create, as one CloudFormation template.

Registers the `export` verb. The handler imports the exporter (registry, compiler) only when
it runs, and never cfn-lint (a dev/test dependency: the tests lint every export). Exit
status: 0 written, 2 an invalid registry, an unknown environment or an unwritable `-o`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from chalicelib.core.errors import UsageError
from jobctl.cli.verbs import EXIT_OK, Verbs, registry_of

if TYPE_CHECKING:
    from rich.console import Console


def register(verbs: Verbs) -> None:
    export = verbs.add(
        "export",
        "write everything `jobctl apply` would create for --env as a CloudFormation template "
        "(for CloudFormation, CDK or Terraform pipelines)",
        _export,
        env_help="the environment to export (required when the registry declares some)",
    )
    export.add_argument("format", choices=["cloudformation"], help="the template format")
    export.add_argument("-o", "--output", help="write the template here (default: stdout)")


def _export(args: argparse.Namespace, out: Console) -> int:
    from jobctl.export.cloudformation import render, template

    registry = registry_of(args)
    text = render(template(registry, args.env))
    if not args.output:
        sys.stdout.write(text)
        return EXIT_OK
    path = Path(args.output)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    print(
        f"{path}: CloudFormation template for {registry.project}"
        f"{'/' + args.env if args.env else ''}",
        file=sys.stderr,
    )
    return EXIT_OK
