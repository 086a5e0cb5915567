"""Deploy benchmark: apply 300 jobs from scratch against a moto server, then a no-op plan.

Run: `.venv/bin/python benchmarks/deploy_bench.py [--jobs 300] [--workers 8]`. Starts a moto
server in this process on a free 127.0.0.1 port (nothing else is contacted), generates a
registry (rate rules, UTC cron rules, time-zone schedules, some disabled), registers the
task definition, and measures with ClientFactory hooks:
  (a) apply from scratch: plan + apply, as `jobctl apply` does;
  (b) a plan right after, which must find nothing to do (the cheap plan, as `jobctl plan`);
  (c) the same with `--refresh` (every resource read in full), which must also be empty.
For each: wall seconds, API calls, calls per job and mutating calls (operations not named
Describe*/Get*/List*/BatchGet*). Target (issue 17): the no-op plan makes no mutating call and
at most 2 reads per job. Seconds measure moto, not AWS: compare calls, not time. moto's
tagging API lists no EventBridge rules (AWS's does): `rules_in_tagging_api` adds them, so the
calls counted are the ones AWS would get.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import AbstractContextManager
from pathlib import Path

import boto3

from chalicelib.aws.clients import ClientFactory
from jobctl.deploy.service import DeployService
from jobctl.local.moto import install
from jobctl.local.seed import register_task_definition as seed_task_definition
from jobctl.local.server import moto_server
from jobctl.registry.loader import Registry, parse_registry

REGION = "us-east-1"
ACCOUNT = "123456789012"
ENV = "perf"
READS = ("Describe", "Get", "List", "BatchGet")

HEADER = f"""\
version: 1
project: bench
defaults:
  cluster: app
  task_definition: app-batch
  container: app
  launch_type: FARGATE
  network: {{subnets: [subnet-1, subnet-2], security_groups: [sg-1]}}
# With no environments every resource is tagged jobctl:env='', which Scheduler refuses.
environments:
  {ENV}: {{}}
jobs:
"""

SHAPES = [
    "    schedule: rate({r} minutes)\n",
    "    schedule: cron({m} {h} * * ? *)\n    command: [bin/job, '{i}']\n",
    "    schedule: cron({m} {h} ? * MON-FRI *)\n    timezone: Europe/Berlin\n",
    "    schedule: cron({m} {h} L * ? *)\n    concurrency: replace\n    starting_deadline: 10m\n",
    "    schedule: rate({r} minutes)\n    enabled: false\n",
    "    schedule: '{m} {h} * * 1-5'\n    timezone: America/New_York\n",
]


def rules_in_tagging_api() -> AbstractContextManager[None]:
    """tests/support/moto_tagging.py (the benchmark runs as a script, outside the package)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.support.moto_tagging import rules_in_tagging_api as fix

    return fix()


def registry_text(count: int) -> str:
    parts = [HEADER]
    for i in range(count):
        parts.append(f"  job-{i:04d}:\n")
        parts.append(SHAPES[i % len(SHAPES)].format(m=i % 60, h=i % 24, r=5 + i % 50, i=i))
    return "".join(parts)


class CallCounter:
    """A ClientFactory hook: counts calls by (service, operation)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: Counter[tuple[str, str]] = Counter()

    def __call__(self, service: str, operation: str) -> None:
        with self.lock:
            self.calls[(service, operation)] += 1

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    @property
    def mutating(self) -> int:
        return sum(n for (_, op), n in self.calls.items() if not op.startswith(READS))


def isolate_environment(endpoint: str, scratch: str) -> None:
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_DEFAULT_REGION=REGION,
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_CONFIG_FILE=os.path.join(scratch, "no-config"),
        AWS_SHARED_CREDENTIALS_FILE=os.path.join(scratch, "no-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        NO_PROXY="127.0.0.1,localhost",
    )


def register_task_definition() -> None:
    seed_task_definition(boto3.client("ecs", region_name=REGION))


def row(phase: str, seconds: float, counter: CallCounter, jobs: int) -> str:
    reads = counter.total - counter.mutating
    return (
        f"{phase:<24}{seconds:>8.2f}{counter.total:>8}{counter.total / jobs:>10.2f}"
        f"{counter.mutating:>10}{reads / jobs:>11.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--workers", type=int, default=8, help="apply concurrency")
    args = parser.parse_args()

    # jobctl's moto fixes as `jobctl local` runs them: moto's backends are not thread-safe
    # (defect 9, `jobctl.local.moto.dispatch`), and apply's 8 workers create IAM roles at once.
    with (
        install(),
        moto_server() as endpoint,
        tempfile.TemporaryDirectory() as scratch,
        rules_in_tagging_api(),
    ):
        isolate_environment(endpoint, scratch)
        register_task_definition()
        run(args.jobs, args.workers)


def run(jobs: int, workers: int) -> None:
    registry = parse_registry(registry_text(jobs), "bench.yaml")
    assert len(registry.jobs_for(ENV)) == jobs

    # (a) apply from scratch: one plan, then its execution.
    first = CallCounter()
    service = DeployService(ClientFactory(hooks=[first]), registry, ENV)
    start = time.perf_counter()
    plan = service.plan()
    planned = time.perf_counter()
    plan_calls = CallCounter()
    plan_calls.calls = first.calls.copy()
    result = service.apply(plan, workers=workers)
    done = time.perf_counter()
    if not result.ok:
        raise SystemExit(f"apply failed: {result.failed[:3]}")
    apply_calls = CallCounter()
    apply_calls.calls = first.calls - plan_calls.calls

    # (b) nothing changed: a fresh command's plan; (c) the same, reading everything in full.
    noop, noop_seconds = no_op_plan(registry, refresh=False)
    full, full_seconds = no_op_plan(registry, refresh=True)

    print(f"deploy benchmark: {jobs} jobs, {len(plan.actions)} resources, moto server {REGION}")
    print(
        f"{'phase':<24}{'wall s':>8}{'calls':>8}{'calls/job':>10}{'mutating':>10}{'reads/job':>11}"
    )
    print(row("apply from scratch", done - start, first, jobs))
    print(row("  of which plan", planned - start, plan_calls, jobs))
    print(row("  of which apply", done - planned, apply_calls, jobs))
    print(row("no-op plan", noop_seconds, noop, jobs))
    print(row("no-op plan --refresh", full_seconds, full, jobs))
    print()
    for label, counter in (("no-op plan", noop), ("no-op plan --refresh", full)):
        reads = (counter.total - counter.mutating) / jobs
        print(f"{label}: {counter.mutating} mutating calls, {reads:.2f} reads per job")
    print("no-op plan calls by operation (per job):")
    for (svc, op), count in sorted(noop.calls.items(), key=lambda item: (-item[1], item[0])):
        print(f"  {svc + ' ' + op:<42}{count:>6}{count / jobs:>8.2f}")


def no_op_plan(registry: Registry, *, refresh: bool) -> tuple[CallCounter, float]:
    """A fresh command's plan of an unchanged registry: its calls and wall seconds."""
    counter = CallCounter()
    start = time.perf_counter()
    service = DeployService(ClientFactory(hooks=[counter]), registry, ENV)
    again = service.plan(prune=True, refresh=refresh)
    seconds = time.perf_counter() - start
    if again.actions or again.held_back:
        raise SystemExit(f"no-op plan (refresh={refresh}) is not empty: {len(again.actions)}")
    return counter, seconds


if __name__ == "__main__":
    main()
