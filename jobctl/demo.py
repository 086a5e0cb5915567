"""`make demo`: the example jobs.yaml running on this machine, end to end, in about a minute.

What a newcomer sees, in order:
1. `jobctl validate` and `jobctl build --check` on the example registry (CI's checks);
2. the local platform (`jobctl local`'s, in this process) deploying the example's
   production environment with the production apply code, then a plan that finds nothing
   to do;
3. every job run once: the enabled ones by delivering their trigger's event (a rule, or a
   Scheduler schedule for the Tokyo job), `backfill-report` also by hand through the HTTP
   API with parameters, and the disabled `legacy-export` by hand only;
4. `weekly-cleanup` failing: retried three times (the waits shortened 500x), recorded
   FAILED with its exit code, and alerting once;
5. the history table as the API returns it, the alert, and a run's log lines from
   CloudWatch Logs.

The example's commands (`bundle exec rake ...`) need its container image, which a laptop
does not have, so each job runs a stand-in: a Python one-liner that prints the command it
stands for and the job's environment, and exits as scripted (3 for weekly-cleanup, else 0).
Everything else (schedules, retries, timeouts, concurrency, parameters, alerts) is the
example's own. Exit status: 0 only if what happened is what should have (the checks at the
end), so CI can run it. `--serve` keeps the platform up afterwards until Ctrl-C.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import threading
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from chalicelib.ops.errors import OpsError
from chalicelib.ops.service import OpsService
from jobctl.cli.local import Printer, wait_for_signal
from jobctl.cli.main import main as jobctl
from jobctl.local.notify import alert_context
from jobctl.registry.loader import Registry, load_registry

if TYPE_CHECKING:  # imports moto: only when the demo runs
    from jobctl.local.platform import LocalPlatform

ROOT = Path(__file__).resolve().parent.parent
REGISTRY = "jobs.yaml"
ENV = "production"
TIME_SPEED = 0.002  # retry waits: weekly-cleanup's 5m, 10m, 20m take 0.6s, 1.2s, 2.4s
FAILING = {"weekly-cleanup": 3}
MANUAL = {  # job -> parameters of a run started through the API
    "backfill-report": {"DATE": "2026-01-15", "MODE": "full"},
    "legacy-export": {},
}
STAND_IN = (
    "import json, os, sys, time\n"
    "spec = json.loads(sys.argv[1])\n"
    "print('stand-in for: ' + ' '.join(spec['command']))\n"
    "for name in spec['show']:\n"
    "    print(f'{name}={os.environ.get(name)}')\n"
    "time.sleep(0.2)\n"
    "if spec['exit']:\n"
    "    print('error: lock wait timeout on the sessions table', file=sys.stderr)\n"
    "sys.exit(spec['exit'])\n"
)
TIMEOUT = 120.0


def stand_ins(registry: Registry, env: str) -> Registry:
    """The registry with each job's command replaced by the local stand-in."""
    jobs = []
    for job in registry.jobs_for(env):
        spec = {
            "command": list(job.command or ["(the image's command)"]),
            "show": sorted(set(job.environment) | set(job.parameters)),
            "exit": FAILING.get(job.name, 0),
        }
        command = ("python", "-c", STAND_IN, json.dumps(spec, sort_keys=True))
        jobs.append(job.model_copy(update={"command": command}))
    return dataclasses.replace(registry, jobs={env: tuple(jobs)})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobctl.demo", description=__doc__)
    parser.add_argument("--serve", action="store_true", help="keep serving until Ctrl-C")
    parser.add_argument("--port", type=int, help="API port (default: 8000 with --serve, else any)")
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)

    for title, command in (
        ("validate the example registry", ["validate", REGISTRY]),
        ("the committed statemachines/ match jobs.yaml", ["build", "--check"]),
    ):
        console.rule(f"[bold]$ jobctl {' '.join(command)}")
        console.print(f"[dim]{title}")
        status = jobctl(command)
        if status != 0:
            console.print(f"[red]jobctl {' '.join(command)} exited {status}")
            return status

    from jobctl.local.platform import LocalOptions, LocalPlatform, StartError

    console.rule(f"[bold]$ jobctl local --env {ENV}  [dim](stand-in commands, retries x500)")
    registry = stand_ins(load_registry(REGISTRY, env=ENV), ENV)
    port = args.port if args.port is not None else (8000 if args.serve else 0)
    options = LocalOptions(port=port, time_speed=TIME_SPEED)
    platform = LocalPlatform(registry, ENV, options, Printer())
    try:
        platform.start()
    except StartError as exc:
        console.print(f"[red]{exc}")
        return 1
    try:
        problems = _run(platform, registry, console)
        if args.serve:
            _serve(platform, console)
    except (TimeoutError, urllib.error.URLError) as exc:
        body = (
            exc.read().decode(errors="replace") if isinstance(exc, urllib.error.HTTPError) else ""
        )
        problems = [f"{exc} {body}".strip()]
    finally:
        platform.stop()
    if problems:
        console.print("[red bold]demo failed:[/] " + "; ".join(problems))
        return 1
    console.print(
        "[green bold]demo complete:[/] every job ran; weekly-cleanup failed, retried "
        "and alerted once, as it should"
    )
    return 0


