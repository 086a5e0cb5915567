"""The local platform: one process running everything AWS runs for jobctl, on moto.

`LocalPlatform.start()` brings up, in order: an in-process moto server with Step Functions
execution and the runtime fixes (`jobctl.local.moto`); the resources jobs.yaml names that deploy
expects to exist (clusters, task definitions, subnets, security groups: `seed`); the
deployment itself, by the production `DeployService` plan/apply; the ECS agent (`agent`);
the history recorder and the alert relay (`poller`, `notify`); the scheduler
(`scheduler`); the operator API (`api`). `stop()` takes them down in reverse: nothing new
starts (scheduler, API), running executions are aborted (their tasks stopped and their
processes killed), the history records what ended, the last alerts are printed, and the
server stops.

The process environment is the platform's: AWS_ENDPOINT_URL and a local region and
credentials are set for this process (boto3, the API and moto's interpreter all read it),
and nothing from the developer's AWS configuration can leak in (profiles, credential files
and instance metadata are switched off), so a local run can never touch a real account.
Those credentials are dummies owned by an IAM user named after the OS user (`identity`),
and `exports()` is the shell line that gives them to other commands: the CLI on it records
the same caller as the local API.
Invariants: after `stop()` no thread this package started is alive except moto's own
daemon interpreter threads, and no task process is left; `stop()` is idempotent and safe
after a failed `start()`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.aws.clients import ClientFactory
from chalicelib.core.history import EXECUTION_ENDED, FAILED_STATUSES, RunStatus
from chalicelib.core.names import prefix, shared_names
from chalicelib.core.outcome import summarise
from chalicelib.history.store import RunStore
from jobctl.deploy.service import DeployService
from jobctl.local import moto as moto_fixes
from jobctl.local.agent import LocalAgent, base_environment
from jobctl.local.api import LocalApi, caller_identity, local_user
from jobctl.local.identity import local_credentials, register_local_user
from jobctl.local.moto import ecs_double
from jobctl.local.notify import SlackWebhook, render_alert
from jobctl.local.poller import AlertPoller, HistoryPoller, RunChange, subscribe_queue
from jobctl.local.scheduler import Firer, Scheduler, Trigger, TriggerReader
from jobctl.local.seed import LOCAL_ACCOUNT, seed_jobs
from jobctl.local.server import moto_server
from jobctl.registry.loader import Registry

if TYPE_CHECKING:
    from jobctl.console.app import ConsoleApp

Say = Callable[[str], None]
DEFAULT_REGION = "us-east-1"
_AWS_LEAKS = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


class StartError(Exception):
    """The platform could not start (deploy failed, port busy): one line for users."""


class LocalOptions(BaseModel):
    """What `jobctl local` (and the demo) may configure."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8000
    time_speed: Annotated[float, Field(gt=0, le=1)] = 1.0
    slack_webhook: Annotated[str, Field(pattern=r"^https?://[^\s/]+(/\S*)?$")] | None = None
    echo_output: bool = True
    workdir: Path | None = None


@dataclass(frozen=True)
class Target:
    """Where the platform deploys: the project environment and the local account."""

    project: str
    env: str | None
    region: str
    account: str

    @property
    def base(self) -> str:
        return prefix(self.project, self.env)

    @classmethod
    def of(cls, registry: Registry, env: str | None) -> Target:
        # An environment pinned to an account/region gets exactly those locally, so the
        # production apply code (which refuses any other) deploys it unchanged.
        account, region = registry.pins.get(env or "", (None, None))
        return cls(registry.project, env, region or DEFAULT_REGION, account or LOCAL_ACCOUNT)


