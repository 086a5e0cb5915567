"""`make demo`: what jobctl does with the example registry, end to end where it exists.

Validates jobs.yaml, checks that the committed state machines are current, previews each
job's next runs, lists the AWS resources each job compiles to, then deploys production to
a moto server on localhost (no AWS account): plan, apply, and a second plan that finds
nothing to do. Exits non-zero if any step fails, so CI can run it.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table

from .aws.clients import ClientFactory
from .cli import main as jobctl
from .compile.compiler import compile_registry
from .local.seed import register_task_definition
from .registry.loader import load_registry

REGISTRY = "jobs.yaml"


def _step(console: Console, title: str, argv: list[str]) -> None:
    console.rule(f"[bold]$ jobctl {' '.join(argv)}")
    console.print(f"[dim]{title}")
    status = jobctl(argv)
    if status != 0:
        console.print(f"[red]jobctl {' '.join(argv)} exited {status}")
        sys.exit(status)


def _resources(console: Console) -> None:
    console.rule("[bold]what each job compiles to (production)")
    table = Table(title_justify="left")
    for column in ("job", "trigger", "state machine", "states", "retries", "IAM statements"):
        table.add_column(column)
    for item in compile_registry(load_registry(REGISTRY), "production"):
        trigger = item.trigger
        kind = "schedule" if trigger["kind"] == "schedule" else "rule"
        zone = trigger.get("ScheduleExpressionTimezone", "UTC")
        table.add_row(
            item.job.name,
            f"{kind} {trigger['Name']} {trigger['ScheduleExpression']} {zone} {trigger['State']}",
            item.names.state_machine,
            str(len(item.definition["States"])),
            f"job {item.job.retry.retries}, capacity {item.job.retry.capacity.retries}",
            str(len(item.policy["Statement"])),
        )
    console.print(table)


def _deploy(console: Console) -> None:
    """Plan and apply production against an in-process moto server, then plan again."""
    import os

    from .local.server import moto_server

    with moto_server() as endpoint:
        # The example's production overlay pins an account and region: use them locally.
        os.environ.update(
            AWS_ENDPOINT_URL=endpoint,
            AWS_REGION="ap-northeast-1",
            AWS_ACCESS_KEY_ID="demo",
            AWS_SECRET_ACCESS_KEY="demo",
        )
        os.environ.pop("AWS_PROFILE", None)
        register_task_definition(ClientFactory(region="ap-northeast-1").client("ecs"))
        _step(
            console,
            "what production would get (moto on localhost)",
            ["plan", "--env", "production"],
        )
        _step(console, "deploy it", ["apply", "--env", "production", "--yes"])
        _step(console, "a second plan finds nothing to do", ["plan", "--env", "production"])


def main() -> None:
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    _step(console, "validate the example registry", ["validate", REGISTRY])
    _step(console, "the committed statemachines/ match jobs.yaml", ["build", "--check"])
    after = datetime.now(UTC).replace(second=0, microsecond=0).isoformat()
    _step(
        console,
        "next runs of every job (production)",
        ["next", "--env", "production", "-n", "3", "--after", after],
    )
    _resources(console)
    _deploy(console)
    console.print("[green]demo complete")


if __name__ == "__main__":
    main()