def _run(platform: LocalPlatform, registry: Registry, console: Console) -> list[str]:
    """Fire everything, show what happened, and return what differs from the expected."""
    from jobctl.deploy.render import plan_text
    from jobctl.deploy.service import DeployService

    assert platform.factory is not None
    plan = DeployService(platform.factory, registry, ENV).plan()
    platform.say("plan after apply: " + plan_text(plan).strip().splitlines()[-1])

    runs: dict[str, str] = {}  # run id -> job
    for trigger in platform.triggers():
        job = trigger.state_machine.removeprefix(f"{platform.target.base}-")
        if trigger.enabled:
            runs[platform.fire(job)] = job
    for job, parameters in MANUAL.items():
        started = _api(
            platform, "POST", f"/jobs/{job}/runs", {"parameters": parameters, "reason": "make demo"}
        )
        runs[started["run_id"]] = job
    ended = platform.wait_for_runs(list(runs), timeout=TIMEOUT)
    # A run publishes its alert before its execution ends: one more poll has them all.
    alerts = platform.drain_alerts()

    history = _api(platform, "GET", "/runs?limit=50")["runs"]
    ours = [run for run in history if run["run_id"] in runs]
    console.print(_history_table(ours))
    for alert in alerts:
        console.print(_alert_panel(alert))
    manual = next(r for r in ours if r["job"] == "backfill-report" and r["trigger"] == "manual")
    detail = _api(platform, "GET", f"/runs/{manual['run_id']}")
    lines = _log_lines(platform, detail["run_id"])
    console.print(
        Panel(
            "\n".join(lines) or "(none)",
            title=f"CloudWatch Logs of {manual['run_id']}",
            title_align="left",
        )
    )
    return _check(ours, ended, alerts, lines, set(runs.values()), registry)


def _check(
    history: list[dict[str, Any]],
    ended: dict[str, Any],
    alerts: list[dict[str, Any]],
    manual_logs: list[str],
    jobs_run: set[str],
    registry: Registry,
) -> list[str]:
    problems = []
    every_job = {job.name for job in registry.jobs_for(ENV)}
    if jobs_run != every_job:
        problems.append(f"jobs not run: {sorted(every_job - jobs_run)}")
    if len(history) != len(ended):
        problems.append(f"the API lists {len(history)} of the {len(ended)} runs")
    for run in history:
        failing = run["job"] in FAILING
        want = ("FAILED", FAILING[run["job"]], 4) if failing else ("SUCCEEDED", 0, 1)
        got = (run["status"], run["exit_code"], run["attempts"])
        if got != want:
            problems.append(f"{run['job']} ({run['trigger']}): {got}, expected {want}")
    jobs_alerted = [alert_context(alert).get("job") for alert in alerts]
    if jobs_alerted != list(FAILING):
        problems.append(f"alerts for {jobs_alerted}, expected exactly one for {list(FAILING)}")
    if "DATE=2026-01-15" not in manual_logs:
        problems.append(f"the manual run's parameters are not in its logs: {manual_logs}")
    return problems


def _history_table(runs: list[dict[str, Any]]) -> Table:
    table = Table(title="history (GET /runs)", title_justify="left")
    for column in ("job", "trigger", "status", "attempts", "exit code", "duration", "run id"):
        table.add_column(column, justify="right" if column in ("attempts", "exit code") else "left")
    colours = {"SUCCEEDED": "green", "FAILED": "red", "TIMED_OUT": "red", "SKIPPED": "yellow"}
    for run in sorted(runs, key=lambda r: (r["job"], r["started_at"] or "")):
        trigger = run["trigger"] or ""
        if run.get("triggered_by"):
            trigger += f" by {run['triggered_by'].rsplit('/', 1)[-1]}"
        status = run["status"]
        table.add_row(
            run["job"],
            trigger,
            f"[{colours.get(status, 'white')}]{status}",
            str(run.get("attempts") or ""),
            "" if run.get("exit_code") is None else str(run["exit_code"]),
            _duration(run.get("started_at"), run.get("ended_at")),
            run["run_id"],
        )
    return table


def _alert_panel(alert: dict[str, Any]) -> Panel:
    content = alert.get("content") or {}
    context = alert_context(alert)
    keys = ("job", "environment", "status", "attempts", "exit_code", "stopped_reason", "run_id")
    body = [str(content.get("description", ""))]
    body += [f"[dim]{key}:[/] {context[key]}" for key in keys if context.get(key)]
    return Panel("\n".join(body), title=f"[red]alert: {content.get('title')}", title_align="left")


def _log_lines(platform: LocalPlatform, run_id: str) -> list[str]:
    """What `jobctl logs RUN` prints for the run."""
    assert platform.store is not None and platform.factory is not None
    try:
        return OpsService.create(platform.factory, platform.store.table).logs(run_id)
    except OpsError:  # no awslogs for the job, or no task: nothing to show
        return []


def _duration(started: str | None, ended: str | None) -> str:
    if not started or not ended:
        return ""
    seconds = (_instant(ended) - _instant(started)).total_seconds()
    return f"{seconds:.1f}s"


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _api(
    platform: LocalPlatform, method: str, path: str, payload: dict[str, Any] | None = None
) -> Any:
    assert platform.api is not None
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(
        platform.api.url + path,
        data=data,
        method=method,
        headers={"Content-Type": "application/json"} if data else {},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=30) as response:
        return json.loads(response.read())


def _serve(platform: LocalPlatform, console: Console) -> None:
    assert platform.api is not None
    url = platform.api.url
    console.rule("[bold]serving: Ctrl-C stops")
    console.print(f"  open {url}/console/  (the operator console)")
    console.print(f"  curl {url}/jobs")
    console.print(f"  curl {url}/runs")
    console.print(
        f"  curl -X POST {url}/jobs/backfill-report/runs -H 'Content-Type: application/json' "
        '-d \'{"parameters": {"DATE": "2026-02-01"}, "reason": "try it"}\''
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    wait_for_signal(stop)


if __name__ == "__main__":
    sys.exit(main())