class LocalPlatform:
    def __init__(
        self, registry: Registry, env: str | None, options: LocalOptions, say: Say
    ) -> None:
        self.registry = registry
        self.target = Target.of(registry, env)
        self.options = options
        self.say = say
        self.endpoint = ""
        self.factory: ClientFactory | None = None
        self.scheduler: Scheduler | None = None
        self.api: LocalApi | None = None
        self.agent: LocalAgent | None = None
        self.history: HistoryPoller | None = None
        self.alerts: AlertPoller | None = None
        self.store: RunStore | None = None
        self._stack = contextlib.ExitStack()
        self._changes: dict[str, RunChange] = {}
        self._alerts: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._stopped = False

    # --- start ------------------------------------------------------------------------

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        target, options = self.target, self.options
        self.endpoint = self._stack.enter_context(moto_server())
        port = self.endpoint.rsplit(":", 1)[1]
        aws = {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": target.region,
            "AWS_DEFAULT_REGION": target.region,
            **local_credentials(),
        }
        _isolate_environment(aws, moto_port=port, account=target.account)
        # The API binds its port first: a busy port fails in a second, not after the deploy.
        names = shared_names(target.project, target.env)
        topic = f"arn:aws:sns:{target.region}:{target.account}:{names.alert_topic}"
        self._serve_api(topic, names.history_table)
        _enable_execution(self.endpoint)
        # moto logs every failed state with its full context; a run's error and cause are
        # in its history record and execution history, so the console stays readable.
        logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
        # Installed for the rest of the process, not undone when the platform stops: moto's
        # execution threads can outlive the server, and one that evaluated a state without
        # the fixes would fail at random (a timeout read as its task's output).
        moto_fixes.install()
        # Retry waits are scaled; timeouts stay real: the tasks are real processes.
        moto_fixes.set_time_speed(options.time_speed, timeouts=1.0)
        self._stack.callback(moto_fixes.set_time_speed, 1.0)
        factory = self.factory = ClientFactory(region=target.region)
        self._register_user(factory)

        jobs = self.registry.jobs_for(target.env)
        created = seed_jobs(factory.client("ecs"), factory.client("ec2"), jobs, target.account)
        if created:
            self.say(f"seeded the local account: {', '.join(created)}")
        self._deploy(factory)

        store = self.store = RunStore(factory.client("dynamodb"), names.history_table)
        queue = subscribe_queue(
            factory.client("sns"), factory.client("sqs"), topic, f"{target.base}-local-alerts"
        )
        workdir = options.workdir or Path(self.registry.document.file).resolve().parent
        self.agent = LocalAgent(
            factory,
            workdir=workdir,
            base_env=base_environment(aws),
            say=self.say,
            finish=ecs_double.finish,
            is_running=lambda arn: any(t.task_arn == arn for t in ecs_double.running()),
            echo=options.echo_output,
        )
        ecs_double.reset()
        ecs_double.on_start(self.agent.on_start)
        self._stack.callback(ecs_double.reset)

        self.history = HistoryPoller(
            factory.client("stepfunctions"),
            self.store,
            target.base,
            self._on_change,
            self.say,
            home=factory.context,
        )
        slack = (
            SlackWebhook(options.slack_webhook, self.say, meta=store.meta, logs=self._logs)
            if options.slack_webhook
            else None
        )
        self.alerts = AlertPoller(
            factory.client("sqs"), queue, lambda alert: self._on_alert(alert, slack), self.say
        )
        self.scheduler = Scheduler(
            TriggerReader(factory.client("events"), factory.client("scheduler"), target.base).read,
            Firer(
                factory.client("stepfunctions"),
                region=target.region,
                account=target.account,
                clock=_utc_now,
            ),
            self.say,
        )
        self.history.start()
        self.alerts.start()
        self.scheduler.start()

    def _serve_api(self, topic: str, table: str) -> None:
        options = self.options
        identity = caller_identity(local_user(), self.target.account)
        self.api = LocalApi(
            host=options.host,
            port=options.port,
            identity=identity,
            console=lambda: _console(self.target, table, identity["userArn"], options.host),
        )
        try:
            self.api.start(
                {
                    "JOBCTL_HISTORY_TABLE": table,
                    "JOBCTL_PREFIX": self.target.base,
                    "JOBCTL_ALERT_TOPIC_ARN": topic,
                    "JOBCTL_LOCAL_CALLER": local_user(),
                }
            )
        except OSError as exc:
            raise StartError(
                f"cannot serve the API on {options.host}:{options.port}: {exc.strerror or exc} "
                "(choose another with --port, or --port 0 for any free port)"
            ) from None
        except Exception as exc:  # app.py failing to import is a start failure, not a crash
            raise StartError(f"cannot load the API (app.py): {type(exc).__name__}: {exc}") from None

    def _register_user(self, factory: ClientFactory) -> None:
        # The CLI on the printed exports must record the caller the local API records.
        try:
            register_local_user(factory.client("iam"), self.target.account, local_user())
        except Exception as exc:  # an odd OS user name: runs still work, under moto's name
            self.say(f"the CLI will record moto's caller, not {local_user()}: {exc}")

    def exports(self) -> str:
        """The shell line that points the AWS CLI, boto3 and jobctl at this platform."""
        values = {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": self.target.region,
            "AWS_DEFAULT_REGION": self.target.region,
            **local_credentials(),
        }
        # A profile or session token left in the shell would override or spoil the keys.
        return "unset AWS_PROFILE AWS_SESSION_TOKEN; export " + " ".join(
            f"{name}={value}" for name, value in values.items()
        )

    def _deploy(self, factory: ClientFactory) -> None:
        service = DeployService(factory, self.registry, self.target.env)
        plan = service.plan()
        result = service.apply(plan)
        if not result.ok:
            failed = "; ".join(f"{a.resource.label}: {error}" for a, error in result.failed)
            raise StartError(f"deploying to the local account failed: {failed}")
        where = (
            f"{self.target.project}/{self.target.env}" if self.target.env else self.target.project
        )
        self.say(
            f"deployed {where} with the production apply code: "
            f"{len(result.done)} resources, {len(self.registry.jobs_for(self.target.env))} jobs"
        )

    # --- use --------------------------------------------------------------------------

    def triggers(self) -> list[Trigger]:
        assert self.scheduler is not None
        return sorted(self.scheduler.triggers(), key=lambda t: t.state_machine)

    def trigger_of(self, job: str) -> Trigger:
        machine = f"{self.target.base}-{job}"
        for trigger in self.triggers():
            if trigger.state_machine == machine:
                return trigger
        raise KeyError(job)

    def fire(self, job: str) -> str:
        """Deliver `job`'s trigger event now; returns the run id (the execution name)."""
        assert self.scheduler is not None
        trigger = self.trigger_of(job)
        if not trigger.enabled:
            self.say(f"scheduler: {trigger.name} is DISABLED; firing it because you asked")
        run_id = self.scheduler.fire_now(trigger).rsplit(":", 1)[-1]
        if self.history is not None:
            self.history.wake()
        return run_id

    def wait_for_runs(self, run_ids: list[str], timeout: float) -> dict[str, RunChange]:
        """Block until every run has ended (as recorded); TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                ended = {
                    run_id: self._changes[run_id]
                    for run_id in run_ids
                    if run_id in self._changes and self._changes[run_id].status in EXECUTION_ENDED
                }
                if len(ended) == len(run_ids):
                    return ended
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    waiting = sorted(set(run_ids) - set(ended))
                    raise TimeoutError(f"runs still going after {timeout:.0f}s: {waiting}")
                self._cond.wait(min(remaining, 0.2))  # short: Ctrl-C is handled between waits

    def drain_alerts(self) -> list[dict[str, Any]]:
        """Every alert received so far, after one more poll of the queue."""
        if self.alerts is not None:
            self.alerts.poll_once()
        with self._cond:
            return list(self._alerts)

    def runs(self) -> list[RunChange]:
        with self._cond:
            return list(self._changes.values())

    # --- callbacks --------------------------------------------------------------------

    def _on_change(self, change: RunChange) -> None:
        self.say(describe_change(change, holder=self._holder_of(change)))
        with self._cond:
            self._changes[change.run_id] = change
            self._cond.notify_all()

    def _logs(self) -> Any:
        """The CloudWatch Logs client the alerts read a failed task's last lines with."""
        assert self.factory is not None
        return self.factory.client("logs")

    def _holder_of(self, change: RunChange) -> str | None:
        """The run holding the job's lock, for a run SKIPPED as `concurrent`.

        The skip record does not name it; the job's META item does while the holder runs
        (the skipped execution ends at once, so the holder still holds it when it is
        reported). Best effort: None when it cannot be read."""
        record = change.record or {}
        if record.get("skip_reason") != "concurrent" or self.store is None:
            return None
        try:
            holder = str(self.store.meta(change.job).get("lock_holder") or "")
        except Exception:  # a console detail is not worth an error line
            return None
        return holder.rsplit(":", 1)[-1] or None

    def _on_alert(self, alert: dict[str, Any], slack: SlackWebhook | None) -> None:
        meta = self.store.meta if self.store is not None else None
        for line in render_alert(alert, meta=meta, logs=self._logs):
            self.say(line)
        if slack is not None:
            self.say(f"      ({slack.post(alert)})")
        with self._cond:
            self._alerts.append(alert)
            self._cond.notify_all()

    # --- stop -------------------------------------------------------------------------

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        for part in (self.scheduler, self.api):
            if part is not None:
                _quietly(part.stop, self.say)
        # Steps that call the local endpoint are bounded: shutdown must finish even if a
        # call hangs (the processes are what must not outlive us, and the agent kills them).
        if self.history is not None and self.factory is not None:
            _bounded("stopping running executions", self._abort_running, 6.0, self.say)
        if self.agent is not None:
            _quietly(self.agent.stop, self.say)
        if self.history is not None:
            history = self.history
            _quietly(history.stop, self.say)
            _bounded("recording the last changes", history.poll_once, 3.0, self.say)
        if self.alerts is not None:
            alerts = self.alerts
            _quietly(alerts.stop, self.say)
            _bounded("printing the last alerts", alerts.poll_once, 2.0, self.say)
        _quietly(self._stack.close, self.say)

    def _abort_running(self) -> None:
        assert self.factory is not None and self.history is not None
        sfn = self.factory.client("stepfunctions")
        self.history.poll_once()
        arns = self.history.running()
        for arn in arns:
            with contextlib.suppress(Exception):
                sfn.stop_execution(executionArn=arn, cause="jobctl local is shutting down")
        if arns:
            self.say(f"stopped {len(arns)} running execution(s)")
        # moto stops the tasks of an aborted execution from its own threads; give the agent
        # a moment to see them go before it terminates whatever is left.
        deadline = time.monotonic() + 2.0
        while ecs_double.running() and time.monotonic() < deadline:
            time.sleep(0.05)


