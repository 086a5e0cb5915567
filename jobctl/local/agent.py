"""The local ECS agent: each task the state machine starts runs as a local process.

For every task RunTask starts in moto (`EcsDouble.on_start`), the agent:
1. reads the task's definition and picks the container the job overrides (sidecars are not
   run locally);
2. builds its argv, exec form only (never a shell string): the container's `entryPoint`,
   then the job's command override, else the definition's `command`;
3. builds its environment as ECS does: the definition's `environment`, then the
   overrides' (job environment and run parameters), then `secrets` resolved from the local
   Secrets Manager (`arn[:json-key[:stage[:id]]]`) or SSM Parameter Store. On top of a
   small base (PATH with this Python first, HOME, locale, `PYTHONUNBUFFERED=1` so output
   streams) it gets what a task role gives a real task: region, credentials and
   `AWS_ENDPOINT_URL` pointing at the local account;
4. runs it in its own process group, in the registry's directory, streams stdout and stderr
   lines (merged, like awslogs) to CloudWatch Logs (`<awslogs-stream-prefix>/<container>/
   <task id>` in the definition's `awslogs-group`) and to the console;
5. when the process exits, kills what is left of its group (a container's processes end with
   it), ships the remaining log lines, and only then stops the task with the real exit code
   (128 + signal number when killed by a signal, as Docker reports it). A task that cannot
   start (no command, executable not found, secret missing) stops with no exit code and an
   ECS-style reason, which the state machine treats as a failure.
A task stopped from outside (timeout, abort, `replace`) gets SIGTERM, then SIGKILL after
`grace` seconds, like ECS's stopTimeout. Invariant: after `stop()` no process the agent
started is alive and every thread it started has ended.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.aws.clients import ClientFactory, describe_error, error_code
from chalicelib.history.links import log_stream
from jobctl.local.moto import StartedTask

Say = Callable[[str], None]
MAX_LINE = 64 * 1024  # CloudWatch allows 256 KB per event; long lines are cut, not dropped
BASE_VARIABLES = (
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TMPDIR",
    "TZ",
    "SYSTEMROOT",
)


class CannotStart(Exception):
    """The task cannot start: the message is the ECS-style stopped reason."""


@dataclass(frozen=True)
class Launch:
    """Everything needed to run one task's container locally."""

    container: str
    argv: list[str]
    environment: dict[str, str]
    log_group: str | None
    log_stream: str | None
    secret_values: tuple[str, ...] = ()  # resolved `secrets`: never echoed on the console


def echoed(line: str, secret_values: tuple[str, ...]) -> str:
    """A task's output line as the console shows it: its resolved secrets' values and
    anything shaped like a credential redacted (CloudWatch Logs keep the line as printed,
    as on AWS). Values under 4 characters are not looked for: they would hide too much."""
    from chalicelib.alerts.redact import REDACTED, redact

    for value in sorted(secret_values, key=len, reverse=True):
        if len(value) >= 4:
            line = line.replace(value, REDACTED)
    return redact(line)


def base_environment(aws: dict[str, str]) -> dict[str, str]:
    """What every local task starts from: a usable shell environment plus its AWS access."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", os.defpath)])
    env = {name: os.environ[name] for name in BASE_VARIABLES if name in os.environ}
    env.update(PATH=path, PYTHONUNBUFFERED="1")
    env.update(aws)
    return env


def exit_code(returncode: int) -> int:
    """Popen's returncode -> what ECS reports (Docker: 128 + N when killed by signal N)."""
    return 128 - returncode if returncode < 0 else returncode


