"""API benchmark: `GET /jobs/{name}/runs` with 10 and with 100,000 recorded runs of the job,
and the cold import time of `app.py`.

Run: `.venv/bin/python benchmarks/api_bench.py [--runs 100000] [--calls 10]`. In-process moto
(nothing is contacted). Two jobs share one history table: `small` with 10 runs and `big`
with `--runs` runs; each is listed a page of 10 at a time through chalice's test client.
Per request, the time spent inside DynamoDB calls is measured apart from the rest: moto
answers every Query by walking the whole table, where DynamoDB reads only the index
partition and the items asked for, so the route's total grows with the table on moto and
not on DynamoDB. The figure that says "key lookups, no scans" is the ratio of jobctl's own
work (total minus DynamoDB time) between the two jobs, with the ScannedCount of each Query
the route made (what DynamoDB reads and bills). Cold import: `python -c "import app"` in a
fresh interpreter minus the interpreter starting alone, median of 7.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
from chalice.test import Client
from moto import mock_aws

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chalicelib.aws.clients import AwsContext, ClientFactory  # noqa: E402
from jobctl.deploy.desired import shared_resources  # noqa: E402
from jobctl.deploy.gateways.job_meta import JobMetaGateway  # noqa: E402
from jobctl.deploy.gateways.table import TableGateway  # noqa: E402
from jobctl.deploy.resources import Resource, ResourceKind  # noqa: E402
from tests.support.history import put_runs, run_item  # noqa: E402

REGION = "us-east-1"
TABLE = "bench-history"


def _config(job: str) -> dict[str, Any]:
    return {
        "job": job,
        "schedule": "rate(5 minutes)",
        "enabled": True,
        "concurrency": "forbid",
        "timeout": 3600,
        "retries": 0,
        "cluster": "app",
        "task_definition": "app",
        "container": "app",
        "trigger": "rule",
        "state_machine_arn": f"arn:aws:states:{REGION}:123456789012:stateMachine:bench-{job}",
    }


def _seed(runs: int) -> None:
    factory = ClientFactory(region=REGION)
    context = AwsContext("123456789012", REGION, "aws")
    table = next(
        r
        for r in shared_resources("bench", None, context.placeholders())
        if r.kind is ResourceKind.TABLE
    )
    TableGateway(factory, context, "bench").create(table)
    meta = JobMetaGateway(factory, context, "bench", TABLE)
    for job in ("small", "big"):
        meta.create(Resource(ResourceKind.JOB_META, job, {"config": _config(job), "entity": "job"}))
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    for job, count in (("small", 10), ("big", runs)):
        started = time.perf_counter()
        items = [
            run_item(
                job,
                f"{job}-{i:06d}",
                "SUCCEEDED",
                f"2026-{1 + i // 40000:02d}-01T00:00:00.{i:06d}Z",
            )
            for i in range(count)
        ]
        put_runs(dynamodb, TABLE, items)
        print(f"seeded {count:>7} runs of {job:<5} in {time.perf_counter() - started:6.1f} s")


class _TimedClient:
    """The store's DynamoDB client, adding up the seconds spent inside its calls."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.seconds = 0.0

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.client, name)
        if not callable(target):
            return target

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return target(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        return timed


def _cold_import_ms() -> tuple[float, float]:
    def run(code: str) -> float:
        samples = []
        for _ in range(7):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
            samples.append((time.perf_counter() - started) * 1000)
        return statistics.median(samples)

    bare = run("pass")
    return run("import app") - bare, bare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=10)
    args = parser.parse_args()

    import os

    os.environ.update(
        {
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "JOBCTL_HISTORY_TABLE": TABLE,
            "JOBCTL_PREFIX": "bench",
        }
    )
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_REGION"):
        os.environ.pop(name, None)
    import warnings

    warnings.filterwarnings("ignore", message="IAMAuthorizer")
    import logging

    logging.disable(logging.CRITICAL)
    with mock_aws():
        _seed(args.runs)
        import app as lambda_app
        from chalicelib.services import services

        scanned: list[tuple[str, int]] = []

        def count_reads(parsed: Any, model: Any, **_: Any) -> None:
            if model.name == "Query":
                scanned.append((model.name, parsed.get("ScannedCount", 0)))

        rows = []
        with Client(lambda_app.app) as client:
            assert client.http.get("/jobs/small/runs").status_code == 200  # warm up
            store = services().ops.store
            timed = _TimedClient(store.dynamodb)
            store.dynamodb = timed
            store.dynamodb.meta.events.register("after-call.dynamodb", count_reads)
            for job in ("small", "big"):
                totals, own = [], []
                for _ in range(args.calls):
                    scanned.clear()
                    timed.seconds = 0.0
                    started = time.perf_counter()
                    assert client.http.get(f"/jobs/{job}/runs?limit=10").status_code == 200
                    total = time.perf_counter() - started
                    totals.append(total * 1000)
                    own.append((total - timed.seconds) * 1000)
                rows.append((job, statistics.median(totals), statistics.median(own), list(scanned)))
    print()
    print(f"{'job':<6} {'runs':>8} {'route ms':>9} {'moto ms':>8} {'own ms':>7}  requests")
    for (job, total, own_ms, requests), count in zip(rows, (10, args.runs), strict=True):
        calls = ", ".join(f"{name} (ScannedCount {n})" for name, n in requests)
        print(f"{job:<6} {count:>8} {total:>9.2f} {total - own_ms:>8.2f} {own_ms:>7.2f}  {calls}")
    (_, small_total, small_own, _), (_, big_total, big_own, _) = rows
    print(
        f"\nbig/small: route {big_total / small_total:.2f} (moto walks the whole table per "
        f"Query), jobctl's own work {big_own / small_own:.2f}"
    )
    cold, bare = _cold_import_ms()
    print(f"cold import of app.py: {cold:.0f} ms (interpreter start alone: {bare:.0f} ms)")


if __name__ == "__main__":
    main()