def describe_change(change: RunChange, holder: str | None = None) -> str:
    """One console line per run status change.

    A SKIPPED run names why (`skip_reason`: duplicate, concurrent, late, paused; never the
    operator's `reason`, which says why the run was asked for) and, when concurrent, the
    run holding the lock (`holder`); an ABORTED run says what stopped it (its `cause`:
    "replaced by <run>" for `concurrency: replace`, or who stopped it)."""
    record = change.record or {}
    status = record.get("status") or change.status
    if change.status == RunStatus.RUNNING:
        trigger = record.get("trigger") or "schedule"
        by = f" by {record['triggered_by']}" if record.get("triggered_by") else ""
        return f"run   {change.job} {change.run_id}: RUNNING ({trigger}{by})"
    details = []
    if status == RunStatus.SKIPPED and record.get("skip_reason"):
        held = f" by run {holder}" if holder and record["skip_reason"] == "concurrent" else ""
        details.append(f"{record['skip_reason']}{held}")
    if status == RunStatus.ABORTED and record.get("cause"):
        details.append(_one_line(str(record["cause"])))
    if record.get("exit_code") is not None:
        details.append(f"exit code {record['exit_code']}")
    if record.get("attempts"):
        details.append(f"attempts {record['attempts']}")
    if record.get("stopped_reason") and status != "SUCCEEDED":
        details.append(str(record["stopped_reason"]))
    elif status in FAILED_STATUSES and (record.get("error") or record.get("cause")):
        # No task stop reason (RunTask refused, a timeout): Step Functions' error, in words.
        words = summarise(record.get("error"), record.get("cause"))
        if words:
            details.append(_one_line(words))
    suffix = f" ({', '.join(details)})" if details else ""
    return f"run   {change.job} {change.run_id}: {status}{suffix}"


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _isolate_environment(aws: dict[str, str], *, moto_port: str, account: str) -> None:
    for name in _AWS_LEAKS:
        os.environ.pop(name, None)
    os.environ.update(aws)
    os.environ.update(
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        # moto answers at once and never throttles: retrying only slows shutdown down.
        AWS_RETRY_MODE="standard",
        AWS_MAX_ATTEMPTS="2",
        # moto's interpreter calls the other services at localhost:$MOTO_PORT.
        MOTO_PORT=moto_port,
        MOTO_ACCOUNT_ID=account,
        # No job needs EC2 images; loading moto's catalogue costs start-up time.
        MOTO_EC2_LOAD_DEFAULT_AMIS="false",
    )
    no_proxy = [p for p in os.environ.get("NO_PROXY", "").split(",") if p]
    os.environ["NO_PROXY"] = ",".join([*no_proxy, "127.0.0.1", "localhost"])


def _console(target: Target, table: str, who: str, host: str) -> ConsoleApp:
    """The operator console on the local deployment, acting as the local API's caller."""
    from chalicelib.ops.service import OpsService
    from jobctl.console.app import ConsoleApp
    from jobctl.console.security import Guard

    ops = OpsService.create(ClientFactory(region=target.region), table)
    title = f"{target.project}" + (f" / {target.env}" if target.env else "") + " (local)"
    return ConsoleApp(ops, guard=Guard(host=host), who=lambda: who, title=title)


def _enable_execution(endpoint: str) -> None:
    request = urllib.request.Request(
        f"{endpoint}/moto-api/config",
        data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    direct.open(request, timeout=10).read()


def _quietly(step: Callable[[], Any], say: Say) -> None:
    try:
        step()
    except Exception as exc:  # shutdown goes on: every later step still runs
        say(f"shutdown: {type(exc).__name__}: {exc}")


def _bounded(what: str, step: Callable[[], Any], seconds: float, say: Say) -> None:
    """Run `step` on a daemon thread; give up waiting for it after `seconds`."""
    worker = threading.Thread(target=_quietly, args=(step, say), name="jobctl-stop", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        say(f"shutdown: {what} did not finish within {seconds:g}s; going on")