class LocalAgent:
    def __init__(
        self,
        factory: ClientFactory,
        *,
        workdir: Path,
        base_env: dict[str, str],
        say: Say,
        finish: Callable[[str, int | None, str], None],
        is_running: Callable[[str], bool],
        grace: float = 3.0,
        echo: bool = True,
    ) -> None:
        self.factory = factory
        self.workdir = workdir
        self.base_env = base_env
        self.say = say
        self.finish = finish
        self.is_running = is_running
        self.grace = grace
        self.echo = echo
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._stopping = threading.Event()
        self._definitions: dict[str, dict[str, Any]] = {}

    # --- lifecycle --------------------------------------------------------------------

    def on_start(self, task: StartedTask) -> None:
        """EcsDouble listener: called on the interpreter's thread, so it must not block."""
        # Daemon threads, joined in stop(): one stuck in a call to a dying endpoint can
        # delay shutdown by its join timeout, never keep the process alive.
        thread = threading.Thread(
            target=self._run,
            args=(task,),
            name=f"jobctl-task-{_task_id(task.task_arn)}",
            daemon=True,
        )
        with self._lock:
            if self._stopping.is_set():
                return  # shutting down: the execution is being stopped anyway
            self._threads.append(thread)
        thread.start()

    def stop(self) -> None:
        """Terminate every task process (SIGTERM, then SIGKILL) and join every thread."""
        self._stopping.set()
        with self._lock:
            processes = list(self._processes.values())
            threads = list(self._threads)
        for process in processes:
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            _signal_group(process, signal.SIGKILL)
        for thread in threads:
            thread.join(timeout=self.grace + 2)

    def running(self) -> int:
        with self._lock:
            return sum(1 for process in self._processes.values() if process.poll() is None)

    # --- one task ---------------------------------------------------------------------

    def _run(self, task: StartedTask) -> None:
        label = f"{task.job or '?'}/{_task_id(task.task_arn)[:8]}"
        try:
            launch = self.launch(task)
        except CannotStart as exc:
            self.say(f"agent: {label}: {exc}")
            self.finish(task.task_arn, None, str(exc))
            return
        except Exception as exc:  # the local endpoint failing: report it like ECS would
            reason = f"ResourceInitializationError: {describe_error(exc)}"
            self.say(f"agent: {label}: {reason}")
            self.finish(task.task_arn, None, reason)
            return
        logs = _LogShipper(
            self.factory.client("logs"), launch.log_group, launch.log_stream, self.say, label
        )
        try:
            process = subprocess.Popen(
                launch.argv,
                cwd=self.workdir,
                env=launch.environment,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped as a whole
            )
        except OSError as exc:
            reason = f"CannotStartContainerError: {launch.argv[0]}: {exc.strerror or exc}"
            self.say(f"agent: {label}: {reason}")
            self.finish(task.task_arn, None, reason)
            return
        with self._lock:
            self._processes[task.task_arn] = process
        self.say(f"agent: {label}: started {_shell_words(launch.argv)} (pid {process.pid})")
        reader = threading.Thread(
            target=self._read,
            args=(process, logs, label, launch.secret_values),
            name=f"jobctl-logs-{label}",
            daemon=True,
        )
        reader.start()
        stopped_outside = False
        try:
            while True:
                try:
                    process.wait(timeout=0.1)
                    break
                except subprocess.TimeoutExpired:
                    pass
                logs.flush()
                if self._stopping.is_set() or not self.is_running(task.task_arn):
                    stopped_outside = True
                    self._terminate(process)
                    break
        finally:
            _signal_group(process, signal.SIGKILL)  # the container's other processes end too
            reader.join(timeout=self.grace + 2)
            logs.flush(final=True)
            with self._lock:
                self._processes.pop(task.task_arn, None)
        code = exit_code(process.returncode if process.returncode is not None else -9)
        # Shutdown or an abort may have ended the process before this loop noticed: either
        # way the task was stopped from outside, and its fate is already decided.
        if stopped_outside or self._stopping.is_set() or not self.is_running(task.task_arn):
            self.say(f"agent: {label}: stopped from outside (exit {code})")
            return
        self.say(f"agent: {label}: exited {code}")
        self.finish(task.task_arn, code, "Essential container in task exited")

    def _terminate(self, process: subprocess.Popen[bytes]) -> None:
        _signal_group(process, signal.SIGTERM)
        try:
            process.wait(timeout=self.grace)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait(timeout=5)

    def _read(
        self,
        process: subprocess.Popen[bytes],
        logs: _LogShipper,
        label: str,
        secret_values: tuple[str, ...] = (),
    ) -> None:
        assert process.stdout is not None
        for raw in iter(process.stdout.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")[:MAX_LINE]
            logs.add(line)
            if self.echo:
                self.say(f"  {label} | {echoed(line, secret_values)}")
        process.stdout.close()

    # --- what to run ------------------------------------------------------------------

    def launch(self, task: StartedTask) -> Launch:
        definition = self._definition(task)
        containers = definition.get("containerDefinitions", [])
        overridden = {o.get("Name") for o in task.overrides.get("ContainerOverrides", [])}
        container = next((c for c in containers if c["name"] in overridden), None)
        if container is None:
            container = next((c for c in containers if c.get("essential", True)), None)
        if container is None:
            raise CannotStart("CannotStartContainerError: the task definition has no container")
        name = container["name"]
        command = task.command(name) or container.get("command") or []
        argv = list(container.get("entryPoint") or []) + list(command)
        if not argv:
            raise CannotStart(
                f"CannotStartContainerError: container '{name}' has no command: locally there is "
                "no image to supply one; set the job's `command` or the definition's command"
            )
        environment = dict(self.base_env)
        environment.update({e["name"]: e["value"] for e in container.get("environment", [])})
        environment.update(task.environment(name))
        secrets = self._secrets(container.get("secrets", []))
        environment.update(secrets)
        group, stream = _log_target(container, task.task_arn)
        return Launch(name, argv, environment, group, stream, tuple(secrets.values()))

    def _definition(self, task: StartedTask) -> dict[str, Any]:
        ecs = self.factory.client("ecs")
        described = ecs.describe_tasks(cluster=task.cluster_arn, tasks=[task.task_arn])
        arn = described["tasks"][0]["taskDefinitionArn"]
        with self._lock:
            cached = self._definitions.get(arn)
        if cached is None:
            cached = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
            with self._lock:
                self._definitions[arn] = cached
        return cached

    def _secrets(self, secrets: list[dict[str, str]]) -> dict[str, str]:
        values: dict[str, str] = {}
        for secret in secrets:
            source = secret["valueFrom"]
            try:
                values[secret["name"]] = self._secret(source)
            except CannotStart:
                raise
            except Exception as exc:
                raise CannotStart(
                    "ResourceInitializationError: unable to pull secrets: "
                    f"{secret['name']} from {source}: {describe_error(exc)}"
                ) from None
        return values

    def _secret(self, source: str) -> str:
        if ":secretsmanager:" in source:
            # arn:aws:secretsmanager:region:account:secret:name[:json-key[:stage[:id]]]
            parts = source.split(":")
            secret_id = ":".join(parts[:7])
            key, stage, version = [*parts[7:], "", "", ""][:3]
            request: dict[str, str] = {"SecretId": secret_id}
            if stage:
                request["VersionStage"] = stage
            if version:
                request["VersionId"] = version
            text = self.factory.client("secretsmanager").get_secret_value(**request)["SecretString"]
            if not key:
                return str(text)
            document = json.loads(text)
            if key not in document:
                raise CannotStart(
                    f"ResourceInitializationError: secret {secret_id} has no JSON key '{key}'"
                )
            return str(document[key])
        # SSM: a parameter ARN or name.
        name = source.split(":parameter", 1)[1] if ":parameter" in source else source
        parameter = self.factory.client("ssm").get_parameter(Name=name, WithDecryption=True)
        return str(parameter["Parameter"]["Value"])


def _log_target(container: dict[str, Any], task_arn: str) -> tuple[str | None, str | None]:
    config = container.get("logConfiguration") or {}
    options = config.get("options") or {}
    if config.get("logDriver") != "awslogs" or "awslogs-group" not in options:
        return None, None
    stream = log_stream(options.get("awslogs-stream-prefix"), container["name"], task_arn)
    return str(options["awslogs-group"]), stream


class _LogShipper:
    """Batches a task's output lines into one CloudWatch Logs stream (thread-safe)."""

    def __init__(
        self, logs: Any, group: str | None, stream: str | None, say: Say, label: str
    ) -> None:
        self.logs = logs
        self.group = group
        self.stream = stream
        self.say = say
        self.label = label
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._ship = threading.Lock()  # one put at a time keeps the stream ordered
        self._created = False

    def add(self, line: str) -> None:
        if self.group is None:
            return
        with self._lock:
            self._pending.append({"timestamp": int(time.time() * 1000), "message": line})

    def flush(self, final: bool = False) -> None:
        """Ship what is pending. A failed put keeps its lines for the next flush; the final
        flush gives up on them, reporting it: the task's fate never depends on its logs."""
        with self._ship:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch or self.group is None or self.stream is None:
                return
            try:
                self._put(batch)
                return
            except Exception as exc:
                problem = describe_error(exc)
            if final:
                self.say(
                    f"agent: {self.label}: CloudWatch Logs lost {len(batch)} line(s): {problem}"
                )
                return
            with self._lock:
                self._pending[:0] = batch

    def _put(self, batch: list[dict[str, Any]]) -> None:
        assert self.group is not None and self.stream is not None
        if not self._created:
            for call, names in (
                (self.logs.create_log_group, {"logGroupName": self.group}),
                (
                    self.logs.create_log_stream,
                    {"logGroupName": self.group, "logStreamName": self.stream},
                ),
            ):
                try:
                    call(**names)
                except Exception as exc:
                    if error_code(exc) != "ResourceAlreadyExistsException":
                        raise
            self._created = True
        for start in range(0, len(batch), 1000):  # PutLogEvents takes 10,000; stay well under
            self.logs.put_log_events(
                logGroupName=self.group,
                logStreamName=self.stream,
                logEvents=batch[start : start + 1000],
            )


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # already gone
        os.killpg(process.pid, signum)


def _task_id(task_arn: str) -> str:
    return task_arn.rsplit("/", 1)[-1]


def _shell_words(argv: list[str], word: int = 40, limit: int = 120) -> str:
    """argv for one console line: long words (inline scripts) cut, newlines folded."""
    import shlex

    words = [" ".join(w.split()) if "\n" in w else w for w in argv]
    words = [w if len(w) <= word else w[: word - 3] + "..." for w in words]
    text = shlex.join(words)
    return text if len(text) <= limit else text[: limit - 3] + "..."
